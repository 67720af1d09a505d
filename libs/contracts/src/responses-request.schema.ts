import { z } from 'zod';
import { wegentUserSchema } from './task-payload.schema';

/**
 * The body today's executor_manager POSTs to `/v1/responses` (docs/protocol/wegent-protocol-2026.md
 * §2). Strict only on what a run cannot do without (the ids, a bot, an input); every other field
 * may be null or missing, and unknown keys pass (§2.2: forward compatibility). `null` counts as
 * absent everywhere (§2.1, `get_metadata_field`).
 */
const id = z.number().int().nonnegative();
const text = z.string().nullish();
const record = z.record(z.string(), z.unknown());

/** A skill reference (§2.3 `skill_refs`): name → where to download it. */
export const skillRefSchema = z.looseObject({
  skill_id: z.union([z.number().int(), z.string()]).nullish(),
  namespace: text,
});

/** `metadata.bot[]` (§2.7): `mcp_servers` is a list of named Ghost servers here (an object is accepted too). */
export const responsesBotSchema = z.looseObject({
  id: z.number().int().nullish(),
  name: text,
  shell_type: text,
  agent_config: record.nullish(),
  system_prompt: text,
  mcp_servers: z.union([z.array(z.unknown()), record]).nullish(),
  skills: z.array(z.string()).nullish(),
  skill_refs: z.record(z.string(), skillRefSchema).nullish(),
  role: text,
  base_image: text,
});

/** `metadata.attachments[]` (§2.9): before the pre-sync `{id, …}`, after it the sync result. */
export const responsesAttachmentSchema = z.looseObject({
  id: z.number().int(),
  original_filename: text,
  mime_type: text,
  file_size: z.number().nullish(),
  subtask_id: z.union([z.number().int(), z.string()]).nullish(),
  status: text,
  local_path: text,
  error: text,
});

/**
 * The Wegent fields (§2.3): in `metadata`, or at the top level of a legacy flat body whose
 * `metadata` has no `task_id` (§2.1).
 */
export const responsesFieldsSchema = z.looseObject({
  task_id: id,
  subtask_id: id,
  user: wegentUserSchema.nullish(),
  user_name: text,
  team_id: z.number().int().nullish(),
  team_namespace: text,
  bot: z.array(responsesBotSchema).min(1, 'must name the bot that runs the task'),
  bot_name: text,
  message_id: z.number().int().nullish(),
  user_subtask_id: z.number().int().nullish(),
  skill_names: z.array(z.string()).nullish(),
  skill_configs: z.array(z.looseObject({ name: text, skill_id: z.union([z.number().int(), z.string()]).nullish() })).nullish(),
  preload_skills: z.array(z.string()).nullish(),
  skill_refs: z.record(z.string(), skillRefSchema).nullish(),
  preload_skill_refs: z.record(z.string(), skillRefSchema).nullish(),
  attachments: z.array(responsesAttachmentSchema).nullish(),
  auth_token: text,
  backend_url: text,
  workspace: z
    .looseObject({
      repository: z
        .looseObject({
          gitUrl: text,
          gitRepo: text,
          gitRepoId: z.union([z.number(), z.string()]).nullish(),
          gitDomain: text,
          branchName: text,
        })
        .nullish(),
      branch: text,
    })
    .nullish(),
  request_id: text,
  executor_name: text,
  executor_namespace: text,
  skip_git_clone: z.boolean().nullish(),
  new_session: z.boolean().nullish(),
  type: text,
  mode: text,
  subtask_title: text,
  task_title: text,
  git_repo: text,
  git_url: text,
  git_domain: text,
  git_repo_id: z.union([z.number(), z.string()]).nullish(),
  branch_name: text,
  validation_params: record.nullish(),
});

/** `model_config` (§2.4). `reasoning` is read leniently: a bad value means "not set", never a 400. */
export const responsesModelConfigSchema = z.looseObject({
  model_id: text,
  model: text,
  api_key: text,
  base_url: text,
  default_headers: record.nullish(),
  reasoning: z.unknown().optional(),
  service_tier: text,
  context_window: z.number().int().positive().nullish(),
});

export const responsesBodySchema = z.looseObject({
  model: text,
  input: z.union([z.string(), z.array(z.unknown())]),
  instructions: text,
  tools: z.array(z.unknown()).nullish(),
  metadata: record.nullish(),
  model_config: responsesModelConfigSchema.nullish(),
});

export type ResponsesBody = z.infer<typeof responsesBodySchema>;
export type ResponsesFields = z.infer<typeof responsesFieldsSchema>;
export type ResponsesBot = z.infer<typeof responsesBotSchema>;
export type ResponsesModelConfig = z.infer<typeof responsesModelConfigSchema>;
export type SkillRef = z.infer<typeof skillRefSchema>;

/**
 * `POST /v1/attachments/sync` (§7.1): a flat request (`null` members omitted by the backend).
 */
export const attachmentSyncRequestSchema = z.looseObject({
  task_id: id,
  subtask_id: id,
  user_subtask_id: z.number().int().nullish(),
  auth_token: text,
  backend_url: text,
  attachments: z.array(responsesAttachmentSchema).nullish(),
});
export type AttachmentSyncRequest = z.infer<typeof attachmentSyncRequestSchema>;
