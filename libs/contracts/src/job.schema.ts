import { z } from 'zod';
import { wegentProtocolSchema } from './protocol.schema';
import { taskPayloadSchema } from './task-payload.schema';

/** The BullMQ queue executor_manager (or the API) enqueues Codex tasks into. */
export const TASK_QUEUE_NAME = 'codex-tasks';

/** Job id for a subtask: one job per (task_id, subtask_id), so a repeated post is one job. */
export const jobIdFor = (taskId: number, subtaskId: number): string => `task-${taskId}-sub-${subtaskId}`;

/**
 * BullMQ job data. Producers other than the API may put the payload inline (`payload`); the API
 * stores it under `payloadRef` (a Redis key, encrypted with SECRETS_KEY) so that no secret shows
 * in the job data or Bull Board.
 */
export const taskJobDataSchema = z
  .object({
    task_id: z.number().int().nonnegative(),
    subtask_id: z.number().int().nonnegative(),
    title: z.string().optional(),
    payload: taskPayloadSchema.optional(),
    payloadRef: z.string().optional(),
    enqueuedAt: z.string().optional(),
    traceparent: z.string().optional(),
    /** Protocol generation (shown on the board; the payload's own field decides the run); absent = 2025. */
    protocol: wegentProtocolSchema.optional(),
  })
  .refine((d) => d.payload !== undefined || d.payloadRef !== undefined, { message: 'payload or payloadRef is required' });
export type TaskJobData = z.infer<typeof taskJobDataSchema>;
