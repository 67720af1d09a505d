import type { Logger } from '@wegent-codex/runtime';
import type { SecretMasker } from '@wegent-codex/redaction';
import { findExecutable, runCommand, type CommandWrapper } from './git-command';
import { serviceGitEnv, type TaskGitPaths } from './task-git-home';

/**
 * `gh`/`glab auth login` for the task (docs/protocol/wegent-protocol.md §11.5): GitHub when the domain contains
 * `github` (any case), GitLab otherwise. The token goes on stdin (the original put it in a shell
 * string), the login lands in the task's GH_CONFIG_DIR/GLAB_CONFIG_DIR, and a missing CLI or a
 * failed login is only a warning, as in the original.
 */

export type CliLoginOutcome = 'ok' | 'failed' | 'not-installed' | 'skipped';

export interface CliLoginOptions {
  taskId: number;
  gitDomain: string;
  token: string;
  paths: TaskGitPaths;
  logger: Pick<Logger, 'debug' | 'warn'>;
  mask: SecretMasker;
  timeoutMs: number;
  /** PATH to find the CLI on (and for what it runs). */
  path: string;
  signal?: AbortSignal;
  /** The task's sandbox: the CLI reads config the task's commands can rewrite. */
  wrap?: CommandWrapper;
}

/** The CLI and its argv for a domain (no token in it). */
export function cliLoginCommand(gitDomain: string): { cli: 'gh' | 'glab'; args: string[] } {
  // `--hostname=<d>` in one argument: a domain can never be read as an option.
  return gitDomain.toLowerCase().includes('github')
    ? { cli: 'gh', args: ['auth', 'login', `--hostname=${gitDomain}`, '--with-token'] }
    : { cli: 'glab', args: ['auth', 'login', `--hostname=${gitDomain}`, '--stdin'] };
}

export async function loginGitCli(options: CliLoginOptions): Promise<CliLoginOutcome> {
  const { taskId, gitDomain, logger } = options;
  if (/[\s\u0000-\u001f\u007f]/.test(gitDomain) || gitDomain.startsWith('-')) {
    logger.warn({ task_id: taskId }, 'git_domain is not a host name; CLI login skipped');
    return 'skipped';
  }
  const { cli, args } = cliLoginCommand(gitDomain);
  const bin = await findExecutable(cli, options.path);
  if (!bin) {
    logger.debug({ task_id: taskId, cli }, `${cli} is not installed; CLI login skipped`);
    return 'not-installed';
  }
  const env = {
    ...serviceGitEnv(options.paths, options.path),
    GH_CONFIG_DIR: options.paths.ghConfigDir,
    GLAB_CONFIG_DIR: options.paths.glabConfigDir,
    GH_PROMPT_DISABLED: '1',
  };
  const result = await runCommand(bin, args, {
    env,
    input: `${options.token}\n`,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    wrap: options.wrap,
  });
  if (!result.ok) {
    logger.warn({ task_id: taskId, cli }, options.mask.maskText(`CLI authentication failed for ${gitDomain}: ${result.failure}`));
    return 'failed';
  }
  logger.debug({ task_id: taskId, cli }, `${cli} authenticated for ${gitDomain}`);
  return 'ok';
}
