import {
  CallbackMessage,
  type CallbackBody,
  type ChunkEvent,
  type DoneEvent,
  type ErrorEvent,
  type ResponsesCallback,
  type RetractEvent,
  type RunContext,
  type StatusEvent,
  type StoredEvent,
  type ThinkingStep,
  type ThinkingStepEvent,
  type Workbench,
} from '@wegent-codex/contracts';
import {
  initialWorkbenchState,
  renderWorkbench,
  withCompleted,
  withFailed,
  withGitSnapshot,
  withLastUpdated,
  withThinkingStep,
  type WorkbenchState,
} from './workbench-fold';

/**
 * The pure fold from a subtask's event log to executor_manager callbacks
 * (docs/protocol/wegent-protocol.md §4–8). Same events in, same callbacks out: no clock, no I/O; every time
 * comes from an event's `timestamp`.
 *
 * | event                      | callback                                                               |
 * |----------------------------|------------------------------------------------------------------------|
 * | status started             | RUNNING/50 `Task execution started`, no result                         |
 * | status prepared            | RUNNING/55 `${{thinking.initialize_agent}}` {thinking, workbench}       |
 * | status agent-started       | RUNNING/60, same message and content                                   |
 * | status workbench           | none (git part of the workbench; rides on the next callback)           |
 * | status validation          | the event's own status/progress/message/result, task_type validation   |
 * | thinking-step report:true  | RUNNING/75 `Thinking: <title>` ¹                                       |
 * | thinking-step report:false | none (rides on the next callback)                                      |
 * | chunk                      | RUNNING/75 `text` callback with the grown `value` ¹, message of the latest reported step |
 * | retract                    | RUNNING/75 `text` callback whose `value` no longer has that item's text  |
 * | reasoning, usage           | none (2026 events; the reasoning reaches 2025 as a thinking step)      |
 * | done                       | COMPLETED/100, the answer or `No result`                               |
 * | error                      | FAILED/100 `message`, result shaped by `kind`                          |
 * | cancelled                  | CANCELLED/100 `${{tasks.cancel_task}}`, no result, no task_type        |
 *
 * ¹ Before `prepared` (e.g. the `Pre-execution Failed` step): the current progress, and the result
 * has no workbench yet.
 *
 * Once text has streamed, every later RUNNING or FAILED result carries the whole `value` (BE turns
 * its growth into chat chunks and a result without it would restart the stream, §8). FAILED keeps
 * the streamed `value` too, so the answer so far survives a page reload next to the error.
 * COMPLETED carries the same streamed text (every agent message, commentary included): what the
 * user watched grow is what is stored. ClaudeCode's stored answer is its last message, but it
 * streams nothing while RUNNING; a bubble that shrinks at `chat:done` loses text the user read
 * (issue 9; the 2026 fold agrees). With nothing streamed it is the `done` event's answer.
 * A retracted item (text a retried model request abandoned) leaves the value at once.
 *
 * Validation runs (context task_type `validation`, §12.2) are driven by `validation` events,
 * which carry `validation_id` in their result: `started` sends nothing there (the first
 * validation event is the RUNNING/50), `done` sends the trailing result-less COMPLETED that
 * executor_manager skips, and `error` sends nothing when a validation FAILED already went out
 * (ClaudeCode sends exactly one FAILED).
 *
 * Robustness: events must be folded in log order; an event whose `seq` is not above the last
 * folded one is a replay and is ignored, as is an event of another subtask. A `started` once the
 * progress reached 50 (a retried attempt) sends nothing, and milestones never lower the progress.
 */
export interface FoldOptions {
  /** EXECUTOR_NAME; sent when non-empty. */
  executorName?: string;
  /** EXECUTOR_NAMESPACE; sent when non-empty. */
  executorNamespace?: string;
}

/**
 * Why a callback exists. The relay may drop or delay `text` callbacks (only the streamed answer
 * grew) to coalesce them — every callback is a full snapshot, so a later one supersedes it
 * (`isSupersededBy`). Every other kind is always delivered.
 */
export type CallbackKind =
  | 'milestone'
  | 'step'
  | 'text'
  | 'terminal'
  | 'validation'
  /** 2026: a text or reasoning delta. Appended blindly by BE: exactly once; queued ones merged (`mergeDeltas`). */
  | 'delta'
  /** 2026: a block upsert (idempotent by block id). */
  | 'block'
  /** 2026: `response.status.updated` (token usage). */
  | 'status';

export interface PlannedCallback<B extends CallbackBody | ResponsesCallback = CallbackBody> {
  /** Stream id of the event that produced it; the Idempotency-Key is built from it. */
  eventId: string;
  seq: number;
  kind: CallbackKind;
  body: B;
  /** W3C `traceparent` of the run (its `started` context): sent as a header, never in the body. */
  traceparent?: string;
  /**
   * 2026 only: the index of this callback among those of its event (absent = 0), and whether more
   * follow. The relay moves its cursor past an event only after its last callback.
   */
  part?: number;
  moreOfEvent?: boolean;
  /** 2026 only: set when queued deltas were merged into this one (`mergeDeltas`): the first event it covers. */
  firstEventId?: string;
  /** 2026 only, a merged answer delta: the offset right after its text (in code points). */
  textEnd?: number;
}

/** A callback of either generation (the relay delivers both). */
export type AnyPlannedCallback = PlannedCallback<CallbackBody | ResponsesCallback>;

/** The subtask as rebuilt from its events (GET /v1/tasks/{t}/subtasks/{s}). */
export interface SubtaskView {
  task_id: number;
  subtask_id: number;
  state: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  status: CallbackBody['status'] | 'PENDING';
  progress: number;
  message?: string;
  result: { value?: string; thinking: ThinkingStep[]; workbench?: Workbench };
  error?: string;
  events: number;
  lastEventId?: string;
  updatedAt?: string;
}

const PROGRESS = { started: 50, prepared: 55, agentStarted: 60, running: 75, terminal: 100 } as const;

/** A callback before `apply` stamps it with the id and seq of its event. */
type Planned = Pick<PlannedCallback, 'kind' | 'body'>;
const planned = (kind: CallbackKind, body: CallbackBody): Planned => ({ kind, body });

type Terminal = { state: 'completed'; value?: string } | { state: 'failed'; error: string } | { state: 'cancelled' };

export class CallbackFolder {
  private context?: RunContext;
  private progress = 0;
  private lastSeq = 0;
  private eventCount = 0;
  private lastEventId?: string;
  private updatedAt?: string;
  private readonly thinking: ThinkingStep[] = [];
  /** Agent-message text so far, one segment per item run; joined by blank lines. */
  private readonly segments: { item: string; text: string }[] = [];
  /** The message text callbacks repeat: that of the latest reported step. */
  private stepMessage: string = CallbackMessage.initializeAgent;
  private workbench: WorkbenchState = initialWorkbenchState();
  /** Set by `prepared` (or a terminal result that carries it): from then on callbacks carry it. */
  private workbenchShown = false;
  private validationFailed = false;
  private lastBody?: CallbackBody;
  private terminal?: Terminal;

  constructor(
    private readonly taskId: number,
    private readonly subtaskId: number,
    private readonly options: FoldOptions = {},
  ) {}

  /** Fold one event (in log order); returns the callback it produces, if any. */
  apply(stored: StoredEvent): PlannedCallback | null {
    const { event } = stored;
    if (this.terminal || event.task_id !== this.taskId || event.subtask_id !== this.subtaskId) return null;
    if (event.seq <= this.lastSeq) return null;
    this.lastSeq = event.seq;
    this.eventCount += 1;
    this.lastEventId = stored.id;
    this.updatedAt = event.timestamp;
    this.workbench = withLastUpdated(this.workbench, event.timestamp);

    const callback = this.fold(event);
    if (!callback) return null;
    this.lastBody = callback.body;
    const traceparent = this.context?.traceparent;
    return { eventId: stored.id, seq: event.seq, ...callback, ...(traceparent !== undefined && { traceparent }) };
  }

  /** Current projection. */
  get view(): SubtaskView {
    const terminal = this.terminal;
    const value = terminal?.state === 'completed' ? terminal.value : this.streamed || undefined;
    const result: SubtaskView['result'] = {
      ...(value !== undefined && { value }),
      thinking: [...this.thinking],
      ...(this.workbenchShown && { workbench: this.renderWorkbench() }),
    };
    return {
      task_id: this.taskId,
      subtask_id: this.subtaskId,
      state: terminal?.state ?? (this.eventCount > 0 ? 'running' : 'queued'),
      status: this.lastBody?.status ?? 'PENDING',
      progress: this.progress,
      ...(this.lastBody?.error_message !== undefined && { message: this.lastBody.error_message }),
      result,
      ...(terminal?.state === 'failed' && { error: terminal.error }),
      events: this.eventCount,
      ...(this.lastEventId !== undefined && { lastEventId: this.lastEventId }),
      ...(this.updatedAt !== undefined && { updatedAt: this.updatedAt }),
    };
  }

  /** True once a terminal event was folded; later events produce nothing. */
  get finished(): boolean {
    return this.terminal !== undefined;
  }

  private fold(event: StoredEvent['event']): Planned | null {
    switch (event.type) {
      case 'status':
        return this.foldStatus(event);
      case 'thinking-step':
        return this.foldStep(event);
      case 'chunk':
        return this.foldChunk(event);
      case 'retract':
        return this.foldRetract(event);
      case 'reasoning':
      case 'usage':
        return null;
      case 'done':
        return this.foldDone(event);
      case 'error':
        return this.foldError(event);
      case 'cancelled':
        return this.foldCancelled();
    }
  }

  private foldStatus(event: StatusEvent): Planned | null {
    if (!this.context && event.context) this.context = event.context;
    if (event.git) this.workbench = withGitSnapshot(this.workbench, event.git);
    switch (event.phase) {
      case 'started':
        // Only the first 50: a repeated `started` (a retried attempt) or one arriving late has
        // nothing to add, and a result-less callback from 55 on would break the ladder.
        if (this.progress >= PROGRESS.started || this.isValidationRun()) return null;
        return planned('milestone', this.body('RUNNING', this.raise(PROGRESS.started), CallbackMessage.started));
      case 'prepared':
      case 'agent-started': {
        this.workbenchShown = true;
        const progress = this.raise(event.phase === 'prepared' ? PROGRESS.prepared : PROGRESS.agentStarted);
        return planned('milestone', this.body('RUNNING', progress, CallbackMessage.initializeAgent, this.runningResult()));
      }
      case 'workbench':
        return null;
      case 'validation': {
        const validation = event.validation;
        if (!validation) return null;
        this.raise(validation.progress);
        if (validation.status === 'FAILED') this.validationFailed = true;
        const body = this.body(validation.status, validation.progress, validation.message, validation.result, 'validation');
        return planned('validation', body);
      }
    }
  }

  private foldStep(event: ThinkingStepEvent): Planned | null {
    this.thinking.push(event.step);
    this.workbench = withThinkingStep(this.workbench, event.step);
    if (!event.report) return null;
    this.stepMessage = CallbackMessage.thinking(event.step.title);
    return planned('step', this.body('RUNNING', this.runningProgress(), this.stepMessage, this.runningResult()));
  }

  private foldChunk(event: ChunkEvent): Planned | null {
    if (event.text === '') return null;
    // A new message item starts a new paragraph; appending (never inserting) keeps the value a
    // prefix of every later one even if items interleave.
    const last = this.segments.at(-1);
    if (last?.item === event.item_id) last.text += event.text;
    else this.segments.push({ item: event.item_id, text: event.text });
    return planned('text', this.body('RUNNING', this.runningProgress(), this.stepMessage, this.runningResult()));
  }

  /**
   * The value shrinks here, once: BE keeps appending growth to the bubble, so the live view may
   * show the abandoned text until `chat:done`; the stored value is right from now on.
   */
  private foldRetract(event: RetractEvent): Planned | null {
    const before = this.segments.length;
    for (let i = this.segments.length - 1; i >= 0; i -= 1) if (this.segments[i]!.item === event.item_id) this.segments.splice(i, 1);
    if (this.segments.length === before) return null;
    return planned('text', this.body('RUNNING', this.runningProgress(), this.stepMessage, this.runningResult()));
  }

  private get streamed(): string {
    return this.segments.map((segment) => segment.text).join('\n\n');
  }

  private foldDone(event: DoneEvent): Planned {
    const value = this.streamed || event.value || undefined;
    this.terminal = { state: 'completed', ...(value !== undefined && { value }) };
    this.workbench = withCompleted(this.workbench, event.timestamp);
    const message = value ?? CallbackMessage.noResult;
    const progress = this.raise(PROGRESS.terminal);
    if (this.isValidationRun()) return planned('terminal', this.body('COMPLETED', progress, message));
    this.workbenchShown = true;
    const result: Record<string, unknown> = {};
    if (value !== undefined) result.value = value;
    result.thinking = [...this.thinking];
    result.workbench = this.renderWorkbench();
    return planned('terminal', this.body('COMPLETED', progress, message, result));
  }

  private foldError(event: ErrorEvent): Planned | null {
    const error = event.error || event.message;
    this.terminal = { state: 'failed', error };
    this.workbench = withFailed(this.workbench);
    const progress = this.raise(PROGRESS.terminal);
    if (this.isValidationRun()) {
      return this.validationFailed ? null : planned('terminal', this.body('FAILED', progress, event.message));
    }
    const streamed = this.streamed;
    const value = streamed ? { value: streamed } : {};
    const errorField = error ? { error } : {};
    const thinking = [...this.thinking];
    let result: Record<string, unknown> | undefined;
    switch (event.kind) {
      case 'agent':
        this.workbenchShown = true;
        result = { ...value, thinking, workbench: this.renderWorkbench(), ...errorField };
        break;
      case 'stream':
        this.workbenchShown = true;
        result = { ...value, ...errorField, thinking, workbench: this.renderWorkbench() };
        break;
      case 'exception':
        result = { ...value, thinking };
        break;
      case 'pre-execute':
      case 'init':
        result = undefined;
        break;
    }
    return planned('terminal', this.body('FAILED', progress, event.message, result));
  }

  private foldCancelled(): Planned {
    this.terminal = { state: 'cancelled' };
    const body = this.body('CANCELLED', this.raise(PROGRESS.terminal), CallbackMessage.cancelled, undefined, null);
    return planned('terminal', body);
  }

  private isValidationRun(): boolean {
    return this.context?.task_type === 'validation';
  }

  /** Moves progress up to `to` (never down) and returns the progress to report. */
  private raise(to: number): number {
    this.progress = Math.max(this.progress, to);
    return this.progress;
  }

  /** Steps and text report 75 once the agent is prepared; before that, the current progress. */
  private runningProgress(): number {
    return this.progress < PROGRESS.prepared ? this.progress : this.raise(PROGRESS.running);
  }

  private runningResult(): Record<string, unknown> {
    // Built property by property: `{ ...(cond && { value }), thinking }` starts with a spread and then
    // adds a property, V8's slow path on Node 20 (~1.1 µs a callback; docs/benchmarks-notes.md, eighth round).
    const result: Record<string, unknown> = {};
    if (this.segments.length > 0) result.value = this.streamed;
    result.thinking = [...this.thinking];
    if (this.workbenchShown) result.workbench = this.renderWorkbench();
    return result;
  }

  private renderWorkbench(): Workbench {
    return renderWorkbench(this.taskId, this.context, this.workbench);
  }

  /**
   * A callback body with the protocol's key order; empty optional fields are left out.
   * `taskType`: undefined = the run's type, null = none (CANCELLED), a string = that type.
   */
  private body(
    status: CallbackBody['status'],
    progress: number,
    message: string,
    result?: Record<string, unknown>,
    taskType?: string | null,
  ): CallbackBody {
    const { executorName, executorNamespace } = this.options;
    const type = taskType === undefined ? this.context?.task_type : taskType;
    return {
      task_id: this.taskId,
      subtask_id: this.subtaskId,
      task_title: this.context?.task_title ?? '',
      subtask_title: this.context?.subtask_title ?? '',
      ...(executorName && { executor_name: executorName }),
      ...(executorNamespace && { executor_namespace: executorNamespace }),
      progress,
      status,
      ...(message !== '' && { error_message: message }),
      ...(result && Object.keys(result).length > 0 && { result }),
      ...(type && { task_type: type }),
    };
  }
}

/** Folds a whole log (or a prefix of it) into the callbacks it produces, in order. */
export function foldCallbacks(taskId: number, subtaskId: number, events: StoredEvent[], options?: FoldOptions): PlannedCallback[] {
  const folder = new CallbackFolder(taskId, subtaskId, options);
  const callbacks: PlannedCallback[] = [];
  for (const stored of events) {
    const callback = folder.apply(stored);
    if (callback) callbacks.push(callback);
  }
  return callbacks;
}

/**
 * True when the relay may drop `earlier` because `later` makes it redundant: `earlier` only grew
 * the streamed text, and `later` is a later callback of the same subtask with a result. Such a
 * result replaces the stored one wholesale and carries the full thinking list, the workbench and
 * (RUNNING, FAILED) the whole streamed value or (COMPLETED) the final answer. CANCELLED and
 * result-less FAILED carry none, so the text before them is always delivered.
 */
export function isSupersededBy(
  earlier: PlannedCallback<CallbackBody | ResponsesCallback>,
  later: PlannedCallback<CallbackBody | ResponsesCallback>,
): boolean {
  // Only 2025 snapshots (`text`, with a `result`) supersede: 2026 callbacks are never dropped.
  return (
    earlier.kind === 'text' &&
    later.kind !== 'validation' &&
    later.seq > earlier.seq &&
    later.body.task_id === earlier.body.task_id &&
    later.body.subtask_id === earlier.body.subtask_id &&
    'result' in later.body &&
    later.body.result !== undefined
  );
}
