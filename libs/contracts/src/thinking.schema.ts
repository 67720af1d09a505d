import { z } from 'zod';

/** One Wegent thinking step (docs/protocol/wegent-protocol.md §6.1). `details` is omitted, never null. */
export const thinkingStepSchema = z.object({
  title: z.string(),
  next_action: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type ThinkingStep = z.infer<typeof thinkingStepSchema>;

/** Title keys and literal titles the service emits (docs/protocol/wegent-protocol.md §6.2). */
export const StepTitle = {
  initializeAgent: 'thinking.initialize_agent',
  attachmentsDownloaded: 'thinking.attachments_downloaded',
  system: 'thinking.system_message_received',
  assistant: 'thinking.assistant_message_received',
  user: 'thinking.user_message_received',
  success: 'thinking.task_execution_success',
  failed: 'thinking.task_execution_failed',
  responseProcessingError: 'thinking.response_processing_error',
  executionFailed: 'thinking.execution_failed',
  apiErrorRetry: 'thinking.api_error_retry',
  apiErrorMaxRetries: 'thinking.api_error_max_retries',
  preExecutionFailed: 'Pre-execution Failed',
} as const;
