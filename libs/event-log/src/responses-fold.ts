import type {
  CallbackBody,
  ChunkEvent,
  DoneEvent,
  ErrorEvent,
  ReasoningEvent,
  ResponsesCallback,
  ResponsesRun,
  RunContext,
  StoredEvent,
  ThinkingStepEvent,
  TokenUsage,
} from '@wegent-codex/contracts';
import type { CallbackKind, FoldOptions, PlannedCallback } from './callback-fold';

/**
 * The pure fold from a subtask's event log to 2026 callbacks (docs/protocol/wegent-protocol-2026.md
 * §3): the same log as the 2025 fold, other callbacks. Same events in, same callbacks out.
 *
 * | event                         | callbacks                                                         |
 * |-------------------------------|-------------------------------------------------------------------|
 * | status started (first)        | `response.created` {shell_type, bot_name, response}                |
 * | other status events           | none                                                              |
 * | chunk                         | `response.output_text.delta` {delta, offset in code points}       |
 * | retract                       | none (a delta cannot be taken back; the text leaves the answer)   |
 * | reasoning                     | `response.reasoning_summary_text.delta`                           |
 * | thinking-step with tool_use   | `response.block.created` per tool (id = Codex item id, `pending`; a plan is `done` at once) |
 * | thinking-step with tool_result| `response.block.updated` per result {tool_output, status done/error} |
 * | other thinking steps          | none (their text already streamed as deltas)                       |
 * | usage                         | `response.status.updated` {phase: "token_usage", context_metrics}   |
 * | done                          | `response.completed` with the whole answer and usage              |
 * | error                         | `error` {code, message}                                           |
 * | cancelled                     | `response.incomplete`                                             |
 *
 * A terminal event with no `response.created` before it (cancelled while queued) is preceded by
 * one, so every run starts with it (§3.7.1). Nothing follows the terminal.
 *
 * The answer: deltas carry every agent message (commentary too, "\n\n" between messages) and
 * `response.completed` carries the same text, so what streamed is what is stored (issue 9). A
 * `retract` (a retried model request abandoned a partial message it did not regenerate) removes
 * that text from the completed answer only: offsets stay contiguous, the browser shows the
 * abandoned text until `chat:done`, and BE stores the completed text (§3.6).
 *
 * Echo fields: `executor_name`/`executor_namespace` of the dispatch (EM writes its container name
 * into `metadata` and the backend routes follow-ups by the name it stored from our terminal
 * callback, §1.3.2, §2.3), else EXECUTOR_NAME/EXECUTOR_NAMESPACE; `message_id` of the dispatch.
 */
export class ResponsesFolder {
  private context?: RunContext;
  private lastSeq = 0;
  private created = false;
  private terminal = false;
  /** Code points of answer text sent as deltas (the next delta's `offset`). */
  private offset = 0;
  private lastTextItem?: string;
  private lastReasoningItem?: string;
  /** The answer: one segment per run of an item's chunks. */
  private readonly segments: { item: string; text: string }[] = [];
  private usage?: TokenUsage;
  /** Time of the first `started` (or of the terminal when none came): `created_at` of the response. */
  private startedAt?: string;

  constructor(
    private readonly taskId: number,
    private readonly subtaskId: number,
    private readonly options: FoldOptions = {},
  ) {}

  get finished(): boolean {
    return this.terminal;
  }

  /** Fold one event (in log order); returns its callbacks, in the order they must be sent. */
  apply(stored: StoredEvent): PlannedCallback<ResponsesCallback>[] {
    const { event } = stored;
    if (this.terminal || event.task_id !== this.taskId || event.subtask_id !== this.subtaskId) return [];
    if (event.seq <= this.lastSeq) return [];
    this.lastSeq = event.seq;
    const planned = this.fold(stored.event);
    const traceparent = this.context?.traceparent;
    return planned.map((p, index) => ({
      eventId: stored.id,
      seq: event.seq,
      kind: p.kind,
      body: p.body,
      ...(traceparent !== undefined && { traceparent }),
      ...(planned.length > 1 && { part: index, moreOfEvent: index < planned.length - 1 }),
    }));
  }

  private fold(event: StoredEvent['event']): Planned[] {
    switch (event.type) {
      case 'status':
        if (!this.context && event.context) this.context = event.context;
        return event.phase === 'started' ? this.createdOnce(event.timestamp) : [];
      case 'thinking-step':
        return this.blocks(event);
      case 'chunk':
        return this.textDelta(event);
      case 'retract':
        for (let i = this.segments.length - 1; i >= 0; i -= 1) if (this.segments[i]!.item === event.item_id) this.segments.splice(i, 1);
        return [];
      case 'reasoning':
        return this.reasoningDelta(event);
      case 'usage':
        this.usage = event.usage;
        return [
          planned(
            'status',
            this.envelope('response.status.updated', { phase: 'token_usage', context_metrics: contextMetrics(event.usage) }),
          ),
        ];
      case 'done':
        return this.end(event.timestamp, this.completed(event));
      case 'error':
        return this.end(event.timestamp, this.envelope('error', { code: event.code ?? 'runtime_error', message: userMessage(event) }));
      case 'cancelled':
        return this.end(
          event.timestamp,
          this.envelope('response.incomplete', { response: this.response(event.timestamp, 'cancelled', [], { error: CANCELLED }) }),
        );
    }
  }

  private createdOnce(timestamp: string): Planned[] {
    if (this.created) return []; // a retried attempt's `started`
    this.created = true;
    this.startedAt = timestamp;
    const run = this.run;
    const data = {
      shell_type: run?.shell_type || 'Codex',
      ...(run?.bot_name ? { bot_name: run.bot_name } : {}),
      response: this.response(timestamp, 'in_progress', []),
    };
    return [planned('milestone', this.envelope('response.created', data))];
  }

  private end(timestamp: string, terminal: ResponsesCallback): Planned[] {
    const created = this.createdOnce(timestamp);
    this.terminal = true;
    return [...created, planned('terminal', terminal)];
  }

  private textDelta(event: ChunkEvent): Planned[] {
    if (event.text === '') return [];
    const last = this.segments.at(-1);
    if (last?.item === event.item_id) last.text += event.text;
    else this.segments.push({ item: event.item_id, text: event.text });
    // A new message is a new paragraph, in the stream as in the completed answer.
    const delta = this.lastTextItem !== undefined && this.lastTextItem !== event.item_id ? `\n\n${event.text}` : event.text;
    this.lastTextItem = event.item_id;
    const offset = this.offset;
    this.offset += codePoints(delta);
    const data = { item_id: this.messageId, output_index: 0, content_index: 0, delta, offset };
    return [planned('delta', this.envelope('response.output_text.delta', data))];
  }

  private reasoningDelta(event: ReasoningEvent): Planned[] {
    if (event.text === '') return [];
    const delta = this.lastReasoningItem !== undefined && this.lastReasoningItem !== event.item_id ? `\n\n${event.text}` : event.text;
    this.lastReasoningItem = event.item_id;
    const data = { item_id: event.item_id, output_index: 0, summary_index: 0, delta };
    return [planned('delta', this.envelope('response.reasoning_summary_text.delta', data))];
  }

  /** Tool steps become blocks (§3.5); the ids are Codex item ids (`<id>:<n>` per file of a patch). */
  private blocks(event: ThinkingStepEvent): Planned[] {
    const message = event.step.details?.message;
    if (!isRecord(message) || !Array.isArray(message.content)) return [];
    const timestamp = Date.parse(event.timestamp);
    const out: Planned[] = [];
    for (const block of message.content) {
      if (!isRecord(block)) continue;
      if (block.type === 'tool_use' && typeof block.id === 'string' && block.id !== '') {
        // A plan has no result: it is done when shown.
        const status = block.name === 'TodoWrite' ? 'done' : 'pending';
        const tool = {
          id: block.id,
          type: 'tool',
          tool_use_id: block.id,
          tool_name: typeof block.name === 'string' ? block.name : 'tool',
          tool_input: isRecord(block.input) ? block.input : {},
          status,
          timestamp: Number.isFinite(timestamp) ? timestamp : 0,
        };
        out.push(planned('block', this.envelope('response.block.created', { block: tool })));
      } else if (block.type === 'tool_result' && typeof block.tool_use_id === 'string' && block.tool_use_id !== '') {
        const updates = { tool_output: block.content ?? '', status: block.is_error === true ? 'error' : 'done' };
        out.push(planned('block', this.envelope('response.block.updated', { block_id: block.tool_use_id, updates })));
      }
    }
    return out;
  }

  private completed(event: DoneEvent): ResponsesCallback {
    const answer = this.segments.map((s) => s.text).join('\n\n') || event.value || '';
    const output =
      answer === ''
        ? []
        : [
            {
              type: 'message',
              id: this.messageId,
              status: 'completed',
              role: 'assistant',
              content: [{ type: 'output_text', text: answer, annotations: [] }],
            },
          ];
    const usage = event.usage ?? this.usage;
    return this.envelope('response.completed', {
      response: this.response(event.timestamp, 'completed', output, {
        usage: usage ? responsesUsage(usage) : null,
        stop_reason: 'end_turn',
      }),
    });
  }

  private response(timestamp: string, status: string, output: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
    const createdAt = Math.floor(Date.parse(this.startedAt ?? timestamp) / 1000);
    return {
      id: `resp_${this.subtaskId}`,
      object: 'response',
      created_at: Number.isFinite(createdAt) ? createdAt : 0,
      model: this.run?.model ?? '',
      status,
      output,
      ...extra,
    };
  }

  private get run(): ResponsesRun | undefined {
    return this.context?.responses ?? undefined;
  }

  private get messageId(): string {
    return `msg_${this.subtaskId}`;
  }

  private envelope(eventType: string, data: Record<string, unknown>): ResponsesCallback {
    const run = this.run;
    // The pair goes together: EM's container name with EM's namespace ("" for Docker), else ours.
    const dispatched = Boolean(run?.executor_name);
    const executorName = dispatched ? run?.executor_name : this.options.executorName;
    const executorNamespace = dispatched ? run?.executor_namespace : this.options.executorNamespace;
    const messageId = run?.message_id;
    return {
      event_type: eventType,
      task_id: this.taskId,
      subtask_id: this.subtaskId,
      ...(typeof messageId === 'number' && { message_id: messageId }),
      ...(executorName && { executor_name: executorName }),
      ...(executorNamespace && { executor_namespace: executorNamespace }),
      data: { type: eventType, ...data },
    };
  }
}

type Planned = { kind: CallbackKind; body: ResponsesCallback };
const planned = (kind: CallbackKind, body: ResponsesCallback): Planned => ({ kind, body });

const CANCELLED = { code: 'cancelled', message: 'Task cancelled' };

/** The longest delta text (UTF-16 units) that queued deltas are merged into: a backlog goes out in pieces. */
export const MAX_MERGED_DELTA_LENGTH = 32_768;

/**
 * Two queued 2026 deltas as one callback, or undefined when they cannot be one
 * (docs/protocol/wegent-protocol-2026.md §3.3, §3.7): BE appends every delta blindly and the browser
 * places answer text by `offset`, so consecutive deltas of the same stream carry exactly the text of
 * one delta with both texts — Wegent's own executor merges its queued deltas the same way, keeping the
 * first `offset`. Answer deltas merge when the second starts where the first ends (contiguous
 * offsets of the same message); reasoning deltas when they belong to the same item. The result
 * keeps the first's envelope and offset, takes the second's event id (the relay moves its cursor
 * past both only when it is answered) and remembers the first event (`firstEventId`) for its
 * Idempotency-Key.
 */
export function mergeDeltas(
  earlier: PlannedCallback<CallbackBody | ResponsesCallback>,
  later: PlannedCallback<CallbackBody | ResponsesCallback>,
): PlannedCallback<ResponsesCallback> | undefined {
  if (earlier.kind !== 'delta' || later.kind !== 'delta' || earlier.moreOfEvent || later.part) return undefined;
  const a = earlier.body as ResponsesCallback;
  const b = later.body as ResponsesCallback;
  if (a.event_type !== b.event_type || a.task_id !== b.task_id || a.subtask_id !== b.subtask_id) return undefined;
  const first = a.data as Record<string, unknown>;
  const second = b.data as Record<string, unknown>;
  if (typeof first.delta !== 'string' || typeof second.delta !== 'string' || first.item_id !== second.item_id) return undefined;
  if (first.delta.length + second.delta.length > MAX_MERGED_DELTA_LENGTH) return undefined;
  let textEnd: number | undefined;
  if (a.event_type === 'response.output_text.delta') {
    // NaN (an offset missing) equals nothing. A merged delta knows where its text ends: counting
    // it again would make a long merge quadratic.
    const at = Number(second.offset);
    if (at !== (earlier.textEnd ?? Number(first.offset) + codePoints(first.delta))) return undefined;
    textEnd = at + codePoints(second.delta);
  } else if (a.event_type !== 'response.reasoning_summary_text.delta') return undefined;
  // Field by field: a literal that starts with a spread and then adds a property takes V8's slow
  // path (~1.4 µs on Node 20); overriding a property the spread brought (`data`, `delta`) does not.
  return {
    eventId: later.eventId,
    seq: later.seq,
    kind: later.kind,
    body: { ...a, data: { ...first, delta: first.delta + second.delta } },
    firstEventId: earlier.firstEventId ?? earlier.eventId,
    ...(later.traceparent !== undefined && { traceparent: later.traceparent }),
    ...(later.part !== undefined && { part: later.part }),
    ...(later.moreOfEvent !== undefined && { moreOfEvent: later.moreOfEvent }),
    ...(textEnd !== undefined && { textEnd }),
  };
}

/**
 * Unicode code points, as BE and the browser count offsets (§3.4), not UTF-16 units: a surrogate
 * pair is one, a lone surrogate one as well (as `Array.from(text).length` counts, without an array
 * per delta).
 */
export function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i + 1 < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    if (unit < 0xd800 || unit > 0xdbff) continue;
    const next = text.charCodeAt(i + 1);
    if (next >= 0xdc00 && next <= 0xdfff) {
      count -= 1;
      i += 1;
    }
  }
  return count;
}

/** The error text a user can act on: the cause, not the internal stage names of the 2025 messages. */
function userMessage(event: ErrorEvent): string {
  switch (event.kind) {
    case 'pre-execute':
      return event.error ? `Preparing the workspace failed: ${event.error}` : event.message;
    case 'init':
      return event.error ? `The task could not start: ${event.error}` : event.message;
    case 'agent':
      return event.error || event.message;
    case 'stream':
    case 'exception':
      return event.message;
  }
}

function contextMetrics(usage: TokenUsage): Record<string, unknown> {
  const { context_window: window, context_tokens: used } = usage;
  const remaining = window && used !== undefined ? Math.max(0, Math.min(100, Math.round((100 * (window - used)) / window))) : undefined;
  return { ...usage, ...(remaining !== undefined && { remaining_percent: remaining }) };
}

/** OpenAI Responses `usage` (input includes cached tokens). */
function responsesUsage(usage: TokenUsage): Record<string, unknown> {
  return {
    input_tokens: usage.input_tokens,
    input_tokens_details: { cached_tokens: usage.cached_input_tokens },
    output_tokens: usage.output_tokens,
    output_tokens_details: { reasoning_tokens: usage.reasoning_output_tokens },
    total_tokens: usage.total_tokens,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Folds a whole log (or a prefix) into its 2026 callbacks, in order. */
export function foldResponses(
  taskId: number,
  subtaskId: number,
  events: StoredEvent[],
  options?: FoldOptions,
): PlannedCallback<ResponsesCallback>[] {
  const folder = new ResponsesFolder(taskId, subtaskId, options);
  return events.flatMap((stored) => folder.apply(stored));
}
