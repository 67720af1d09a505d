import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { backendGet, backendUrl, errorText, readCapped, TransferError, type DownloadLogger } from './backend-http';
import { DEFAULT_ZIP_LIMITS, extractSkillZip, invalidSkillName, type ZipLimits } from './skill-zip';

/**
 * Installs `bot[0].skills` into the task's `CODEX_HOME/skills` (docs/protocol/wegent-protocol.md §11.8), where
 * Codex discovers `<name>/SKILL.md`. Nothing here is fatal: every problem is logged once and
 * reported in `failed`, and the task runs with the skills that did install.
 */

export const SKILL_LOOKUP_TIMEOUT_MS = 30_000;
export const SKILL_DOWNLOAD_TIMEOUT_MS = 60_000;
/** Codex writes its built-in skills here; the only entry of the root kept across installs. */
export const CODEX_SYSTEM_SKILLS = '.system';
/** The lookup answer is a small JSON document; anything bigger is not one. */
const MAX_LOOKUP_BYTES = 1024 * 1024;

export interface InstallSkillsOptions {
  /** `bot[0].skills`; duplicates are installed once. */
  names: readonly string[] | null | undefined;
  /** The payload's `auth_token`; without it nothing can be downloaded. Never logged. */
  authToken: string | null | undefined;
  /** TASK_API_DOMAIN. */
  apiDomain: string;
  /** `CODEX_HOME/skills`; created when missing. */
  skillsRoot: string;
  /**
   * 2026 tasks (docs/protocol/wegent-protocol-2026.md §2.10): name → backend id and namespace, so the skill is
   * downloaded by id (`?namespace=…&task_id=…`) without the lookup by name.
   */
  refs?: Readonly<Record<string, { skill_id: string; namespace?: string | null }>>;
  /** Sent as `task_id` with a download by reference. */
  taskId?: number;
  logger: DownloadLogger;
  signal?: AbortSignal;
  lookupTimeoutMs?: number;
  downloadTimeoutMs?: number;
  limits?: Partial<ZipLimits>;
}

export interface SkillFailure {
  name: string;
  /** Why, for a person: `lookup: HTTP 500`, `Skill not found`, `Unsafe zip: …`. */
  error: string;
}

export interface SkillInstallResult {
  /** Names now present as `<skillsRoot>/<name>/`, in request order. */
  installed: string[];
  failed: SkillFailure[];
}

export const skillError = {
  noToken: 'No auth_token in the task payload: skills cannot be downloaded',
  notFound: 'Skill not found',
  noId: 'lookup: the answer has no items[0].metadata.labels.id',
  cancelled: 'Cancelled',
} as const;

/**
 * Wipes the skills installed before (everything in the root but `.system`), then downloads and
 * extracts each named skill. The wipe happens whatever follows, so the root always holds exactly
 * the skills this call installed — also when there is no token or no name.
 */
export async function installSkills(options: InstallSkillsOptions): Promise<SkillInstallResult> {
  const { skillsRoot, logger, signal } = options;
  const names = [...new Set(options.names ?? [])];
  const result: SkillInstallResult = { installed: [], failed: [] };
  const fail = (name: string, error: string) => {
    result.failed.push({ name, error });
    logger.warn({ skill: name, error }, 'skill not installed');
  };

  try {
    await mkdir(skillsRoot, { recursive: true });
    await wipeDownloadedSkills(skillsRoot, logger);
  } catch (error) {
    for (const name of names) fail(name, `IO error: ${errorText(error)}`);
    return result;
  }
  if (names.length === 0) return result;
  const authToken = options.authToken?.trim();
  if (!authToken) {
    for (const name of names) fail(name, skillError.noToken);
    return result;
  }

  const limits: ZipLimits = { ...DEFAULT_ZIP_LIMITS, ...options.limits };
  for (const name of names) {
    const invalid = invalidSkillName(name);
    if (invalid) {
      fail(name, invalid);
      continue;
    }
    if (signal?.aborted) {
      fail(name, skillError.cancelled);
      continue;
    }
    try {
      const ref = options.refs?.[name];
      const id = ref ? ref.skill_id : await lookUpSkillId(name, { ...options, authToken });
      const query = new URLSearchParams();
      if (ref?.namespace) query.set('namespace', ref.namespace);
      if (ref && options.taskId !== undefined) query.set('task_id', String(options.taskId));
      const zip = await backendGet(
        backendUrl(options.apiDomain, `/api/v1/kinds/skills/${encodeURIComponent(id)}/download${query.size ? `?${query}` : ''}`),
        { authToken, timeoutMs: options.downloadTimeoutMs ?? SKILL_DOWNLOAD_TIMEOUT_MS, signal },
        (body, response) => readCapped(body, response, limits.maxZipBytes),
      ).catch((error: unknown) => {
        throw stage('download', error);
      });
      const skill = await extractSkillZip(zip, name, skillsRoot, limits, signal);
      result.installed.push(name);
      logger.info({ skill: name, id, path: skill.path, files: skill.files, bytes: skill.bytes }, 'skill installed');
      if (!skill.hasSkillMd) logger.warn({ skill: name, path: skill.path }, 'skill has no SKILL.md: Codex will not discover it');
      if (skill.ignored > 0) logger.warn({ skill: name, ignored: skill.ignored }, `zip entries outside "${name}/" were not extracted`);
    } catch (error) {
      fail(name, signal?.aborted ? skillError.cancelled : errorText(error));
    }
  }
  logger.info({ installed: result.installed, failed: result.failed.length }, 'skills processed');
  return result;
}

/** `GET /api/v1/kinds/skills?name=<name>` → `items[0].metadata.labels.id`. */
async function lookUpSkillId(name: string, options: InstallSkillsOptions & { authToken: string }): Promise<string> {
  const url = backendUrl(options.apiDomain, `/api/v1/kinds/skills?name=${encodeURIComponent(name)}`);
  const text = await backendGet(
    url,
    { authToken: options.authToken, timeoutMs: options.lookupTimeoutMs ?? SKILL_LOOKUP_TIMEOUT_MS, signal: options.signal },
    async (body, response) => (await readCapped(body, response, MAX_LOOKUP_BYTES)).toString('utf8'),
  ).catch((error: unknown) => {
    throw stage('lookup', error);
  });
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new Error('lookup: the answer is not JSON');
  }
  const items = (answer as { items?: unknown } | null)?.items;
  if (!Array.isArray(items) || items.length === 0) throw new Error(skillError.notFound);
  const id = (items[0] as { metadata?: { labels?: { id?: unknown } } } | null)?.metadata?.labels?.id;
  if ((typeof id === 'string' && id.trim() !== '') || (typeof id === 'number' && Number.isFinite(id))) return String(id).trim();
  throw new Error(skillError.noId);
}

/** Removes every entry of the root but `.system` (which Codex wrote and will not write again). */
async function wipeDownloadedSkills(root: string, logger: DownloadLogger): Promise<void> {
  const removed: string[] = [];
  for (const entry of await readdir(root)) {
    if (entry === CODEX_SYSTEM_SKILLS) continue;
    await rm(join(root, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  if (removed.length > 0) logger.debug({ removed }, 'previously installed skills removed');
}

/** Prefixes a transfer failure with the step it happened in: `lookup: HTTP 500`. */
function stage(step: 'lookup' | 'download', error: unknown): Error {
  return new Error(`${step}: ${error instanceof TransferError ? error.message : errorText(error)}`);
}
