import type { TaskPayload } from '@wegent-codex/contracts';

/** What the intake gets back from enqueueing one subtask. */
export interface EnqueueResult {
  jobId: string;
  task_id: number;
  subtask_id: number;
  /** BullMQ state right after the add ("waiting", "delayed" when parked behind the task's running subtask, …). */
  state: string;
  /** False when the same (task_id, subtask_id) was already enqueued: the existing job is returned. */
  created: boolean;
}

export interface CancelOutcome {
  task_id: number;
  /** Subtasks of the task that were waiting or running and are now being cancelled. */
  cancelled: { subtask_id: number; stage: 'queued' | 'running' }[];
}

/** The queue-facing operations of the intake (implemented by TaskQueueService in this folder). */
export interface TaskQueuePort {
  enqueue(payload: TaskPayload, options?: { traceparent?: string }): Promise<EnqueueResult>;
  cancelTask(taskId: number, onlySubtask?: number): Promise<CancelOutcome>;
  /** Queue reachable (for /readyz): counts of waiting/active/delayed jobs and live workers. */
  health(): Promise<{ redis: boolean; workers: number; counts: Record<string, number> }>;
}
