import { z } from 'zod';

/**
 * The 2026 callback envelope (docs/protocol/wegent-protocol-2026.md §3.1): one Responses-API stream event per
 * POST, forwarded verbatim by executor_manager to the backend's `/api/internal/callback`. Empty
 * optional fields are left out (the Rust executor drops them too).
 */
export const responsesCallbackSchema = z.object({
  event_type: z.string().min(1),
  task_id: z.number().int(),
  subtask_id: z.number().int(),
  message_id: z.number().int().optional(),
  executor_name: z.string().min(1).optional(),
  executor_namespace: z.string().min(1).optional(),
  data: z.record(z.string(), z.unknown()),
});
export type ResponsesCallback = z.infer<typeof responsesCallbackSchema>;

/** Event types the backend treats as terminal (§3.2, §3.6): exactly one per subtask, last. */
export const RESPONSES_TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set(['response.completed', 'error', 'response.incomplete']);

/** Block statuses (§3.5). */
export const blockStatusSchema = z.enum(['queued', 'pending', 'invoking', 'streaming', 'done', 'error', 'generating_arguments']);
export type BlockStatus = z.infer<typeof blockStatusSchema>;

/** A `tool` block as the web UI renders it (§3.5): the id is the Codex item id (upsert key). */
export const toolBlockSchema = z.object({
  id: z.string().min(1),
  type: z.literal('tool'),
  tool_use_id: z.string().min(1),
  tool_name: z.string(),
  tool_input: z.record(z.string(), z.unknown()),
  tool_output: z.unknown().optional(),
  display_name: z.string().optional(),
  status: blockStatusSchema,
  timestamp: z.number().int(),
});
export type ToolBlock = z.infer<typeof toolBlockSchema>;
