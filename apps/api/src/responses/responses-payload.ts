import type { z } from 'zod';
import {
  responsesBodySchema,
  responsesFieldsSchema,
  type ResponsesBody,
  type ResponsesBot,
  type ResponsesFields,
  type ResponsesModelConfig,
  type SkillRef,
  type TaskPayload,
} from '@wegent-codex/contracts';
import { normalizeMcpServers } from '@wegent-codex/workspace';

/**
 * The 2026 Responses body (docs/protocol/wegent-protocol-2026.md §2) as the service's task
 * payload (the 2025 shape of docs/protocol/wegent-protocol.md §2), so the worker runs it the way
 * it runs a 2025 task: model in `bot[0].agent_config.env`, instructions as `bot[0].system_prompt`,
 * MCP servers in `bot[0].mcp_servers`, skills in `bot[0].skills`. What has no 2025 equivalent
 * goes into `responses` (echo fields, per-turn model options) and a few 2026-only keys.
 */

export type ResponsesParse = { ok: true; payload: TaskPayload } | { ok: false; error: z.ZodError; prefix: string };

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const present = <T>(value: T | null | undefined): value is T => value !== null && value !== undefined;
/** Drops `undefined` (and `null`) members, so "absent" never overrides a value when spread. */
const defined = (value: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => present(v)));

/**
 * Validates and maps a body. The Wegent fields are read from `metadata` when it has a `task_id`,
 * else from the top level (the legacy flat form, §2.1).
 */
export function parseResponsesBody(body: unknown): ResponsesParse {
  const parsed = responsesBodySchema.safeParse(body);
  if (!parsed.success) return { ok: false, error: parsed.error, prefix: '' };
  const nested = isRecord(parsed.data.metadata) && present(parsed.data.metadata.task_id);
  const fields = responsesFieldsSchema.safeParse(nested ? parsed.data.metadata : body);
  if (!fields.success) return { ok: false, error: fields.error, prefix: nested ? 'metadata' : '' };
  return { ok: true, payload: toTaskPayload(parsed.data, fields.data) };
}

export function toTaskPayload(body: ResponsesBody, m: ResponsesFields): TaskPayload {
  const model = body.model_config ?? {};
  const [first, ...others] = m.bot;
  const { prompt, images } = promptOf(body.input);
  const repository = m.workspace?.repository;
  const reasoning = normalizeReasoning(model.reasoning);
  const skills = skillsOf(m, first);

  const bot0 = {
    ...first,
    agent_config: { ...(first.agent_config ?? {}), env: modelEnvOf(body, model, first) },
    system_prompt: body.instructions ?? first.system_prompt ?? null,
    mcp_servers: withTaskToken(mergeMcpServers(first, body.tools), m.auth_token),
    skills: skills.names,
  };

  return {
    task_id: m.task_id,
    subtask_id: m.subtask_id,
    type: m.type ?? null,
    executor_name: m.executor_name ?? null,
    executor_namespace: m.executor_namespace ?? null,
    subtask_title: m.subtask_title ?? null,
    task_title: m.task_title ?? null,
    user: m.user ?? null,
    bot: [bot0, ...others.map((bot) => ({ ...bot, mcp_servers: isRecord(bot.mcp_servers) ? bot.mcp_servers : null }))],
    team_id: m.team_id ?? null,
    mode: m.mode ?? null,
    git_domain: m.git_domain ?? repository?.gitDomain ?? null,
    git_repo: m.git_repo ?? repository?.gitRepo ?? null,
    git_repo_id: m.git_repo_id ?? repository?.gitRepoId ?? null,
    branch_name: m.branch_name ?? repository?.branchName ?? m.workspace?.branch ?? null,
    git_url: m.git_url ?? repository?.gitUrl ?? null,
    prompt,
    auth_token: m.auth_token ?? null,
    attachments: m.attachments ?? [],
    ...(m.validation_params ? { validation_params: m.validation_params } : {}),
    protocol: '2026',
    responses: {
      message_id: m.message_id ?? null,
      model: model.model_id ?? body.model ?? null,
      bot_name: m.bot_name ?? first.name ?? null,
      shell_type: first.shell_type ?? null,
      executor_name: m.executor_name ?? null,
      executor_namespace: m.executor_namespace ?? null,
      reasoning_effort: reasoning.effort ?? null,
      reasoning_summary: reasoning.summary ?? null,
      service_tier: serviceTierOf(model.service_tier),
      context_window: model.context_window ?? null,
      request_id: m.request_id ?? null,
    },
    ...(images.length ? { input_images: images } : {}),
    ...(Object.keys(skills.refs).length ? { skill_refs: skills.refs } : {}),
    backend_url: m.backend_url ?? null,
    ...(m.skip_git_clone ? { skip_git_clone: true } : {}),
    ...(m.new_session ? { new_session: true } : {}),
  } as TaskPayload;
}

/**
 * `model_config` as the 2025 `agent_config.env` (§2.4 → docs/protocol/wegent-protocol.md §2.4): what the body
 * gives wins over the bot's own binding, which usually names the model but holds no key.
 */
function modelEnvOf(body: ResponsesBody, model: ResponsesModelConfig, bot: ResponsesBot): Record<string, unknown> {
  const own = isRecord(bot.agent_config?.env) ? bot.agent_config.env : {};
  return {
    ...own,
    ...defined({
      model: model.model,
      model_id: model.model_id ?? (typeof own.model_id === 'string' && own.model_id.trim() ? undefined : body.model || undefined),
      api_key: model.api_key,
      base_url: model.base_url,
      custom_headers: model.default_headers,
    }),
  };
}

/** The efforts Codex 0.169 takes at `turn/start`; Wegent's `ultra` is its highest (§2.4). */
const EFFORTS = new Set(['minimal', 'low', 'medium', 'high', 'xhigh', 'max']);
const SUMMARIES = new Set(['auto', 'concise', 'detailed']);

/**
 * `model_config.reasoning` normalised as Wegent's Codex agent does (§2.4): an effort outside the
 * known set becomes `medium`, `ultra` the highest Codex has; an unknown summary is dropped (the
 * task's Codex config asks for `auto`). No `reasoning` object: nothing is set.
 */
export function normalizeReasoning(reasoning: unknown): { effort?: string; summary?: string } {
  if (!isRecord(reasoning)) return {};
  const effort = typeof reasoning.effort === 'string' ? reasoning.effort.trim().toLowerCase() : '';
  const summary = typeof reasoning.summary === 'string' ? reasoning.summary.trim().toLowerCase() : '';
  return {
    effort: effort === 'ultra' ? 'max' : EFFORTS.has(effort) ? effort : 'medium',
    ...(SUMMARIES.has(summary) ? { summary } : {}),
  };
}

/** `service_tier` (§2.4: `priority`, `default`, …) as a plain word: it ends up in the task's Codex config. */
export function serviceTierOf(tier: string | null | undefined): string | null {
  const word = tier?.trim().toLowerCase() ?? '';
  return /^[a-z0-9_-]{1,32}$/.test(word) ? word : null;
}

/**
 * `input` (§2.5): a string, content parts, or messages (the last `user` message counts). Text parts
 * are joined by blank lines; `input_image` parts become images.
 */
export function promptOf(input: string | unknown[]): { prompt: string; images: string[] } {
  if (typeof input === 'string') return { prompt: input, images: [] };
  const isMessage = (item: unknown): item is { role: unknown; content: unknown } => isRecord(item) && 'role' in item && 'content' in item;
  let parts: unknown[] = input;
  if (input.some(isMessage)) {
    const last = input.filter(isMessage).findLast((item) => item.role === 'user');
    if (!last) return { prompt: '', images: [] };
    if (typeof last.content === 'string') return { prompt: last.content, images: [] };
    parts = Array.isArray(last.content) ? last.content : [];
  }
  const texts: string[] = [];
  const images: string[] = [];
  for (const part of parts) {
    if (typeof part === 'string') texts.push(part);
    else if (!isRecord(part)) continue;
    else if ((part.type === 'input_text' || part.type === 'text') && typeof part.text === 'string') texts.push(part.text);
    else if (part.type === 'input_image') {
      const url =
        typeof part.image_url === 'string'
          ? part.image_url
          : isRecord(part.image_url) && typeof part.image_url.url === 'string'
            ? part.image_url.url
            : '';
      if (url) images.push(url);
    }
  }
  return { prompt: texts.join('\n\n'), images };
}

/**
 * MCP servers (§2.6): `bot[0].mcp_servers` (named Ghost entries) first, then the `tools` of type
 * `mcp`, merged by name — a later entry's fields win, but a server keeps its headers when the
 * later entry has none. `server_auth` is a header map and is used as the headers.
 */
export function mergeMcpServers(bot: ResponsesBot, tools: unknown[] | null | undefined): Record<string, unknown> {
  const servers: Record<string, Record<string, unknown>> = {};
  const add = (name: unknown, config: Record<string, unknown>) => {
    if (typeof name !== 'string' || name === '') return;
    servers[name] = { ...(servers[name] ?? {}), ...defined(config) };
  };
  if (Array.isArray(bot.mcp_servers)) {
    for (const entry of bot.mcp_servers) {
      if (!isRecord(entry)) continue;
      const { name, ...config } = entry;
      add(name, config);
    }
  } else if (isRecord(bot.mcp_servers)) {
    for (const [name, config] of Object.entries(normalizeMcpServers({ mcp_servers: bot.mcp_servers } as never)))
      if (isRecord(config)) add(name, config);
  }
  for (const tool of tools ?? []) {
    if (!isRecord(tool) || tool.type !== 'mcp') continue;
    add(tool.server_label, {
      type: tool.server_type ?? (present(tool.command) ? 'stdio' : 'streamable-http'),
      url: tool.server_url,
      headers: isRecord(tool.server_auth) && Object.keys(tool.server_auth).length ? tool.server_auth : undefined,
      command: tool.command,
      args: tool.args,
      env: tool.env,
    });
  }
  return servers;
}

/** `${{task_token}}` is the task's `auth_token` (§2.6); other placeholders are filled by the worker. */
function withTaskToken(servers: Record<string, unknown>, authToken: string | null | undefined): Record<string, unknown> {
  if (!authToken) return servers;
  const visit = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replace(/\$\{\{\s*task_token\s*\}\}/g, () => authToken);
    if (Array.isArray(value)) return value.map(visit);
    if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visit(v)]));
    return value;
  };
  return visit(servers) as Record<string, unknown>;
}

/**
 * Skills (§2.10): the names of `bot[0].skills`, `skill_names` and `preload_skills` (first
 * occurrence wins the order); ids and namespaces from the refs and `skill_configs`, so the worker
 * downloads by id without a lookup by name.
 */
export function skillsOf(
  m: ResponsesFields,
  bot: ResponsesBot,
): { names: string[]; refs: Record<string, { skill_id: string; namespace: string | null }> } {
  const names = [...new Set([...(bot.skills ?? []), ...(m.skill_names ?? []), ...(m.preload_skills ?? [])])];
  const refs: Record<string, { skill_id: string; namespace: string | null }> = {};
  const take = (name: string, ref: SkillRef | { skill_id?: unknown; namespace?: unknown }) => {
    const id = ref.skill_id;
    if (refs[name] || !((typeof id === 'number' && Number.isInteger(id)) || (typeof id === 'string' && id.trim() !== ''))) return;
    const namespace = typeof ref.namespace === 'string' && ref.namespace ? ref.namespace : (m.team_namespace ?? null);
    refs[name] = { skill_id: String(id).trim(), namespace };
  };
  for (const source of [m.skill_refs, m.preload_skill_refs, bot.skill_refs])
    for (const [name, ref] of Object.entries(source ?? {})) take(name, ref);
  for (const config of m.skill_configs ?? []) if (config.name) take(config.name, config);
  return { names, refs: Object.fromEntries(Object.entries(refs).filter(([name]) => names.includes(name))) };
}
