import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { isAlive, listDescendants, listProcesses, readCmdline, signalPid } from '@wegent-codex/codex';
import type { Config } from '@wegent-codex/contracts';
import { bounded, REPO_ROOT, sleep } from './bench-context';

/** Memory of one process from /proc/<pid>/status, in KiB (undefined once it is gone). */
export function memoryOf(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system) a process has used so far, in ms (undefined once it is gone). */
export function cpuTimeMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Pids of every live descendant of `pid`. */
export const descendantsOf = (pid: number): number[] => listDescendants(pid).map((p) => p.pid);

/**
 * Live processes of this machine (any parent: orphans re-parented to PID 1 included) whose working
 * directory is in one of `dirs` or whose command line names a path in one: Codex, bwrap and the
 * commands of runs in those folders.
 */
export function processesUnder(dirs: readonly string[]): { pid: number; cmdline: string }[] {
  const inside = (path: string) => dirs.some((dir) => path === dir || path.startsWith(`${dir}/`));
  return listProcesses()
    .filter((p) => p.state !== 'Z' && p.pid !== process.pid)
    .map((p) => {
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${p.pid}/cwd`);
      } catch {
        /* gone, or not ours to read */
      }
      return { pid: p.pid, cwd, cmdline: readCmdline(p.pid) };
    })
    .filter((p) => inside(p.cwd) || dirs.some((dir) => p.cmdline.includes(`${dir}/`) || p.cmdline.split(' ').includes(dir)))
    .map(({ pid, cmdline }) => ({ pid, cmdline }));
}

/** SIGKILLs each pid that is still alive (by pid only); returns the ones that were. */
export function killPids(pids: readonly number[]): number[] {
  return pids.filter((pid) => isAlive(pid) && signalPid(pid, 'SIGKILL'));
}

/** A TCP port free on 127.0.0.1 right now (for a built api process, which logs the port it was given). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** What every built role process takes from `config`: its Redis, key prefix, executor name and log level. */
export function roleEnv(config: Config): Record<string, string> {
  return {
    REDIS_URL: config.REDIS_URL,
    REDIS_PREFIX: config.REDIS_PREFIX,
    EXECUTOR_NAME: config.EXECUTOR_NAME,
    LOG_LEVEL: config.LOG_LEVEL,
    EMBEDDED_REDIS: 'never',
  };
}

/**
 * A built worker's env for the service `config` describes: roleEnv plus its workspace root and
 * the Codex settings the bench sets (sandbox, provider retries, stream idle timeout), then `extra`.
 */
export function workerEnv(config: Config, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...roleEnv(config),
    WORKSPACE_ROOT: config.WORKSPACE_ROOT,
    SANDBOX: config.SANDBOX,
    CODEX_REQUEST_MAX_RETRIES: String(config.CODEX_REQUEST_MAX_RETRIES),
    CODEX_STREAM_MAX_RETRIES: String(config.CODEX_STREAM_MAX_RETRIES),
    CODEX_STREAM_IDLE_TIMEOUT_MS: String(config.CODEX_STREAM_IDLE_TIMEOUT_MS),
    ...extra,
  };
}

export interface BuiltService {
  pid: number;
  child: ChildProcess;
  /** The process's log lines (pino JSON), in order. */
  lines: string[];
  /** Resolves with the first log line whose `msg` is `message`. */
  waitForLog(message: string, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; then any descendant still alive is SIGKILLed. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: string | null; killedDescendants: number[] }>;
}

/** `node dist/apps/service/src/main.js <roles…>` with exactly `env` (plus PATH and HOME). */
export function spawnBuiltService(roles: string[], env: Record<string, string>, nodeArgs: string[] = []): BuiltService {
  const main = join(REPO_ROOT, 'dist', 'apps', 'service', 'src', 'main.js');
  const child = spawn(process.execPath, [...nodeArgs, main, ...roles], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${main}`);
  const pid = child.pid;
  const lines: string[] = [];
  const waiters = new Set<{ message: string; resolve: () => void }>();
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const onLine = (line: string) => {
    lines.push(line);
    let msg: unknown;
    try {
      msg = (JSON.parse(line) as { msg?: unknown }).msg;
    } catch {
      return;
    }
    for (const waiter of [...waiters]) if (waiter.message === msg) waiter.resolve();
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line));

  return {
    pid,
    child,
    lines,
    waitForLog(message, timeoutMs) {
      if (lines.some((line) => line.includes(`"msg":"${message}"`))) return Promise.resolve();
      let waiter!: { message: string; resolve: () => void };
      const seen = new Promise<void>((resolve) => {
        waiter = { message, resolve };
        waiters.add(waiter);
      });
      const died = exited.then(({ code, signal }) => {
        throw new Error(`the service exited (${signal ?? code}) before logging "${message}": ${lines.slice(-5).join(' | ')}`);
      });
      return bounded(Promise.race([seen, died]), timeoutMs, `log line "${message}" of pid ${pid}`).finally(() => waiters.delete(waiter));
    },
    async stop(graceMs = 15_000) {
      const family = descendantsOf(pid);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const result = await Promise.race([exited, sleep(graceMs).then(() => undefined)]);
      if (!result) {
        child.kill('SIGKILL');
        await bounded(exited, 5_000, `exit of pid ${pid} after SIGKILL`);
      }
      const { code, signal } = await exited;
      return { code, signal, killedDescendants: killPids([...family, ...descendantsOf(pid)]) };
    },
  };
}
