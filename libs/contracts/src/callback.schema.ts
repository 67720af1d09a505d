import { z } from 'zod';

/** executor_manager callback body (docs/protocol/wegent-protocol.md §4.2). Empty fields are left out. */
export const callbackStatusSchema = z.enum(['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED']);
export type CallbackStatus = z.infer<typeof callbackStatusSchema>;

export const callbackBodySchema = z.object({
  task_id: z.number().int(),
  subtask_id: z.number().int(),
  task_title: z.string(),
  subtask_title: z.string(),
  executor_name: z.string().optional(),
  executor_namespace: z.string().optional(),
  progress: z.number().int().min(0).max(100),
  status: callbackStatusSchema,
  error_message: z.string().optional(),
  result: z.record(z.string(), z.unknown()).optional(),
  task_type: z.string().optional(),
});
export type CallbackBody = z.infer<typeof callbackBodySchema>;

/** Exact texts the backend and frontend depend on (docs/protocol/wegent-protocol.md §13). */
export const CallbackMessage = {
  started: 'Task execution started',
  initializeAgent: '${{thinking.initialize_agent}}',
  cancelled: '${{tasks.cancel_task}}',
  noResult: 'No result',
  thinking: (title: string) => `Thinking: ${title}`,
} as const;
