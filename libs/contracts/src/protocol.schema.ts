import { z } from 'zod';

/**
 * Wegent's two executor protocol generations (docs/protocol/: 2025 and 2026). A subtask's
 * generation is fixed by the route that took it (`POST /api/tasks/execute` and `/v1/tasks` → 2025,
 * `POST /v1/responses` → 2026), travels with its payload and job, and is written into the run's
 * `started` event so that the relay can pick the fold from the event log alone.
 */
export const wegentProtocolSchema = z.enum(['2025', '2026']);
export type WegentProtocol = z.infer<typeof wegentProtocolSchema>;

/** Absent means 2025: every payload and log written before the 2026 path existed. */
export const protocolOf = (value: { protocol?: WegentProtocol | null } | undefined): WegentProtocol => value?.protocol ?? '2025';

/**
 * What a 2026 run needs beyond the 2025 payload (Responses body, docs/protocol/wegent-protocol-2026.md §2): the
 * fields its callbacks echo and the per-turn model options Codex takes at `turn/start`. Set by the
 * 2026 intake only; the 2025 path never has it.
 */
export const responsesRunSchema = z.looseObject({
  /** Echoed in every callback (`message_id`, §3). */
  message_id: z.number().int().nullish(),
  /** `model_config.model_id` (else `model`): the `model` of every `response` object (§3.4). */
  model: z.string().nullish(),
  /** For `response.created` (§3). */
  bot_name: z.string().nullish(),
  shell_type: z.string().nullish(),
  /** Echoed in every callback; EM overwrites them in `metadata` before dispatch. */
  executor_name: z.string().nullish(),
  executor_namespace: z.string().nullish(),
  /** `model_config.reasoning` (§2.4), already normalised by the intake. */
  reasoning_effort: z.string().nullish(),
  reasoning_summary: z.string().nullish(),
  service_tier: z.string().nullish(),
  context_window: z.number().int().positive().nullish(),
  /** `metadata.request_id`, for logs. */
  request_id: z.string().nullish(),
});
export type ResponsesRun = z.infer<typeof responsesRunSchema>;
