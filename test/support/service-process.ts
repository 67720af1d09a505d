import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { listDescendants, readProcStat, signalPid, waitForExit } from '@wegent-codex/codex';

/**
 * The built service (`node <build>/apps/service/src/main.js <roles>`) as a separate OS process, for
 * tests that kill, stop and restart processes. Its pino lines are captured; every wait is bounded.
 * The build is the one test/support/global-setup.ts made for this Jest run.
 */
function serviceMain(): string {
  const build = process.env.WEGENT_TEST_DIST;
  if (!build)
    throw new Error('WEGENT_TEST_DIST is not set: run Jest with jest.config.js, whose globalSetup builds the service for the run');
  return resolve(build, 'apps/service/src/main.js');
}

/** Variables of the test runner's own environment a service process may see; nothing else leaks in. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'NODE_EXTRA_CA_CERTS'];

export interface LogLine {
  level?: number;
  msg?: string;
  [field: string]: unknown;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceProcessOptions {
  /** Readiness: the log line to wait for (default: "wegent-codex started"). */
  readyMessage?: string;
  readyTimeoutMs?: number;
}

export class ServiceProcess {
  /** Parsed pino lines of stdout, in order (non-JSON lines as `{msg: <text>}`). */
  readonly lines: LogLine[] = [];
  readonly exited: Promise<ProcessExit>;
  private stderrText = '';
  private exitStatus?: ProcessExit;
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly name: string,
    readonly roles: string[],
    private readonly child: ChildProcess,
  ) {
    let partial = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) if (text.trim()) this.lines.push(parseLine(text));
      this.notify();
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrText = (this.stderrText + chunk).slice(-20_000);
    });
    this.exited = new Promise((done) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        this.notify();
        done(this.exitStatus);
      });
    });
  }

  /** Spawns the service with exactly `env` (plus PATH, HOME and locale) and waits until it is ready. */
  static async start(
    name: string,
    roles: string[],
    env: Record<string, string>,
    options: ServiceProcessOptions = {},
  ): Promise<ServiceProcess> {
    const inherited = Object.fromEntries(INHERITED_ENV.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));
    const child = spawn(process.execPath, [serviceMain(), ...roles], {
      cwd: resolve(__dirname, '../..'),
      env: {
        ...inherited,
        LOG_LEVEL: 'info',
        ...(process.env.TEST_CODEX_WARM_POOL ? { CODEX_WARM_POOL: process.env.TEST_CODEX_WARM_POOL } : {}),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(name, roles, child);
    const ready = options.readyMessage ?? 'wegent-codex started';
    try {
      await service.waitForLog((l) => l.msg === ready, options.readyTimeoutMs ?? 20_000, `"${ready}"`);
    } catch (error) {
      await service.kill();
      throw error;
    }
    return service;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  get stderr(): string {
    return this.stderrText;
  }

  /** Log lines whose `msg` contains `text`. */
  logs(text: string): LogLine[] {
    return this.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes(text));
  }

  /** The last lines of output, for failure messages. */
  tail(count = 30): string {
    const out = this.lines.slice(-count).map((l) => JSON.stringify(l));
    return [`--- ${this.name} (pid ${this.child.pid}) stdout ---`, ...out, `--- stderr ---`, this.stderrText.slice(-3_000)].join('\n');
  }

  /** Resolves with the first log line matching `predicate` (earlier lines included); bounded. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs: number, what = 'log line'): Promise<LogLine> {
    return new Promise((resolveLine, reject) => {
      const check = (): void => {
        const line = this.lines.find(predicate);
        if (line) {
          finish();
          resolveLine(line);
        } else if (this.exitStatus) {
          finish();
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exitStatus)}) before ${what}\n${this.tail()}`));
        }
      };
      const finish = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Sends `signal` and waits (bounded) for the exit; rejects if the process is still running then. */
  async signal(signal: NodeJS.Signals, timeoutMs: number): Promise<ProcessExit> {
    if (this.exitStatus) return this.exitStatus;
    this.child.kill(signal);
    const exit = await Promise.race([this.exited, delay(timeoutMs).then(() => undefined)]);
    if (!exit) throw new Error(`${this.name} did not exit within ${timeoutMs} ms of ${signal}\n${this.tail()}`);
    return exit;
  }

  /**
   * SIGKILLs the process together with its descendants in its own session — what `kill -9` of its
   * process group or the OOM killer of its cgroup does: no shutdown hook runs, and children (the
   * `codex app-server`) die at once instead of noticing their closed stdin. Processes that started a
   * session of their own (Codex's commands) survive, as they would. Returns the pids killed.
   */
  async killWithChildren(timeoutMs = 5_000): Promise<number[]> {
    const sid = readProcStat(this.pid)?.sid;
    const pids = [
      this.pid,
      ...listDescendants(this.pid)
        .filter((p) => p.sid === sid)
        .map((p) => p.pid),
    ];
    for (const pid of [...pids].reverse()) signalPid(pid, 'SIGKILL'); // children first: no graceful exit on a closed stdin
    await Promise.race([this.exited, delay(timeoutMs)]);
    const left = await waitForExit(pids, timeoutMs);
    if (left.length) throw new Error(`${this.name}: processes ${left.join(', ')} survived SIGKILL`);
    return pids;
  }

  /** SIGKILL and wait for the exit (never throws; for clean-up). */
  async kill(): Promise<void> {
    if (this.exitStatus) return;
    this.child.kill('SIGKILL');
    await Promise.race([this.exited, delay(5_000)]);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** A TCP port that was free a moment ago (for HTTP APIs and private Redis servers). */
export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? done(address.port) : fail(new Error('no port'))));
    });
  });
}

function parseLine(text: string): LogLine {
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as LogLine;
  } catch {
    // not pino output
  }
  return { msg: text };
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
