import {
  codexItemSchema,
  codexNotificationParams,
  StepTitle,
  type CodexItem,
  type CodexNotificationMethod,
  type CodexNotificationParams,
  type NewTaskEvent,
  type TokenUsage,
  type TokenUsageBreakdown,
} from '@wegent-codex/contracts';

/**
 * The pure mapping from `codex app-server` notifications of one run (one thread, one turn) to the
 * events of the subtask's log: thinking steps shaped like ClaudeCode's (docs/protocol/wegent-protocol.md §6),
 * streamed answer chunks, and the terminal `done` / `error` (§5.2, §5.3). No I/O, no clock.
 */

export interface NotificationMapperOptions {
  taskId: number;
  subtaskId: number;
  /** BullMQ attempt stamped on every event. */
  attempt: number;
  /** The run's thread (started or resumed); notifications of other threads are sub-agents. */
  threadId: string;
  model: string;
  cwd: string;
  /** The sandbox mode, shown as `permissionMode` (e.g. "danger-full-access"). */
  permissionMode: string;
  /** Tool names as Wegent knows them: Bash, Edit, Write, TodoWrite, WebSearch, mcp__<server>__<tool>. */
  tools: string[];
  /** Names of the MCP servers written to Codex's configuration. */
  mcpServers: string[];
  /** Servers of the payload the service could not configure (e.g. SSE); listed as failed. */
  unsupportedMcpServers?: { name: string; reason: string }[];
  /** The task's previous thread could not be resumed, so this run started a new one. */
  resumedFresh?: boolean;
  /**
   * Masks secrets; applied to every `details` object and reasoning text. Optional: the worker masks
   * every event once, where it is appended, and passes none.
   */
  mask?: (value: unknown) => unknown;
  /** Cap for tool output and file contents in steps, in UTF-8 bytes. Default 64 KiB. */
  maxToolOutputBytes?: number;
}

export type TurnOutcome = 'completed' | 'failed' | 'interrupted';

export const DEFAULT_MAX_TOOL_OUTPUT_BYTES = 64 * 1024;

export const RESUME_NOTE = 'The previous Codex conversation of this task could not be resumed; this subtask started a new conversation.';

type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: string; is_error: boolean }
  | { type: 'unknown'; block_type: string; block_data: Record<string, unknown> };

/** Streaming state of one agentMessage or reasoning item. */
interface MessageStream {
  /** Text already sent as chunks. */
  sent: string;
  /** Text of the current stream attempt (a retried request may restream the item from the start). */
  attempt: string;
  /**
   * Item id the chunks carry: the item's own, or — after a retry — that of the abandoned partial
   * message this item regenerates, so the answer goes on where it stopped.
   */
  chunkId: string;
  /** Reasoning only: the summary part being streamed (a new part starts a new paragraph). */
  part?: number;
}

const SETTLED_MCP_STATES = new Set(['ready', 'failed', 'cancelled']);
const MCP_STATUS: Record<string, string> = { ready: 'connected', failed: 'failed', cancelled: 'failed', starting: 'pending' };
const PLAN_STATUS: Record<string, string> = {
  pending: 'pending',
  inProgress: 'in_progress',
  in_progress: 'in_progress',
  completed: 'completed',
};
const CHANGE_LETTER: Record<string, string> = { add: 'A', delete: 'D', update: 'M' };
const EMPTY_USAGE: TokenUsageBreakdown = {
  totalTokens: 0,
  inputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteInputTokens: 0,
  outputTokens: 0,
  reasoningOutputTokens: 0,
};

export class NotificationMapper {
  private readonly maxOutputBytes: number;
  private currentTurnId: string | undefined;
  private turnStarted = false;
  private systemSent = false;
  private ended: TurnOutcome | undefined;
  private terminalSent = false;

  private readonly mcpStates = new Map<string, string>();
  private readonly startedItems = new Set<string>();
  private readonly completedItems = new Set<string>();
  private readonly streams = new Map<string, MessageStream>();
  private readonly reasoning = new Map<string, MessageStream>();
  /**
   * Chunk ids of the agent messages a failed model request streamed (completed or not — Codex
   * completes a message cut off by a dropped stream): its retry regenerates them under new ids.
   * The retry's n-th new message adopts the n-th of them; whatever the retry has not regenerated
   * when it succeeds (or when the turn ends) is retracted.
   */
  private abandoned: string[] = [];
  /** The same for reasoning summaries (never retracted: not part of the answer). */
  private abandonedReasoning: string[] = [];
  /** Agent-message and reasoning items streamed during the current model request (up to its token usage). */
  private readonly requestItems = new Set<string>();
  private readonly requestReasoning = new Set<string>();
  /** Chunk ids whose text the folds dropped (`retract`). */
  private readonly retracted = new Set<string>();
  private readonly answers: { text: string; phase: string | null | undefined }[] = [];

  private planCount = 0;
  private lastPlanKey: string | undefined;
  private retryCount = 0;
  private lastFatalError: string | undefined;

  private usageBaseline: TokenUsageBreakdown = EMPTY_USAGE;
  private usageLatest: TokenUsageBreakdown | undefined;
  private modelRequests = 0;

  constructor(private readonly options: NotificationMapperOptions) {
    this.maxOutputBytes = options.maxToolOutputBytes ?? DEFAULT_MAX_TOOL_OUTPUT_BYTES;
  }

  /** True once `done` or `error` was returned. */
  get finished(): boolean {
    return this.terminalSent;
  }

  /** How the turn ended, once `turn/completed` arrived. After that the mapper returns nothing. */
  get outcome(): TurnOutcome | undefined {
    return this.ended;
  }

  /** The turn id announced by `turn/started` (authoritative over the `turn/start` answer). */
  get turnId(): string | undefined {
    return this.currentTurnId;
  }

  /** All answer text streamed so far, one paragraph per agent message (what the chunks add up to). */
  streamedText(): string {
    // An adopting stream continues its abandoned partial under the same chunk id: the later one counts.
    const byChunk = new Map<string, string>();
    for (const stream of this.streams.values()) if (!this.retracted.has(stream.chunkId)) byChunk.set(stream.chunkId, stream.sent);
    return [...byChunk.values()].filter((text) => text !== '').join('\n\n');
  }

  /** The final answer so far: the last final_answer message, else the last completed message. */
  finalAnswer(): string | undefined {
    const final = this.answers.filter((a) => a.phase === 'final_answer').at(-1) ?? this.answers.at(-1);
    return final?.text;
  }

  /** Events to append, in order, for one notification. Never throws on unknown or malformed input. */
  handle(method: string, params: unknown): NewTaskEvent[] {
    if (this.ended) return [];
    switch (method) {
      case 'turn/started':
        return this.onTurnStarted(params);
      case 'mcpServer/startupStatus/updated':
        return this.onMcpStatus(params);
      case 'thread/tokenUsage/updated':
        return this.onTokenUsage(params);
      case 'item/reasoning/summaryTextDelta':
        return this.onReasoningDelta(params);
      case 'item/started':
        return this.onItemStarted(params);
      case 'item/completed':
        return this.onItemCompleted(params);
      case 'item/agentMessage/delta':
        return this.onAgentMessageDelta(params);
      case 'turn/plan/updated':
        return this.onPlanUpdated(params);
      case 'error':
        return this.onError(params);
      case 'turn/completed':
        return this.onTurnCompleted(params);
      default:
        return [];
    }
  }

  // ---- notifications ----

  private onTurnStarted(params: unknown): NewTaskEvent[] {
    const p = parse('turn/started', params);
    if (!p || p.threadId !== this.options.threadId) return [];
    this.currentTurnId = p.turn.id;
    this.turnStarted = true;
    return this.systemStep(false);
  }

  private onMcpStatus(params: unknown): NewTaskEvent[] {
    const p = parse('mcpServer/startupStatus/updated', params);
    if (!p || !this.isOwnThread(p.threadId) || this.systemSent) return [];
    this.mcpStates.set(p.name, p.status);
    return this.systemStep(false);
  }

  private onTokenUsage(params: unknown): NewTaskEvent[] {
    const p = parse('thread/tokenUsage/updated', params);
    if (!p || !this.isOwnThread(p.threadId)) return [];
    // A total announced before the turn, or for an earlier turn before this one used the model, is
    // the baseline: a resumed thread re-announces its old total.
    const earlier = !this.turnStarted || (!this.isCurrentTurn(p.turnId) && this.modelRequests === 0);
    if (earlier) {
      this.usageBaseline = p.tokenUsage.total;
      return [];
    }
    if (!this.isCurrentTurn(p.turnId)) return [];
    this.usageLatest = p.tokenUsage.total;
    this.modelRequests += 1;
    // A model request succeeded: what its retry did not regenerate stays dropped.
    const retracted = this.retractAbandoned();
    this.abandonedReasoning = [];
    this.requestItems.clear();
    this.requestReasoning.clear();
    const window = p.tokenUsage.modelContextWindow;
    const usage: TokenUsage = {
      ...this.usage(),
      ...(typeof window === 'number' && window > 0 ? { context_window: Math.round(window) } : {}),
      ...(p.tokenUsage.last ? { context_tokens: Math.max(0, Math.round(p.tokenUsage.last.totalTokens)) } : {}),
    };
    return [...retracted, this.event({ type: 'usage', usage })];
  }

  private onItemStarted(params: unknown): NewTaskEvent[] {
    const p = parse('item/started', params);
    if (!p || !this.isOwnTurn(p.threadId, p.turnId)) return [];
    const { item } = p;
    // The retry re-emits an item under its old id: it regenerates itself, nothing to adopt or drop.
    this.abandoned = this.abandoned.filter((id) => id !== item.id);
    this.abandonedReasoning = this.abandonedReasoning.filter((id) => id !== item.id);
    if (item.type === 'userMessage' || this.completedItems.has(item.id)) return [];
    const events = this.systemStep(true);
    // A message (re)starts from its first character; a retried request may restream one already begun.
    if (item.type === 'agentMessage') {
      this.adoptAbandoned(item.id);
      this.stream(item.id).attempt = '';
      this.requestItems.add(item.id);
    } else if (item.type === 'reasoning') {
      this.adoptAbandonedReasoning(item.id);
      const stream = this.reasoningStream(item.id);
      stream.attempt = '';
      stream.part = undefined;
      this.requestReasoning.add(item.id);
    }
    if (this.startedItems.has(item.id)) return events;
    this.startedItems.add(item.id);
    switch (item.type) {
      case 'commandExecution':
      case 'fileChange':
      case 'mcpToolCall':
        return [...events, this.assistantStep(this.toolUseBlocks(item))];
      default:
        return events;
    }
  }

  private onItemCompleted(params: unknown): NewTaskEvent[] {
    const p = parse('item/completed', params);
    if (!p || !this.isOwnTurn(p.threadId, p.turnId)) return [];
    const { item } = p;
    if (item.type === 'userMessage' || this.completedItems.has(item.id)) return [];
    this.completedItems.add(item.id);
    const events = this.systemStep(true);
    switch (item.type) {
      case 'agentMessage':
        return [...events, ...this.completeMessage(item)];
      case 'reasoning': {
        const thinking = reasoningText(item);
        events.push(...this.completeReasoning(item));
        if (!thinking) return events;
        return [...events, this.assistantStep([{ type: 'unknown', block_type: 'ThinkingBlock', block_data: { thinking, signature: '' } }])];
      }
      case 'commandExecution':
      case 'fileChange':
      case 'mcpToolCall':
        // A completed item whose start we never saw still gets its tool_use first, so results pair up.
        if (!this.startedItems.has(item.id)) {
          this.startedItems.add(item.id);
          events.push(this.assistantStep(this.toolUseBlocks(item)));
        }
        return [...events, this.userStep(this.toolResultBlocks(item))];
      case 'webSearch': {
        const action = isRecord(item.action) ? item.action : {};
        const query =
          item.query || str(action.query) || (Array.isArray(action.queries) ? action.queries.join(', ') : '') || str(action.url);
        return [
          ...events,
          this.assistantStep([{ type: 'tool_use', id: item.id, name: 'WebSearch', input: { query } }]),
          this.userStep([{ type: 'tool_result', tool_use_id: item.id, content: this.cap(webSearchResult(item)), is_error: false }]),
        ];
      }
      case 'collabAgentToolCall':
        return [
          ...events,
          this.assistantStep([{ type: 'tool_use', id: item.id, name: 'Task', input: { tool: item.tool ?? '', prompt: str(item.prompt) } }]),
          this.userStep([
            { type: 'tool_result', tool_use_id: item.id, content: this.cap(agentStates(item)), is_error: item.status === 'failed' },
          ]),
        ];
      case 'imageView':
        return [...events, this.assistantStep([{ type: 'tool_use', id: item.id, name: 'Read', input: { file_path: item.path ?? '' } }])];
      case 'contextCompaction':
        return [...events, this.step(StepTitle.system, { type: 'system', subtype: 'compact_boundary' }, true)];
      default:
        return events;
    }
  }

  private onAgentMessageDelta(params: unknown): NewTaskEvent[] {
    const p = parse('item/agentMessage/delta', params);
    if (!p || !this.isOwnTurn(p.threadId, p.turnId) || p.delta === '' || this.completedItems.has(p.itemId)) return [];
    const events = this.systemStep(true);
    this.adoptAbandoned(p.itemId);
    const stream = this.stream(p.itemId);
    this.requestItems.add(p.itemId);
    stream.attempt += p.delta;
    return [...events, ...this.advance(stream, p.itemId, 'message')];
  }

  private onReasoningDelta(params: unknown): NewTaskEvent[] {
    const p = parse('item/reasoning/summaryTextDelta', params);
    if (!p || !this.isOwnTurn(p.threadId, p.turnId) || p.delta === '' || this.completedItems.has(p.itemId)) return [];
    this.adoptAbandonedReasoning(p.itemId);
    const stream = this.reasoningStream(p.itemId);
    this.requestReasoning.add(p.itemId);
    const part = p.summaryIndex ?? 0;
    // A new summary part is a new paragraph.
    if (stream.part !== undefined && part !== stream.part && stream.attempt !== '') stream.attempt += '\n\n';
    stream.part = part;
    stream.attempt += p.delta;
    return [...this.systemStep(true), ...this.advance(stream, p.itemId, 'reasoning')];
  }

  /**
   * Sends what the current attempt of a stream adds beyond what was already sent. While a retried
   * request regenerates text that was sent, nothing goes out (no duplicate). When it disagrees,
   * agent-message text already sent is retracted and the attempt streams anew under the item's
   * own id; a reasoning summary that continued an abandoned one streams anew (it cannot be taken
   * back, and is not part of the answer), and one restreamed under its own id stays quiet.
   */
  private advance(stream: MessageStream, itemId: string, kind: 'message' | 'reasoning'): NewTaskEvent[] {
    const send = (text: string): NewTaskEvent =>
      kind === 'message' ? this.chunk(stream.chunkId, text) : this.reasoningChunk(stream.chunkId, text);
    if (stream.attempt.startsWith(stream.sent)) {
      if (stream.attempt.length === stream.sent.length) return [];
      const text = stream.attempt.slice(stream.sent.length);
      stream.sent = stream.attempt;
      return [send(text)];
    }
    if (stream.sent.startsWith(stream.attempt)) return [];
    if (kind === 'reasoning' && stream.chunkId === itemId) return [];
    const retract = kind === 'message' ? [this.retract(stream.chunkId)] : [];
    stream.chunkId = itemId;
    this.retracted.delete(itemId);
    stream.sent = stream.attempt;
    return [...retract, send(stream.attempt)];
  }

  /** A new agent message after a retry continues the next abandoned one (the retry regenerates them in order). */
  private adoptAbandoned(itemId: string): void {
    adopt(this.streams, this.abandoned, itemId);
  }

  private adoptAbandonedReasoning(itemId: string): void {
    adopt(this.reasoning, this.abandonedReasoning, itemId);
  }

  private retractAbandoned(): NewTaskEvent[] {
    const ids = this.abandoned;
    this.abandoned = [];
    return ids.map((id) => this.retract(id));
  }

  private retract(chunkId: string): NewTaskEvent {
    this.retracted.add(chunkId);
    return this.event({ type: 'retract', item_id: chunkId });
  }

  private onPlanUpdated(params: unknown): NewTaskEvent[] {
    const p = parse('turn/plan/updated', params);
    if (!p || !this.isOwnTurn(p.threadId, p.turnId)) return [];
    const key = JSON.stringify([p.explanation ?? null, p.plan]);
    if (key === this.lastPlanKey) return [];
    this.lastPlanKey = key;
    this.planCount += 1;
    const todos = p.plan.map((entry) => ({ content: entry.step, status: PLAN_STATUS[entry.status] ?? 'pending', activeForm: entry.step }));
    const blocks: ContentBlock[] = p.explanation ? [{ type: 'text', text: p.explanation }] : [];
    blocks.push({ type: 'tool_use', id: `plan-${this.planCount}`, name: 'TodoWrite', input: { todos } });
    return [...this.systemStep(true), this.assistantStep(blocks)];
  }

  private onError(params: unknown): NewTaskEvent[] {
    const p = parse('error', params);
    if (!p || !this.isOwnTurn(p.threadId, p.turnId)) return [];
    if (!p.willRetry) {
      this.lastFatalError = describeError(p.error.message, p.error.additionalDetails);
      return [];
    }
    this.retryCount += 1;
    // The dropped request's messages and summaries: the retry regenerates them, in order, under new ids.
    this.abandoned = abandon(this.requestItems, this.streams, this.abandoned);
    this.abandonedReasoning = abandon(this.requestReasoning, this.reasoning, this.abandonedReasoning);
    this.requestItems.clear();
    this.requestReasoning.clear();
    // Codex says "Reconnecting... 2/5" and puts the cause in additionalDetails.
    const progress = /^Reconnecting\.*\s*(\d+)\s*\/\s*(\d+)/i.exec(p.error.message);
    const details = {
      retry_count: progress ? Number(progress[1]) : this.retryCount,
      max_retries: progress ? Number(progress[2]) : null,
      session_id: this.options.threadId,
      error: detailsText(p.error.additionalDetails) ?? friendlyMessage(p.error.message),
    };
    return [...this.systemStep(true), this.step(StepTitle.apiErrorRetry, details, true)];
  }

  private onTurnCompleted(params: unknown): NewTaskEvent[] {
    const turn = parseCompletedTurn(params, this.options.threadId);
    if (!turn || !this.isCurrentTurn(turn.id)) return [];
    this.currentTurnId = turn.id;
    if (turn.status === 'interrupted') {
      // The cancel flow reports CANCELLED; nothing may follow from here.
      this.ended = 'interrupted';
      return [];
    }
    if (turn.status !== 'completed' && turn.status !== 'failed') return [];
    this.ended = turn.status;
    const events = [...this.systemStep(true), ...this.retractAbandoned()];
    const summary = {
      session_id: this.options.threadId,
      num_turns: this.modelRequests,
      duration_ms: turn.durationMs,
      duration_api_ms: turn.durationMs,
      total_cost_usd: null,
      usage: usageDelta(this.usageBaseline, this.usageLatest ?? this.usageBaseline),
    };
    this.terminalSent = true;
    if (turn.status === 'completed') {
      const answer = this.finalAnswer() ?? summaryAnswer(turn.items);
      const result = { type: 'result', subtype: 'success', is_error: false, ...summary, result: answer ?? null };
      const usage = this.usageLatest ? { usage: this.usage() } : {};
      const done: NewTaskEvent = this.event({ type: 'done' as const, ...(answer !== undefined ? { value: answer } : {}), ...usage });
      return [...events, this.step(StepTitle.success, result, false), done];
    }
    const message = turn.error ?? this.lastFatalError ?? 'The Codex turn failed without an error message.';
    const result = { type: 'result', subtype: 'error_during_execution', is_error: true, ...summary, result: message };
    return [
      ...events,
      this.step(StepTitle.failed, result, false),
      this.event({ type: 'error' as const, kind: 'agent' as const, message, error: message }),
    ];
  }

  // ---- items ----

  private completeMessage(item: CodexItem): NewTaskEvent[] {
    const text = item.text ?? '';
    if (text === '') return [];
    this.answers.push({ text, phase: item.phase });
    const events: NewTaskEvent[] = [];
    // Deltas can be missing (an item announced only when done); send what the chunks lack, once.
    this.adoptAbandoned(item.id);
    const stream = this.stream(item.id);
    this.requestItems.add(item.id);
    stream.attempt = text;
    events.push(...this.advance(stream, item.id, 'message'));
    events.push(this.assistantStep([{ type: 'text', text }]));
    return events;
  }

  /** The summary text a completed reasoning item adds beyond its streamed deltas. */
  private completeReasoning(item: CodexItem): NewTaskEvent[] {
    const full = (item.summary ?? []).join('\n\n');
    if (full === '') return [];
    this.adoptAbandonedReasoning(item.id);
    const stream = this.reasoningStream(item.id);
    stream.attempt = full;
    return this.advance(stream, item.id, 'reasoning');
  }

  private toolUseBlocks(item: CodexItem): ContentBlock[] {
    switch (item.type) {
      case 'commandExecution':
        return [{ type: 'tool_use', id: item.id, name: 'Bash', input: { command: unwrapShellCommand(item.command ?? '') } }];
      case 'fileChange':
        return (item.changes ?? []).map((change, index): ContentBlock => {
          const id = `${item.id}:${index}`;
          const diff = this.cap(change.diff ?? '');
          if (change.kind.type === 'add') return { type: 'tool_use', id, name: 'Write', input: { file_path: change.path, content: diff } };
          if (change.kind.type === 'delete')
            return { type: 'tool_use', id, name: 'Edit', input: { file_path: change.path, deleted: true } };
          const movePath = change.kind.move_path;
          return {
            type: 'tool_use',
            id,
            name: 'Edit',
            input: { file_path: change.path, diff, ...(movePath ? { move_path: movePath } : {}) },
          };
        });
      default:
        return [{ type: 'tool_use', id: item.id, name: `mcp__${item.server ?? ''}__${item.tool ?? ''}`, input: toolInput(item.arguments) }];
    }
  }

  private toolResultBlocks(item: CodexItem): ContentBlock[] {
    switch (item.type) {
      case 'commandExecution': {
        const failed = item.status !== 'completed' || (item.exitCode != null && item.exitCode !== 0);
        return [{ type: 'tool_result', tool_use_id: item.id, content: this.cap(item.aggregatedOutput ?? ''), is_error: failed }];
      }
      case 'fileChange': {
        const applied = item.status === 'completed';
        return (item.changes ?? []).map((change, index): ContentBlock => {
          const movePath = change.kind.type === 'update' ? change.kind.move_path : undefined;
          const line = `${CHANGE_LETTER[change.kind.type] ?? 'M'} ${relativeTo(this.options.cwd, movePath || change.path)}`;
          const content = applied
            ? `Success. Updated the following files:\n${line}`
            : `The patch was not applied (${item.status ?? 'unknown'}):\n${line}`;
          return { type: 'tool_result', tool_use_id: `${item.id}:${index}`, content, is_error: !applied };
        });
      }
      default:
        return [{ type: 'tool_result', tool_use_id: item.id, content: this.cap(mcpResultText(item)), is_error: item.status === 'failed' }];
    }
  }

  // ---- steps and events ----

  /**
   * The init step, once: when the turn has started and every configured MCP server has settled, or
   * (`force`) as soon as the model produces anything.
   */
  private systemStep(force: boolean): NewTaskEvent[] {
    if (this.systemSent) return [];
    const settled = this.options.mcpServers.every((name) => SETTLED_MCP_STATES.has(this.mcpStates.get(name) ?? ''));
    if (!force && !(this.turnStarted && settled)) return [];
    this.systemSent = true;
    const names = [...new Set([...this.options.mcpServers, ...this.mcpStates.keys()])];
    const unsupported = (this.options.unsupportedMcpServers ?? []).filter((server) => !names.includes(server.name));
    const details = {
      type: 'system',
      subtype: 'init',
      session_id: this.options.threadId,
      cwd: this.options.cwd,
      model: this.options.model,
      tools: [...this.options.tools],
      mcp_servers: [
        ...names.map((name) => ({ name, status: MCP_STATUS[this.mcpStates.get(name) ?? 'starting'] ?? 'pending' })),
        ...unsupported.map((server) => ({ name: server.name, status: 'failed' })),
      ],
      permissionMode: this.options.permissionMode,
      ...(this.options.resumedFresh ? { resume_note: RESUME_NOTE } : {}),
    };
    return [this.step(StepTitle.system, details, true)];
  }

  private assistantStep(content: ContentBlock[]): NewTaskEvent {
    const message = { id: '', type: 'message', role: 'assistant', model: this.options.model, content, parent_tool_use_id: null };
    return this.step(StepTitle.assistant, { type: 'assistant', message }, true);
  }

  private userStep(content: ContentBlock[]): NewTaskEvent {
    return this.step(StepTitle.user, { type: 'user', message: { type: 'message', role: 'user', content, parent_tool_use_id: null } }, true);
  }

  private step(title: string, details: Record<string, unknown>, report: boolean): NewTaskEvent {
    const masked = this.options.mask ? this.options.mask(details) : details;
    return this.event({
      type: 'thinking-step' as const,
      step: { title, next_action: 'continue' as const, details: isRecord(masked) ? masked : {} },
      report,
    });
  }

  private chunk(itemId: string, text: string): NewTaskEvent {
    return this.event({ type: 'chunk', item_id: itemId, text });
  }

  private reasoningChunk(itemId: string, text: string): NewTaskEvent {
    return this.event({ type: 'reasoning', item_id: itemId, text: this.maskText(text) });
  }

  private maskText(text: string): string {
    const masked = this.options.mask ? this.options.mask(text) : text;
    return typeof masked === 'string' ? masked : text;
  }

  /** This subtask's usage so far: the thread's total minus what it had before the turn. */
  private usage(): TokenUsage {
    const delta = usageDelta(this.usageBaseline, this.usageLatest ?? this.usageBaseline);
    return {
      input_tokens: delta.input_tokens!,
      output_tokens: delta.output_tokens!,
      cached_input_tokens: delta.cache_read_input_tokens!,
      reasoning_output_tokens: delta.reasoning_output_tokens!,
      total_tokens: delta.input_tokens! + delta.output_tokens!,
    };
  }

  private envelope(): { task_id: number; subtask_id: number; attempt: number } {
    return { task_id: this.options.taskId, subtask_id: this.options.subtaskId, attempt: this.options.attempt };
  }

  /**
   * The envelope with `rest` after it, as `{ ...this.envelope(), ...rest }` would be but without
   * V8's slow path for a literal that starts with a spread and adds properties (~1.4 µs an event on
   * Node 20; docs/benchmarks-notes.md, eighth round): the envelope is a fresh literal, extended in place.
   */
  private event<T extends object>(rest: T): { task_id: number; subtask_id: number; attempt: number } & T {
    return Object.assign(this.envelope(), rest);
  }

  // ---- helpers ----

  private stream(itemId: string): MessageStream {
    return streamOf(this.streams, itemId);
  }

  private reasoningStream(itemId: string): MessageStream {
    return streamOf(this.reasoning, itemId);
  }

  private cap(text: string): string {
    return capUtf8(text, this.maxOutputBytes);
  }

  /** Absent thread ids count as ours (server-wide notifications); other ids are sub-agents. */
  private isOwnThread(threadId: string | null | undefined): boolean {
    return threadId === undefined || threadId === this.options.threadId;
  }

  /** Before `turn/started` every turn id is accepted; afterwards only that turn's. */
  private isCurrentTurn(turnId: string | null | undefined): boolean {
    return turnId == null || this.currentTurnId === undefined || turnId === this.currentTurnId;
  }

  private isOwnTurn(threadId: string | null | undefined, turnId: string | null | undefined): boolean {
    return this.isOwnThread(threadId) && this.isCurrentTurn(turnId);
  }
}

function streamOf(streams: Map<string, MessageStream>, itemId: string): MessageStream {
  let stream = streams.get(itemId);
  if (!stream) {
    stream = { sent: '', attempt: '', chunkId: itemId };
    streams.set(itemId, stream);
  }
  return stream;
}

/** A new item takes over the next abandoned chunk id (from `queue`) with the text already sent under it. */
function adopt(streams: Map<string, MessageStream>, queue: string[], itemId: string): void {
  if (streams.has(itemId)) return;
  const chunkId = queue.shift();
  if (chunkId === undefined) return;
  const sent = [...streams.values()].filter((s) => s.chunkId === chunkId).at(-1)?.sent ?? '';
  streams.set(itemId, { sent, attempt: '', chunkId });
}

/**
 * The chunk ids a failed request streamed (in order), followed by those an earlier failure left
 * that this request had not regenerated yet.
 */
function abandon(requestItems: Set<string>, streams: Map<string, MessageStream>, leftover: string[]): string[] {
  const ids: string[] = [];
  for (const id of requestItems) {
    const stream = streams.get(id);
    if (stream && stream.sent !== '' && !ids.includes(stream.chunkId)) ids.push(stream.chunkId);
  }
  return [...ids, ...leftover.filter((id) => !ids.includes(id))];
}

// ---- parsing ----

/** Safe-parse a notification's params; app-server sends `threadId: null` for server-wide ones. */
function parse<M extends CodexNotificationMethod>(method: M, params: unknown): CodexNotificationParams<M> | undefined {
  const input = isRecord(params) ? withoutNullIds(params) : params;
  const result = codexNotificationParams[method].safeParse(input);
  return result.success ? (result.data as CodexNotificationParams<M>) : undefined;
}

function withoutNullIds(params: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...params };
  if (copy.threadId === null) delete copy.threadId;
  if (copy.turnId === null) delete copy.turnId;
  return copy;
}

interface CompletedTurn {
  id: string;
  status: string;
  durationMs: number | null;
  error: string | undefined;
  items: unknown;
}

/**
 * `turn/completed` decides the terminal event, so it is read even when a field has an unexpected
 * shape: only the thread id, turn id and status are required.
 */
function parseCompletedTurn(params: unknown, threadId: string): CompletedTurn | undefined {
  if (!isRecord(params) || params.threadId !== threadId || !isRecord(params.turn)) return undefined;
  const turn = params.turn;
  if (typeof turn.id !== 'string' || typeof turn.status !== 'string') return undefined;
  const error = isRecord(turn.error) ? describeError(turn.error.message, turn.error.additionalDetails) : undefined;
  return {
    id: turn.id,
    status: turn.status,
    durationMs: typeof turn.durationMs === 'number' ? turn.durationMs : null,
    error,
    items: turn.items,
  };
}

/** The final answer from the summary items of `turn/completed`, when no agentMessage completed. */
function summaryAnswer(items: unknown): string | undefined {
  if (!Array.isArray(items)) return undefined;
  const messages = items
    .map((raw) => codexItemSchema.safeParse(raw))
    .flatMap((r) => (r.success && r.data.type === 'agentMessage' && r.data.text ? [r.data] : []));
  return (messages.filter((m) => m.phase === 'final_answer').at(-1) ?? messages.at(-1))?.text;
}

// ---- text ----

/** Human text of a Codex error: the message (its inner message when it is a JSON error body) plus the details. */
export function describeError(message: unknown, additionalDetails: unknown): string | undefined {
  const main = typeof message === 'string' ? friendlyMessage(message) : '';
  const extra = detailsText(additionalDetails);
  if (!extra || main.includes(extra)) return main || undefined;
  return main ? `${main}\n${extra}` : extra;
}

function friendlyMessage(message: string): string {
  const trimmed = message.trim();
  if (!trimmed.startsWith('{')) return trimmed;
  try {
    const body: unknown = JSON.parse(trimmed);
    if (isRecord(body)) {
      if (isRecord(body.error) && typeof body.error.message === 'string' && body.error.message) return body.error.message;
      if (typeof body.message === 'string' && body.message) return body.message;
    }
  } catch {
    // Not JSON after all: show it as it is.
  }
  return trimmed;
}

function detailsText(details: unknown): string | undefined {
  if (typeof details === 'string') return friendlyMessage(details) || undefined;
  if (isRecord(details)) return typeof details.message === 'string' ? friendlyMessage(details.message) : JSON.stringify(details);
  return undefined;
}

function reasoningText(item: CodexItem): string {
  const parts = item.summary?.length ? item.summary : Array.isArray(item.content) ? item.content.filter((c) => typeof c === 'string') : [];
  return parts.join('\n');
}

function mcpResultText(item: CodexItem): string {
  // Codex appends a Rust backtrace to MCP call errors; it helps nobody in the FE.
  if (item.error) return item.error.message.replace(/\n+Stack backtrace:[\s\S]*$/, '');
  const result = isRecord(item.result) ? item.result : undefined;
  if (!result) return '';
  if (Array.isArray(result.content) && result.content.length > 0) {
    const isText = (part: unknown): part is { text: string } => isRecord(part) && part.type === 'text' && typeof part.text === 'string';
    return result.content.map((part) => (isText(part) ? part.text : JSON.stringify(part))).join('\n');
  }
  return result.structuredContent != null ? JSON.stringify(result.structuredContent) : '';
}

function webSearchResult(item: CodexItem): string {
  if (Array.isArray(item.results) && item.results.length > 0) return JSON.stringify(item.results);
  if (isRecord(item.action) && item.action.type !== 'other') return JSON.stringify(item.action);
  return 'Search completed';
}

function agentStates(item: CodexItem): string {
  if (isRecord(item.agentsStates) && Object.keys(item.agentsStates).length > 0) return JSON.stringify(item.agentsStates);
  return item.status ?? '';
}

function toolInput(args: unknown): Record<string, unknown> {
  if (isRecord(args)) return args;
  return args == null ? {} : { arguments: args };
}

function usageDelta(before: TokenUsageBreakdown, after: TokenUsageBreakdown): Record<string, number> {
  type Counter = 'inputTokens' | 'outputTokens' | 'cachedInputTokens' | 'cacheWriteInputTokens' | 'reasoningOutputTokens';
  const delta = (key: Counter): number => Math.max(0, (after[key] ?? 0) - (before[key] ?? 0));
  return {
    input_tokens: delta('inputTokens'),
    output_tokens: delta('outputTokens'),
    cache_read_input_tokens: delta('cachedInputTokens'),
    cache_creation_input_tokens: delta('cacheWriteInputTokens'),
    reasoning_output_tokens: delta('reasoningOutputTokens'),
  };
}

function relativeTo(cwd: string, path: string): string {
  const root = cwd.replace(/\/+$/, '');
  return root && path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
}

/** Cut to at most `maxBytes` UTF-8 bytes on a character boundary, saying how much was dropped. */
export function capUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes);
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return `${bytes.subarray(0, end).toString('utf8')}\n… [${bytes.length - end} more bytes not shown]`;
}

// ---- shell wrapper ----

const SHELL_WRAPPER = /^(?:\/usr)?(?:\/bin\/)?(?:bash|zsh|sh) -l?c (.+)$/s;
const SAFE_UNQUOTED = /[A-Za-z0-9_@%+=:,./-]/;

/**
 * The command the model asked for: Codex shows `/bin/bash -lc '<cmd>'` (or `"<cmd>"`). The wrapper
 * is removed only when the rest is one shell word whose value involves no expansion, so the result
 * is exactly what the shell ran; otherwise the full string is kept.
 */
export function unwrapShellCommand(command: string): string {
  const match = SHELL_WRAPPER.exec(command);
  if (!match) return command;
  return parseShellWord(match[1]!) ?? command;
}

function parseShellWord(source: string): string | undefined {
  let value = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === "'") {
      const end = source.indexOf("'", i + 1);
      if (end < 0) return undefined;
      value += source.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      const end = readDoubleQuoted(source, i + 1);
      if (!end) return undefined;
      value += end.value;
      i = end.next;
    } else if (c === '\\') {
      const next = source[i + 1];
      if (next === undefined) return undefined;
      if (next !== '\n') value += next;
      i += 2;
    } else if (SAFE_UNQUOTED.test(c)) {
      value += c;
      i += 1;
    } else {
      return undefined;
    }
  }
  return value;
}

function readDoubleQuoted(source: string, start: number): { value: string; next: number } | undefined {
  let value = '';
  let i = start;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '"') return { value, next: i + 1 };
    if (c === '$' || c === '`') return undefined;
    if (c === '\\') {
      const next = source[i + 1];
      if (next === undefined) return undefined;
      if ('$`"\\'.includes(next)) {
        value += next;
        i += 2;
        continue;
      }
      if (next === '\n') {
        i += 2;
        continue;
      }
    }
    value += c;
    i += 1;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
