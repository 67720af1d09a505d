import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { execa } from 'execa';

/**
 * How this service runs git (and the provider CLIs): argv arrays only, never a shell; a bounded
 * time; an environment built from scratch, so nothing of the service user's git setup (system or
 * global config, GIT_DIR, GIT_TRACE, askpass helpers, …) leaks into a task.
 */

export interface GitTimeouts {
  /** `git clone` (a large repository over a slow link takes a while). */
  cloneMs: number;
  /** Every other git command. */
  commandMs: number;
  /** `gh`/`glab auth login` (they call the provider's API to check the token). */
  cliLoginMs: number;
}

export const DEFAULT_GIT_TIMEOUTS: GitTimeouts = { cloneMs: 10 * 60_000, commandMs: 60_000, cliLoginMs: 30_000 };

/** Variables of the service's environment that git and the CLIs may see (TLS, proxies, time zone). */
const PASSED_ENV = [
  'TZ',
  'TMPDIR',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'ALL_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'all_proxy',
  'SSH_AUTH_SOCK',
];

const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface IsolatedEnvOptions {
  /** The file git treats as the global config (GIT_CONFIG_GLOBAL); system config is always off. */
  globalConfig: string;
  /** HOME of the command; unset when omitted. */
  home?: string;
  /** PATH to look commands up in; default: the service's PATH. */
  path?: string;
}

/** A complete environment for git: isolated config, no prompts, English messages. */
export function isolatedGitEnv(options: IsolatedEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, {
    PATH: options.path ?? process.env.PATH ?? DEFAULT_PATH,
    // Messages are parsed by nobody, but shown to users: keep them in one language.
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: options.globalConfig,
    GIT_TERMINAL_PROMPT: '0',
    // A host key or passphrase prompt would otherwise wait for the whole timeout.
    GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
  });
  if (options.home !== undefined) env.HOME = options.home;
  return env;
}

/**
 * Turns a command into the one actually spawned — the task's sandbox (libs/sandbox) for every
 * command that reads files a task could have written (its repository, its git and CLI config).
 */
export type CommandWrapper = (command: {
  file: string;
  args: string[];
  cwd?: string;
  env: Record<string, string>;
  /** Extra host folders this one command may write (a worker-private scratch folder), bound at their own paths. */
  writable?: string[];
}) => {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
};

export interface RunOptions {
  cwd?: string;
  /** Run through this wrapper (a sandbox); the command runs as is when omitted. */
  wrap?: CommandWrapper;
  /** Extra folders the wrapped command may write (CommandWrapper's `writable`). */
  writable?: string[];
  /** The whole environment (nothing of process.env is added). */
  env: Record<string, string>;
  timeoutMs: number;
  /** Written to stdin (secrets travel this way, never in argv); stdin is closed when omitted. */
  input?: string;
  signal?: AbortSignal;
}

export interface RunResult {
  ok: boolean;
  /** Undefined when the command did not exit on its own (timeout, signal, spawn failure). */
  exitCode?: number;
  stdout: string;
  stderr: string;
  /** Why it failed, for an error message: git's stderr, else a timeout/signal/exit description. */
  failure: string;
  canceled: boolean;
}

/** Runs `file args` and never throws: a failure is described in the result. */
export async function runCommand(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const command = options.wrap
    ? options.wrap({
        file,
        args: [...args],
        cwd: options.cwd,
        env: options.env,
        ...(options.writable ? { writable: options.writable } : {}),
      })
    : { file, args: [...args], cwd: options.cwd, env: options.env };
  const result = await execa(command.file, command.args, {
    cwd: command.cwd,
    env: command.env,
    extendEnv: false,
    reject: false,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    forceKillAfterDelay: 5_000,
    stripFinalNewline: false,
    maxBuffer: 64 * 1024 * 1024,
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
  });
  const stdout = typeof result.stdout === 'string' ? result.stdout : '';
  const stderr = typeof result.stderr === 'string' ? result.stderr : '';
  const exitCode = result.exitCode;
  if (!result.failed) return { ok: true, exitCode, stdout, stderr, failure: '', canceled: false };
  const failure =
    stderr.trim() ||
    (result.timedOut
      ? `timed out after ${options.timeoutMs} ms`
      : result.isCanceled
        ? 'canceled'
        : result.signal
          ? `killed by ${result.signal}`
          : result.exitCode !== undefined
            ? `exit code ${result.exitCode}`
            : // Spawn failures (ENOENT, …): execa's original message names the file, not the argv.
              (result as { originalMessage?: string }).originalMessage || 'failed to start');
  return { ok: false, exitCode, stdout, stderr, failure, canceled: result.isCanceled };
}

/** `git args`, with the same contract as runCommand. */
export function runGit(args: readonly string[], options: RunOptions): Promise<RunResult> {
  return runCommand('git', args, options);
}

/** The executable `name` on `pathEnv`, or undefined (the PATH lookup a shell would do). */
export async function findExecutable(name: string, pathEnv: string): Promise<string | undefined> {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
