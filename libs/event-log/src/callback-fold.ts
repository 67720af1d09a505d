import type { CallbackBody, StoredEvent, ThinkingStep, Workbench } from '../../contracts/src';

/**
 * The pure fold from a subtask's event log to executor_manager callbacks
 * (wegent-protocol.md §4–8). Same events in, same callbacks out: no clock, no I/O.
 * IMPLEMENTATION PENDING (helper); the signatures below are the contract other modules use.
 */
export interface FoldOptions {
  /** EXECUTOR_NAME; sent when non-empty. */
  executorName?: string;
  /** EXECUTOR_NAMESPACE; sent when non-empty. */
  executorNamespace?: string;
}

/**
 * Why a callback exists. The relay may drop or delay `text` callbacks (only the streamed answer
 * grew) to coalesce them — every callback is a full snapshot, so a later one supersedes it.
 * Every other kind is always delivered.
 */
export type CallbackKind = 'milestone' | 'step' | 'text' | 'terminal' | 'validation';

export interface PlannedCallback {
  /** Stream id of the event that produced it; the Idempotency-Key is built from it. */
  eventId: string;
  seq: number;
  kind: CallbackKind;
  body: CallbackBody;
}

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

export declare class CallbackFolder {
  constructor(taskId: number, subtaskId: number, options?: FoldOptions);
  /** Fold one event (in log order); returns the callback it produces, if any. */
  apply(stored: StoredEvent): PlannedCallback | null;
  /** Current projection. */
  get view(): SubtaskView;
  /** True once a terminal event was folded; later events produce nothing. */
  get finished(): boolean;
}

export declare function foldCallbacks(taskId: number, subtaskId: number, events: StoredEvent[], options?: FoldOptions): PlannedCallback[];
