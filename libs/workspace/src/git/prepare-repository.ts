import { mkdirSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config, TaskPayload, WegentUser } from '@wegent-codex/contracts';
import type { Logger } from '@wegent-codex/runtime';
import { decryptGitToken } from '../git-token';
import { createSecretMasker, type SecretMasker } from '@wegent-codex/redaction';
import { checkGitUrl } from '../repo-url';
import { loginGitCli } from './cli-login';
import { DEFAULT_GIT_TIMEOUTS, runGit, type CommandWrapper, type GitTimeouts } from './git-command';
import { repoProxySettings } from './repo-proxy';
import { tokenDomainOf, tokenMayGoTo } from './token-host';
import {
  ensureTaskGitHome,
  serviceGitEnv,
  setGlobalConfig,
  storeCredentials,
  TASK_GIT_DIR,
  taskGitEnv,
  taskGitPaths,
  type TaskGitPaths,
} from './task-git-home';

/**
 * The repository part of a task's preparation (docs/protocol/wegent-protocol.md §11.1–§11.5): clone on the
 * first subtask, identity and hooks right after it, CLI logins and the repository proxy on every
 * subtask — all confined to the task directory.
 */

/** Folders of the task directory the service owns; a clone may not take their names. */
export const RESERVED_TASK_DIRS: readonly string[] = [TASK_GIT_DIR, '.wegent'];

export interface RepositoryConfig {
  /** ALLOW_FILE_GIT_URLS */
  allowFileUrls: boolean;
  /** GIT_TOKEN_AES_KEY */
  aesKey: string;
  /** GIT_TOKEN_AES_IV */
  aesIv: string;
  /** REPO_PROXY_CONFIG (raw JSON) */
  repoProxyConfig?: string;
}

export const repositoryConfigFrom = (
  config: Pick<Config, 'ALLOW_FILE_GIT_URLS' | 'GIT_TOKEN_AES_KEY' | 'GIT_TOKEN_AES_IV' | 'REPO_PROXY_CONFIG'>,
): RepositoryConfig => ({
  allowFileUrls: config.ALLOW_FILE_GIT_URLS,
  aesKey: config.GIT_TOKEN_AES_KEY,
  aesIv: config.GIT_TOKEN_AES_IV,
  repoProxyConfig: config.REPO_PROXY_CONFIG,
});

export type RepositoryPayload = Pick<TaskPayload, 'task_id' | 'git_url' | 'branch_name' | 'git_domain' | 'user'> &
  Partial<Pick<TaskPayload, 'skip_git_clone'>>;

export interface PrepareRepositoryOptions {
  payload: RepositoryPayload;
  /** WORKSPACE_ROOT/<task_id> (created when missing): the clone goes here. */
  taskDir: string;
  /** Where the task's git home (`.wegent-git/`: global config, credentials, gh/glab) lives; default taskDir. */
  stateDir?: string;
  /**
   * Runs every git/gh/glab command (the task's sandbox): the global config and CLI config they
   * read are files the task's own commands can rewrite between subtasks.
   */
  wrap?: CommandWrapper;
  config: RepositoryConfig;
  logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Aborts a running clone or login (the partial clone is removed). */
  signal?: AbortSignal;
  /** PATH to find git, gh and glab on; default: the service's PATH. */
  path?: string;
  timeouts?: Partial<GitTimeouts>;
}

export interface PreparedRepository {
  /** The clone (`<taskDir>/<repo_name>`); undefined without `git_url`. */
  repoDir?: string;
  /** Codex's working directory: the clone, else the task directory. */
  workDir: string;
  /** For the Codex process: the task's git/gh/glab configuration, no prompts. Holds no secret. */
  gitEnv: Record<string, string>;
  /** True only when this call cloned (a follow-up finds the clone and leaves it alone). */
  cloned: boolean;
  /** The git token in the forms it may appear in, for masking. */
  secrets: string[];
}

/** The pre-execute failure text of a clone (§5.5), with every secret masked. */
export function cloneFailureMessage(taskId: number, repoDir: string, gitStderr: string, mask: SecretMasker): string {
  return mask.maskText(`Agent[Codex][${taskId}] Failed to clone project to ${repoDir}: ${gitStderr.trim()}`);
}

export class CloneFailedError extends Error {
  override readonly name = 'CloneFailedError';
}

/**
 * The repository-local identity (§11.4): e-mail = `git_email`, else the GitHub noreply form when
 * `git_id` and `git_login` are set; name = `git_login`. Null when either is missing.
 */
export function gitIdentityOf(user: WegentUser | null | undefined): { name: string; email: string } | null {
  const login = user?.git_login ?? '';
  const gitId = user?.git_id === null || user?.git_id === undefined ? '' : String(user.git_id);
  const email = user?.git_email || (gitId && login ? `${gitId}+${login}@users.noreply.github.com` : '');
  return login && email ? { name: login, email } : null;
}

interface Remote {
  /** The URL given to `git clone` (and stored as origin): never with credentials. */
  cloneUrl: string;
  /** `scheme://host[:port]` for http(s) URLs: where the token may be sent. */
  origin?: string;
  /** Credentials written into git_url itself (moved into the credential store). */
  urlUser?: string;
  urlPassword?: string;
}

const decode = (value: string) => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

function remoteOf(gitUrl: string, kind: string): Remote {
  if (kind !== 'http' && kind !== 'https') return { cloneUrl: gitUrl };
  const url = new URL(gitUrl);
  const origin = `${url.protocol}//${url.host}`;
  if (!url.username && !url.password) return { cloneUrl: gitUrl, origin };
  const remote: Remote = {
    cloneUrl: '',
    origin,
    urlUser: decode(url.username) || undefined,
    urlPassword: decode(url.password) || undefined,
  };
  url.username = '';
  url.password = '';
  remote.cloneUrl = url.toString();
  return remote;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function prepareRepository(options: PrepareRepositoryOptions): Promise<PreparedRepository> {
  const { payload, taskDir, config, logger, signal } = options;
  const timeouts = { ...DEFAULT_GIT_TIMEOUTS, ...options.timeouts };
  const taskId = payload.task_id;
  signal?.throwIfAborted();
  const path = options.path ?? process.env.PATH ?? '';
  const gitUrl = payload.git_url ?? '';
  const gitDomain = payload.git_domain ?? '';

  const check = gitUrl.trim() === '' ? undefined : checkGitUrl(gitUrl, { allowFile: config.allowFileUrls });
  if (check && !check.ok) throw new Error(`Agent[Codex][${taskId}] Cannot clone the project: ${check.error}`);
  if (check?.ok && RESERVED_TASK_DIRS.includes(check.repoName)) {
    throw new Error(`Agent[Codex][${taskId}] Cannot clone the project: the repository name ${check.repoName} is reserved`);
  }
  const remote = check?.ok ? remoteOf(gitUrl, check.kind) : undefined;

  const userToken = decryptGitToken(payload.user?.git_token, config.aesKey, config.aesIv);
  const tokenDomain = tokenDomainOf(payload);
  // The user's token goes only to its own host; credentials written into git_url go to that URL.
  const userTokenForRemote = remote?.origin && userToken && tokenMayGoTo(remote.origin, tokenDomain) ? userToken : null;
  if (remote?.origin && userToken && !userTokenForRemote) {
    logger.warn(
      { task_id: taskId, git_host: new URL(remote.origin).host, user_git_domain: tokenDomain || null },
      "git credentials withheld: git_url names another host than the user's git domain",
    );
  }
  const token = userTokenForRemote ?? remote?.urlPassword ?? null;
  const user = payload.user?.user_name || remote?.urlUser || 'token';
  const secrets = [...new Set([userToken, token, remote?.urlPassword, token && Buffer.from(`${user}:${token}`).toString('base64')])].filter(
    (s): s is string => !!s,
  );
  const mask = createSecretMasker(secrets);

  mkdirSync(taskDir, { recursive: true }); // one metadata call, on the way to Codex's spawn
  const paths = taskGitPaths(options.stateDir ?? taskDir);
  await ensureTaskGitHome(paths);
  const gitEnv = taskGitEnv(paths);
  const env = serviceGitEnv(paths, path);
  const wrap = options.wrap;
  const writer = { env, timeoutMs: timeouts.commandMs, signal, wrap };

  // Before the clone, so the clone goes through the proxy too (the original sets it globally
  // first). Unlike the original, also without a token: a public repository needs the proxy too.
  if (gitDomain) await applyRepoProxy(paths, config.repoProxyConfig, gitDomain, writer, logger, taskId);

  let repoDir: string | undefined;
  let cloned = false;
  if (check?.ok && remote) {
    repoDir = join(taskDir, check.repoName);
    if (remote.origin && token) {
      const stored = await storeCredentials(paths, remote.origin, user, token, writer);
      if (!stored.ok) throw new Error(mask.maskText(`Agent[Codex][${taskId}] Failed to configure git credentials: ${stored.failure}`));
    }
    signal?.throwIfAborted();
    if (await exists(repoDir)) {
      logger.info({ task_id: taskId, repo_dir: repoDir }, 'Repository already cloned; clone skipped');
    } else if (payload.skip_git_clone) {
      // 2026: the workspace is being restored from an archive (docs/protocol/wegent-protocol-2026.md §2.8, §7.5).
      logger.info({ task_id: taskId }, 'skip_git_clone is set: no clone');
      repoDir = undefined;
    } else {
      await clone({
        taskId,
        repoDir,
        cloneUrl: remote.cloneUrl,
        branch: payload.branch_name?.trim() ?? '',
        env,
        timeoutMs: timeouts.cloneMs,
        signal,
        logger,
        mask,
        wrap,
      });
      cloned = true;
      await configureFreshClone({ taskId, repoDir, user: payload.user, writer, logger });
    }
  }

  // Every subtask, as the original (which does it when the agent is built, clone or not).
  if (gitDomain && userToken && tokenMayGoTo(gitDomain, tokenDomain)) {
    await loginGitCli({ taskId, gitDomain, token: userToken, paths, logger, mask, timeoutMs: timeouts.cliLoginMs, path, signal, wrap });
  }

  return { repoDir, workDir: repoDir ?? taskDir, gitEnv, cloned, secrets };
}

interface CloneOptions {
  taskId: number;
  repoDir: string;
  cloneUrl: string;
  branch: string;
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  logger: Pick<Logger, 'info'>;
  mask: SecretMasker;
  wrap?: CommandWrapper;
}

async function clone(options: CloneOptions): Promise<void> {
  const { taskId, repoDir, branch, mask } = options;
  options.logger.info({ task_id: taskId, repo_dir: repoDir, branch }, mask.maskText(`Cloning ${options.cloneUrl}`));
  const args = ['clone', ...(branch ? ['--branch', branch, '--single-branch'] : []), '--', options.cloneUrl, repoDir];
  const result = await runGit(args, { env: options.env, timeoutMs: options.timeoutMs, signal: options.signal, wrap: options.wrap });
  if (result.ok) return;
  // git removes its partial clone on failure, but not when it is killed: a directory left behind
  // would make the next subtask skip the clone.
  await rm(repoDir, { recursive: true, force: true });
  if (result.canceled && options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
  throw new CloneFailedError(cloneFailureMessage(taskId, repoDir, result.failure, mask));
}

interface FreshCloneOptions {
  taskId: number;
  repoDir: string;
  user: WegentUser | null | undefined;
  writer: { env: Record<string, string>; timeoutMs: number; signal?: AbortSignal; wrap?: CommandWrapper };
  logger: Pick<Logger, 'warn'>;
}

/** §11.4: hooks from `.githooks` and the identity, repository-local, only right after the clone. */
async function configureFreshClone({ taskId, repoDir, user, writer, logger }: FreshCloneOptions): Promise<void> {
  const local = (key: string, value: string) => runGit(['-C', repoDir, 'config', '--local', '--replace-all', key, value], writer);
  if (await isDirectory(join(repoDir, '.githooks'))) {
    const result = await local('core.hooksPath', '.githooks');
    if (!result.ok) logger.warn({ task_id: taskId }, `Could not set core.hooksPath: ${result.failure}`);
  }
  const identity = gitIdentityOf(user);
  if (!identity) {
    logger.warn(
      { task_id: taskId },
      'git identity not configured: user.git_login and an e-mail (git_email, or git_id for the noreply address) are required',
    );
    return;
  }
  for (const [key, value] of [
    ['user.name', identity.name],
    ['user.email', identity.email],
  ] as const) {
    const result = await local(key, value);
    if (!result.ok) logger.warn({ task_id: taskId }, `Could not set ${key}: ${result.failure}`);
  }
}

async function applyRepoProxy(
  paths: TaskGitPaths,
  raw: string | undefined,
  gitDomain: string,
  writer: { env: Record<string, string>; timeoutMs: number; signal?: AbortSignal },
  logger: Pick<Logger, 'debug' | 'warn'>,
  taskId: number,
): Promise<void> {
  const { settings, warning } = repoProxySettings(raw, gitDomain);
  if (warning) logger.warn({ task_id: taskId }, warning);
  for (const [key, value] of settings) {
    const result = await setGlobalConfig(paths, key, value, writer);
    if (result.ok) logger.debug({ task_id: taskId }, `Configured ${key} for domain ${gitDomain}`);
    else logger.warn({ task_id: taskId }, `Proxy configuration failed: ${result.failure}`);
  }
}
