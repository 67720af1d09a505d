import { StepTitle, type WegentProtocol } from '@wegent-codex/contracts';
import { WorkerLost } from '@wegent-codex/queue';
import type { RunEvent } from './run-event';

/**
 * How a run ends, in one place: every job result the processor returns, and every ending's events
 * with the ClaudeCode-exact texts Wegent shows (docs/protocol/wegent-protocol.md §5.3–§5.7). The
 * worker's files decide *that* a run ends this way; only this file says *how it reads*.
 */
export type RunResult =
  | 'finished'
  | 'cancelled'
  | 'cancelled before start'
  | 'already finished'
  | 'worker lost'
  | 'payload missing'
  | 'unsupported shell type'
  | 'pre-execute failed'
  | 'exception'
  | 'broken'
  | 'limit'
  | 'validated'
  | 'validation failed';

interface Subtask {
  task_id: number;
  subtask_id: number;
}

/** The exact texts (callback `error_message` / `result.value`). */
export const RunText = {
  /** §5.7: no agent can be built for this payload (wrong shell, no usable payload). */
  noAgent: ({ task_id, subtask_id }: Subtask) => `[task_id: ${task_id}.${subtask_id}] Unable to get or create agent`,
  /** §5.5: the workspace could not be prepared. */
  preExecuteFailed: (taskId: number) => `Agent[Codex][${taskId}] handle: pre_execute failed.`,
  /** §5.6: Codex could not be started. */
  executionFailed: (text: string) => `\${thinking.execution_failed} Codex Agent execution: ${text}`,
  /** §5.4: the run broke after it started. */
  processingError: (text: string) => `Error processing response: ${text}`,
  failedInQueue: (reason: string) => `the job failed in the queue (${reason})`,
} as const;

/** The events that end a run, one function per way it can end (the terminal event last). */
export const RunEnding = {
  noAgent: (subtask: Subtask, reason?: string): RunEvent[] => [
    { type: 'error', kind: 'init', message: RunText.noAgent(subtask), ...(reason ? { error: reason } : {}) },
  ],

  preExecuteFailed: (taskId: number, text: string): RunEvent[] => [
    {
      type: 'thinking-step',
      report: true,
      step: { title: StepTitle.preExecutionFailed, next_action: 'continue', details: { error: text } },
    },
    { type: 'error', kind: 'pre-execute', message: RunText.preExecuteFailed(taskId), error: text },
  ],

  exception: (text: string): RunEvent[] => [
    {
      type: 'thinking-step',
      report: false,
      step: {
        title: StepTitle.executionFailed,
        next_action: 'continue',
        details: { execution_type: 'Codex Agent execution', error_message: text },
      },
    },
    { type: 'error', kind: 'exception', message: RunText.executionFailed(text), error: text },
  ],

  broken: (text: string): RunEvent[] => [
    { type: 'thinking-step', report: false, step: { title: StepTitle.responseProcessingError, next_action: 'continue' } },
    { type: 'error', kind: 'stream', message: RunText.processingError(text), error: text },
  ],

  /**
   * §5.4's shape (the run broke after it started, FAILED), with the limit's own words as the
   * message: "the task used more than 1.5 GiB of memory …" says more than "Error processing response".
   * No 2026 `code`: the task's own failure is a `runtime_error` (docs/protocol/wegent-protocol-2026.md §3.4).
   */
  limit: (text: string): RunEvent[] => [
    {
      type: 'thinking-step',
      report: false,
      step: {
        title: StepTitle.executionFailed,
        next_action: 'continue',
        details: { execution_type: 'Codex Agent execution', error_message: text },
      },
    },
    { type: 'error', kind: 'stream', message: text, error: text },
  ],

  /** The texts are the lost-worker watcher's too (libs/queue WorkerLost): whoever notices first ends the run. */
  workerLost: (protocol?: WegentProtocol): RunEvent[] => [WorkerLost.event(protocol)],

  failedInQueue: (reason: string): RunEvent[] => [
    { type: 'error', kind: 'stream', message: RunText.processingError(RunText.failedInQueue(reason)), error: reason },
  ],

  /** `protocol`: said when no `started` precedes it, so the relay folds the right generation. */
  cancelled: (stage: 'queued' | 'running', protocol?: WegentProtocol): RunEvent[] => [
    { type: 'cancelled', stage, ...(protocol === '2026' && { protocol }) },
  ],
} as const;
