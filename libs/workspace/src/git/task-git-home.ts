import { lstatSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { authenticatedUrl } from '../repo-url';
import { realDirectory, replaceFile } from '../safe-paths';
import { isolatedGitEnv, runGit, type CommandWrapper, type RunResult } from './git-command';

/**
 * The task's own git "global" state, in `<taskDir>/.wegent-git/`: the file GIT_CONFIG_GLOBAL
 * points at, the credential store behind it and the gh/glab config directories. Wegent's executor
 * writes these into the container user's global configuration; a service running many tasks keeps
 * them per task (docs/protocol/wegent-protocol.md §11.5), outside the repository, and hands the Codex process an
 * environment pointing at them.
 */

/** Directory name under the task directory (dotted, so it is unlikely to meet a repository name). */
export const TASK_GIT_DIR = '.wegent-git';

export interface TaskGitPaths {
  dir: string;
  /** GIT_CONFIG_GLOBAL of every git the task runs (ours and the agent's). */
  globalConfig: string;
  /** git credential-store file (0600) with the token for the clone's host. */
  credentials: string;
  /** GH_CONFIG_DIR */
  ghConfigDir: string;
  /** GLAB_CONFIG_DIR */
  glabConfigDir: string;
}

export function taskGitPaths(taskDir: string): TaskGitPaths {
  const dir = join(taskDir, TASK_GIT_DIR);
  return {
    dir,
    globalConfig: join(dir, 'gitconfig'),
    credentials: join(dir, 'credentials'),
    ghConfigDir: join(dir, 'gh'),
    glabConfigDir: join(dir, 'glab'),
  };
}

/**
 * Creates the directories and an (empty if new) global config file. The task's commands can
 * write here, so nothing that became a symlink is followed (it would point the service's writes —
 * the token among them — at another task's files).
 */
export async function ensureTaskGitHome(paths: TaskGitPaths): Promise<void> {
  for (const dir of [paths.dir, paths.ghConfigDir, paths.glabConfigDir]) await realDirectory(dirname(paths.dir), dir, 0o700);
  // Synchronous: one metadata call on the way to Codex's spawn (as the safe-paths helpers).
  let isFile = false;
  try {
    isFile = lstatSync(paths.globalConfig).isFile();
  } catch {
    // missing (or unreadable): written anew below
  }
  if (!isFile) await replaceFile(paths.globalConfig, '');
}

/**
 * Variables for the Codex process (and so every command the model runs): git reads the task's
 * config instead of the service user's, never prompts, and gh/glab keep their logins in the task.
 */
export function taskGitEnv(paths: TaskGitPaths): Record<string, string> {
  return {
    GIT_CONFIG_GLOBAL: paths.globalConfig,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GH_CONFIG_DIR: paths.ghConfigDir,
    GLAB_CONFIG_DIR: paths.glabConfigDir,
    GH_PROMPT_DISABLED: '1',
  };
}

/** The environment for git commands the service runs on behalf of the task. */
export function serviceGitEnv(paths: TaskGitPaths, path?: string): Record<string, string> {
  return isolatedGitEnv({ globalConfig: paths.globalConfig, home: paths.dir, path });
}

/** POSIX shell single quotes (the helper string below is run by `sh`). */
const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

export interface ConfigWriter {
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  wrap?: CommandWrapper;
}

/** `git config --file <global> --replace-all <key> <value>`; values are never secrets. */
export function setGlobalConfig(paths: TaskGitPaths, key: string, value: string, writer: ConfigWriter): Promise<RunResult> {
  return runGit(['config', '--file', paths.globalConfig, '--replace-all', key, value], writer);
}

/**
 * Makes `token` the password git offers for `origin` (`https://host[:port]`), for the clone and
 * for every later fetch/push of the agent: a credential-store file in the task directory, used
 * through a helper scoped to that origin. The token stays out of argv, out of the remote URL in
 * `.git/config` and out of logs; git only hands it to that host, and only when the host asks.
 */
export async function storeCredentials(
  paths: TaskGitPaths,
  origin: string,
  user: string,
  token: string,
  writer: ConfigWriter,
): Promise<RunResult> {
  await replaceFile(paths.credentials, `${authenticatedUrl(origin, user, token, { alwaysEncode: true })}\n`);
  return setGlobalConfig(paths, `credential.${origin}.helper`, `store --file=${shellQuote(paths.credentials)}`, writer);
}
