import { z } from 'zod';
import { responsesRunSchema, wegentProtocolSchema } from './protocol.schema';
import { thinkingStepSchema } from './thinking.schema';
import { gitSnapshotSchema } from './workbench.schema';

/**
 * The event log of one subtask: a Redis stream, the source of truth. Every callback is a fold of
 * these events (libs/event-log). Events never carry secrets: the worker masks them before they
 * are appended.
 */
const envelope = {
  task_id: z.number().int(),
  subtask_id: z.number().int(),
  /** BullMQ attempt that produced the event (1-based; 0 for events written by the API). */
  attempt: z.number().int().nonnegative(),
  /** Position in the subtask's log, 1-based, assigned atomically on append. */
  seq: z.number().int().positive(),
  /** ISO-8601 time of the append. */
  timestamp: z.string(),
};

/**
 * What the callbacks echo and the workbench shows, fixed when the run starts, so that the log
 * alone is enough to rebuild every callback.
 */
export const runContextSchema = z.object({
  task_title: z.string(),
  subtask_title: z.string(),
  /** Payload `type` ("online", "offline", "validation"); "" when absent. */
  task_type: z.string(),
  git_repo: z.string(),
  git_domain: z.string(),
  branch_name: z.string(),
  /** The prompt as received, before attachment rewriting and the suffix. */
  prompt: z.string(),
  /**
   * W3C `traceparent` the task was submitted with (job data); the relay sends it as a header with
   * every callback of the subtask. Not validated here: a bad value must not make the log unreadable.
   */
  traceparent: z.string().optional(),
  /** Which fold the relay applies to this log; absent = 2025. */
  protocol: wegentProtocolSchema.optional(),
  /** 2026 only: the echo fields and model options of the Responses body. */
  responses: responsesRunSchema.optional(),
});
export type RunContext = z.infer<typeof runContextSchema>;

/**
 * Lifecycle milestones.
 * - `started`   → RUNNING/50 "Task execution started" (first event of every run; has `context`)
 * - `prepared`  → RUNNING/55 (workspace ready; first callback with the workbench)
 * - `agent-started` → RUNNING/60 (Codex thread and turn started)
 * - `workbench` → no callback; refreshes the git part of the workbench
 * - `validation` → a validation-task callback (image validation, docs/protocol/wegent-protocol.md §12)
 */
export const statusEventSchema = z.object({
  ...envelope,
  type: z.literal('status'),
  phase: z.enum(['started', 'prepared', 'agent-started', 'workbench', 'validation']),
  context: runContextSchema.optional(),
  git: gitSnapshotSchema.optional(),
  /** Only for phase "validation": the callback's progress, message and result. */
  validation: z
    .object({
      status: z.enum(['RUNNING', 'COMPLETED', 'FAILED']),
      progress: z.number().int().min(0).max(100),
      message: z.string(),
      result: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});

/**
 * One thinking step. `report: true` sends a RUNNING callback at once (75, or the current progress
 * before 55); `report: false` rides on the next callback.
 */
export const thinkingStepEventSchema = z.object({
  ...envelope,
  type: z.literal('thinking-step'),
  step: thinkingStepSchema,
  report: z.boolean(),
});

/** A piece of streamed answer text of one agent message item. */
export const chunkEventSchema = z.object({
  ...envelope,
  type: z.literal('chunk'),
  item_id: z.string(),
  text: z.string(),
});

/**
 * The streamed text of an agent message item that a retried model request abandoned (Codex
 * reconnected and the regenerated text disagrees with what was already streamed): the folds drop
 * it from the answer. Text the retry regenerates identically is never streamed twice.
 */
export const retractEventSchema = z.object({
  ...envelope,
  type: z.literal('retract'),
  item_id: z.string(),
});

/** A piece of a reasoning summary of one reasoning item (2026 `response.reasoning_summary_text.delta`). */
export const reasoningEventSchema = z.object({
  ...envelope,
  type: z.literal('reasoning'),
  item_id: z.string(),
  text: z.string(),
});

/** Token usage of this subtask's turn so far (OpenAI meaning: input includes cached). */
export const tokenUsageSchema = z.object({
  input_tokens: z.number().int().nonnegative(),
  output_tokens: z.number().int().nonnegative(),
  cached_input_tokens: z.number().int().nonnegative(),
  reasoning_output_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative(),
  /** The model's context window and how much of it the thread fills now, when Codex reports it. */
  context_window: z.number().int().positive().optional(),
  context_tokens: z.number().int().nonnegative().optional(),
});
export type TokenUsage = z.infer<typeof tokenUsageSchema>;

/** The turn's token usage grew (one per model request; 2026 `response.status.updated`). */
export const usageEventSchema = z.object({
  ...envelope,
  type: z.literal('usage'),
  usage: tokenUsageSchema,
});

/** Terminal: the turn completed. `value` is the final answer (absent: "No result"). */
export const doneEventSchema = z.object({
  ...envelope,
  type: z.literal('done'),
  value: z.string().optional(),
  /** The turn's token usage, when Codex reported any. */
  usage: tokenUsageSchema.optional(),
});

/**
 * Terminal: the run failed. `message` is the callback's exact `error_message`; `kind` decides the
 * shape of `result` (docs/protocol/wegent-protocol.md §5.3–5.7):
 * - `agent`       the turn failed            → {thinking, workbench: failed, error}
 * - `stream`      the run broke mid-way      → {error, thinking, workbench: failed}
 * - `exception`   the runner could not start → {thinking}
 * - `pre-execute` preparation failed         → no result
 * - `init`        no agent for this payload  → no result
 */
export const errorEventSchema = z.object({
  ...envelope,
  type: z.literal('error'),
  kind: z.enum(['agent', 'stream', 'exception', 'pre-execute', 'init']),
  message: z.string(),
  /** Human text for `result.error` (kinds agent and stream). */
  error: z.string().optional(),
  /** 2026 `error.code` (docs/protocol/wegent-protocol-2026.md §3.4); absent = `runtime_error`. */
  code: z.string().optional(),
  /** Set when no `started` precedes it (the run never began): which fold to apply. */
  protocol: wegentProtocolSchema.optional(),
});

/** Terminal: cancelled by the user. CANCELLED/100, no result. */
export const cancelledEventSchema = z.object({
  ...envelope,
  type: z.literal('cancelled'),
  /** Where the cancel was honoured: still queued, or interrupted while running. */
  stage: z.enum(['queued', 'running']),
  /** Set when no `started` precedes it (cancelled while queued): which fold to apply. */
  protocol: wegentProtocolSchema.optional(),
});

export const taskEventSchema = z.discriminatedUnion('type', [
  statusEventSchema,
  thinkingStepEventSchema,
  chunkEventSchema,
  retractEventSchema,
  reasoningEventSchema,
  usageEventSchema,
  doneEventSchema,
  errorEventSchema,
  cancelledEventSchema,
]);

export type TaskEvent = z.infer<typeof taskEventSchema>;
export type StatusEvent = z.infer<typeof statusEventSchema>;
export type ThinkingStepEvent = z.infer<typeof thinkingStepEventSchema>;
export type ChunkEvent = z.infer<typeof chunkEventSchema>;
export type RetractEvent = z.infer<typeof retractEventSchema>;
export type ReasoningEvent = z.infer<typeof reasoningEventSchema>;
export type UsageEvent = z.infer<typeof usageEventSchema>;
export type DoneEvent = z.infer<typeof doneEventSchema>;
export type ErrorEvent = z.infer<typeof errorEventSchema>;
export type CancelledEvent = z.infer<typeof cancelledEventSchema>;
export type TaskEventType = TaskEvent['type'];

/** An event before the log assigns `seq` and `timestamp`. */
type Unstamped<T> = T extends unknown ? Omit<T, 'seq' | 'timestamp'> : never;
export type NewTaskEvent = Unstamped<TaskEvent>;

/** An event as read back from its stream, with the stream entry id. */
export interface StoredEvent {
  id: string;
  event: TaskEvent;
}

export const TERMINAL_EVENT_TYPES: ReadonlySet<TaskEventType> = new Set(['done', 'error', 'cancelled']);
export const isTerminalEvent = (event: Pick<TaskEvent, 'type'>): boolean => TERMINAL_EVENT_TYPES.has(event.type);
