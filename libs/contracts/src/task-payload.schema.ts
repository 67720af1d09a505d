import { z } from 'zod';
import { responsesRunSchema, wegentProtocolSchema } from './protocol.schema';

/**
 * The task payload Wegent's backend dispatches (docs/protocol/wegent-protocol.md §2). Strict on the fields the
 * service reads, tolerant of everything else: unknown keys pass through, every `user.*` field may
 * be null, repository fields may be "" or 0. A payload the backend really sends must never be
 * rejected.
 */
const nullableString = z.string().nullish();
const id = z.number().int().nonnegative();

export const wegentUserSchema = z.looseObject({
  id: z.number().int().nullish(),
  name: nullableString,
  git_domain: nullableString,
  git_token: nullableString,
  git_id: z.union([z.string(), z.number()]).nullish(),
  git_login: nullableString,
  git_email: nullableString,
  user_name: nullableString,
});

export const modelEnvSchema = z.looseObject({
  model: nullableString,
  model_id: nullableString,
  api_key: nullableString,
  base_url: nullableString,
  custom_headers: z.record(z.string(), z.unknown()).nullish(),
});

export const agentConfigSchema = z.looseObject({
  env: modelEnvSchema.nullish(),
});

export const botSchema = z.looseObject({
  id: z.number().int().nullish(),
  name: nullableString,
  shell_type: nullableString,
  agent_config: agentConfigSchema.nullish(),
  system_prompt: nullableString,
  mcp_servers: z.record(z.string(), z.unknown()).nullish(),
  mcpServers: z.record(z.string(), z.unknown()).nullish(),
  skills: z.array(z.string()).nullish(),
  role: nullableString,
  base_image: nullableString,
});

export const attachmentSchema = z.looseObject({
  id: z.number().int(),
  original_filename: nullableString,
  file_extension: nullableString,
  file_size: z.number().nullish(),
  mime_type: nullableString,
  /** 2026 only (docs/protocol/wegent-protocol-2026.md §2.9): set once the backend pre-synced the file (§7.1). */
  status: nullableString,
  local_path: nullableString,
  error: nullableString,
});

export const validationParamsSchema = z.looseObject({
  shell_type: nullableString,
  image: nullableString,
  shell_name: nullableString,
  validation_id: z.union([z.string(), z.number()]).nullish(),
});

export const taskPayloadSchema = z
  .looseObject({
    task_id: id,
    subtask_id: id,
    subtask_next_id: z.number().int().nullish(),
    type: z.string().nullish(),
    executor_name: nullableString,
    executor_namespace: nullableString,
    subtask_title: nullableString,
    task_title: nullableString,
    user: wegentUserSchema.nullish(),
    bot: z.array(botSchema),
    team_id: z.number().int().nullish(),
    mode: nullableString,
    git_domain: nullableString,
    git_repo: nullableString,
    git_repo_id: z.union([z.number(), z.string()]).nullish(),
    branch_name: nullableString,
    git_url: nullableString,
    prompt: nullableString,
    auth_token: nullableString,
    attachments: z.array(attachmentSchema).nullish(),
    validation_params: validationParamsSchema.nullish(),
    /** Protocol generation of the route that took the task; absent = 2025. */
    protocol: wegentProtocolSchema.optional(),
    /** 2026 only: what the Responses body adds beyond the 2025 payload. */
    responses: responsesRunSchema.optional(),
    /** 2026 only: `input_image` parts of the input (data or http(s) URLs), sent to Codex after the prompt. */
    input_images: z.array(z.string()).optional(),
    /** 2026 only: skill name → backend id and namespace, so no lookup by name is needed (§2.10). */
    skill_refs: z.record(z.string(), z.looseObject({ skill_id: z.string(), namespace: nullableString })).optional(),
    /** 2026 only: `metadata.backend_url`, the backend when TASK_API_DOMAIN is not set (§1.2, hop EX → BE). */
    backend_url: nullableString,
    /** 2026 only: the workspace is being restored; never clone (§2.8). */
    skip_git_clone: z.boolean().optional(),
    /** 2026 only: a pipeline stage changed; start a fresh Codex thread instead of resuming (§2.3, §4.4). */
    new_session: z.boolean().optional(),
  })
  .superRefine((payload, ctx) => {
    if (payload.type === 'validation' && !payload.validation_params) {
      ctx.addIssue({ code: 'custom', path: ['validation_params'], message: 'required when type is "validation"' });
    }
  });

export type TaskPayload = z.infer<typeof taskPayloadSchema>;
export type WegentUser = z.infer<typeof wegentUserSchema>;
export type Bot = z.infer<typeof botSchema>;
export type Attachment = z.infer<typeof attachmentSchema>;

/** `bot[0].shell_type` normalised the way the executor does: trimmed, lower-cased. */
export function shellTypeOf(payload: TaskPayload): string {
  return (payload.bot[0]?.shell_type ?? '').trim().toLowerCase();
}
