import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import type { z } from 'zod';
import {
  classifyRpcLine,
  threadResponseSchema,
  turnStartResponseSchema,
  type RpcNotification,
  type ThreadResponse,
} from '@wegent-codex/contracts';
import { ProcessTreeTracker } from './process-tree';
import { answerServerRequest, type ServerRequestAnswer } from './server-requests';
import { tomlKey, tomlValue, type TomlValue } from './toml';

/**
 * One `codex app-server` process spoken to over stdio JSON-RPC (docs/protocol/codex-cli-notes.md §3–§6, §15):
 * spawn, handshake, requests with bounded waits, notifications, automatic answers to server
 * requests, and a shutdown that leaves no process of the tree running.
 */

export const DEFAULT_OPT_OUT_NOTIFICATIONS: readonly string[] = [
  'account/rateLimits/updated',
  'item/reasoning/textDelta',
  'remoteControl/status/changed',
  'configWarning',
];

export interface ClientInfo {
  name: string;
  title: string;
  version: string;
}

export interface AppServerClientOptions {
  /** The native Codex binary (resolveCodexBinary). */
  bin: string;
  /** Work directory of the process (the task's checkout). */
  cwd: string;
  /**
   * The complete environment; nothing else is inherited (codexProcessEnv builds one). The API
   * key goes here, in the provider's `env_key` variable — never in `configOverrides`.
   */
  env: Record<string, string>;
  /**
   * Turns the command into the one spawned: the task's sandbox (libs/sandbox). The client then
   * talks to the wrapper's process, whose end is the end of everything inside it.
   */
  wrap?: (command: { file: string; args: string[]; cwd: string; env: Record<string, string> }) => {
    file: string;
    args: string[];
    cwd: string;
    env: Record<string, string>;
  };
  /** Root `-c key=value` options; visible to every local user in argv, so no secrets. */
  configOverrides?: Record<string, TomlValue>;
  clientInfo?: ClientInfo;
  optOutNotificationMethods?: readonly string[];
  /** Longest wait for any request's answer (default 60 s). */
  requestTimeoutMs?: number;
  /** Every stderr line, ANSI colours removed. Human logs: mask, log at debug, never parse. */
  onStderr?: (line: string) => void;
  /** Notifications from the very first line on (also those sent during the handshake). */
  onNotification?: (notification: RpcNotification) => void;
  /** Things worth a debug log: unparseable lines, answered server requests, listener errors. */
  onDiagnostic?: (message: string, details?: Record<string, unknown>) => void;
  /** Called with Date.now() for every stdout message (idle watchdogs). */
  onActivity?: (at: number) => void;
  /** Longest line read from the process's stdout or stderr before it is killed (default 32 MiB). */
  maxLineBytes?: number;
  /** How often descendants are recorded while the process runs (default 1000 ms; 0 = only on demand). */
  descendantScanMs?: number;
}

export interface AppServerExit {
  code: number | null;
  signal: string | null;
  /** Descendants still alive after the app-server was gone, SIGKILLed by us. */
  killedDescendants: number[];
  /** Descendants that could not be killed within the bound (should always be empty). */
  survivors: number[];
}

export class AppServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class AppServerRpcError extends AppServerError {
  constructor(
    readonly method: string,
    readonly code: number,
    readonly rpcMessage: string,
  ) {
    super(`${method} failed: ${rpcMessage} (code ${code})`);
  }
}

export class AppServerTimeoutError extends AppServerError {
  constructor(
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(`${method}: no answer from codex app-server within ${timeoutMs} ms`);
  }
}

export class AppServerExitedError extends AppServerError {
  constructor(
    readonly what: string,
    readonly code: number | null,
    readonly signal: string | null,
    /** The last stderr lines (unmasked: mask before logging). */
    readonly stderrTail: string[],
    /** Why the client killed it, when it did (an over-long line). */
    readonly reason?: string,
  ) {
    super(`${what}: ${reason ?? `codex app-server exited (${signal ? `signal ${signal}` : `code ${code}`})`}`);
  }
}

export type TurnStartResponse = z.infer<typeof turnStartResponseSchema>;

/** Text input item of `turn/start`. */
export function textInput(text: string): Record<string, unknown> {
  return { type: 'text', text, text_elements: [] };
}

export interface ThreadStartOptions {
  model: string;
  cwd: string;
  /** The bot's system prompt; fixed for the thread's life (§11). */
  developerInstructions?: string;
  /** Only when it differs from config.toml's `model_provider` (do not set a key in two places). */
  modelProvider?: string;
  /** Dotted config keys → JSON values for this thread. */
  config?: Record<string, unknown>;
}

export interface ThreadResumeOptions {
  threadId: string;
  model?: string;
  cwd: string;
  modelProvider?: string;
  config?: Record<string, unknown>;
}

export interface TurnStartOptions {
  threadId: string;
  /** A prompt, or UserInput items (`text`, `localImage`, `image`, `skill`, `mention`). */
  input: string | Record<string, unknown>[];
  effort?: string;
  summary?: string;
  clientUserMessageId?: string;
}

/** Always full access without approvals: the service runs inside an isolated worker (§4.3, §14). */
const THREAD_POLICY = { sandbox: 'danger-full-access', approvalPolicy: 'never' } as const;

/** What a resumed thread must report; anything else means it would run with other settings (§4.4). */
export function threadSettingsMismatches(response: ThreadResponse, expected: { modelProvider?: string } = {}): string[] {
  const out: string[] = [];
  const sandboxType = (response.sandbox as { type?: unknown } | undefined)?.type;
  if (sandboxType !== 'dangerFullAccess') out.push(`sandbox is ${JSON.stringify(response.sandbox)}`);
  if (response.approvalPolicy !== 'never') out.push(`approvalPolicy is ${JSON.stringify(response.approvalPolicy)}`);
  if (expected.modelProvider && response.modelProvider !== expected.modelProvider) {
    out.push(`modelProvider is ${JSON.stringify(response.modelProvider)}, expected ${expected.modelProvider}`);
  }
  return out;
}

interface Pending {
  method: string;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;
const STDERR_TAIL = 30;
/** After `exit`, how long stdout may take to deliver its last lines. */
const STDOUT_DRAIN_MS = 1_000;
const KILL_WAIT_MS = 5_000;
/** Longest stdout/stderr line taken from codex app-server (its own lines stay far below). */
const MAX_LINE_BYTES = 32 * 1_048_576;

export class AppServerClient {
  /** Date.now() of the last stdout message. */
  lastActivityAt = Date.now();
  /** Resolves once the process is gone and its leftover descendants are killed. Never rejects. */
  readonly exited: Promise<AppServerExit>;

  private readonly subprocess: ResultPromise;
  /** The process itself is gone (before stdout is drained and descendants are killed). */
  private readonly processExited: Promise<{ code: number | null; signal: string | null }>;
  private readonly tree: ProcessTreeTracker | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(n: RpcNotification) => void>();
  private readonly exitWatchers = new Set<(error: AppServerError) => void>();
  private readonly stderrTail: string[] = [];
  private readonly requestTimeoutMs: number;
  private readonly scanTimer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private exitStatus: { code: number | null; signal: string | null } | undefined;
  private spawnError: string | undefined;
  private lineOverflow: string | undefined;
  private shutdownPromise: Promise<AppServerExit> | undefined;

  /** Spawns `<bin> [-c k=v…] app-server` and completes the `initialize`/`initialized` handshake. */
  static async start(options: AppServerClientOptions): Promise<AppServerClient> {
    const client = new AppServerClient(options);
    try {
      await client.initialize(options);
    } catch (err) {
      await client.shutdown({ graceMs: 500 });
      throw err;
    }
    return client;
  }

  private constructor(private readonly options: AppServerClientOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    const args: string[] = [];
    for (const [key, value] of Object.entries(options.configOverrides ?? {})) {
      if (value === undefined || value === null) continue;
      args.push('-c', `${key.split('.').map(tomlKey).join('.')}=${tomlValue(value)}`);
    }
    args.push('app-server');

    const plain = { file: options.bin, args, cwd: options.cwd, env: options.env };
    const command = options.wrap ? options.wrap(plain) : plain;
    this.subprocess = execa(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      extendEnv: false,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      cleanup: true,
      forceKillAfterDelay: false,
    });
    const pid = this.subprocess.pid;
    this.tree = pid === undefined ? undefined : new ProcessTreeTracker(pid);
    const scanMs = options.descendantScanMs ?? 1_000;
    if (this.tree && scanMs > 0) {
      this.scanTimer = setInterval(() => this.tree?.scan(), scanMs);
      this.scanTimer.unref();
    }

    this.subprocess.stdin?.on('error', (err) => this.diagnostic('stdin error', { error: err.message }));
    const maxLine = options.maxLineBytes ?? MAX_LINE_BYTES;
    const stdoutClosed = new Promise<void>((resolve) => {
      if (!this.subprocess.stdout) return resolve();
      const lines = createInterface({ input: this.subprocess.stdout, crlfDelay: Infinity });
      this.limitLines(this.subprocess.stdout, lines, 'stdout', maxLine);
      lines.on('line', (line) => this.handleLine(line));
      lines.on('close', () => resolve());
    });
    if (this.subprocess.stderr) {
      const lines = createInterface({ input: this.subprocess.stderr, crlfDelay: Infinity });
      this.limitLines(this.subprocess.stderr, lines, 'stderr', maxLine);
      lines.on('line', (raw) => {
        const line = raw.replace(ANSI, '');
        this.stderrTail.push(line);
        if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
        options.onStderr?.(line);
      });
    }

    this.processExited = new Promise((resolve) => {
      this.subprocess.once('exit', (code, signal) => resolve({ code, signal }));
      void this.subprocess.then((result) => {
        if (result.failed && this.subprocess.pid === undefined) this.spawnError = result.shortMessage;
        resolve({ code: result.exitCode ?? null, signal: result.signal ?? null });
      });
    });
    this.exited = this.processExited.then(async (status) => {
      await Promise.race([stdoutClosed, delay(STDOUT_DRAIN_MS)]);
      return this.finish(status);
    });
  }

  /**
   * The task's commands can write into Codex's own stdout and stderr (`/proc/<pid>/fd/1`), and
   * readline buffers a line without bound: one endless line would take the worker's memory, and
   * every tenant on it. A line longer than the bound kills the process (the run ends as broken,
   * saying why).
   */
  private limitLines(stream: NodeJS.ReadableStream, lines: ReturnType<typeof createInterface>, name: string, maxBytes: number): void {
    let open = 0;
    stream.on('data', (chunk: Buffer) => {
      if (this.lineOverflow) return;
      const newline = chunk.lastIndexOf(10);
      open = newline === -1 ? open + chunk.length : chunk.length - newline - 1;
      if (open <= maxBytes) return;
      this.lineOverflow = `codex app-server wrote a line of more than ${maxBytes >= 1_048_576 ? `${Math.round(maxBytes / 1_048_576)} MiB` : `${Math.round(maxBytes / 1024)} KiB`} on ${name}; the run was stopped`;
      this.diagnostic('line over the limit: killing codex app-server', { stream: name, max_bytes: maxBytes });
      lines.close();
      this.subprocess.kill('SIGKILL');
    });
  }

  /** Why the client killed its own process (an over-long line), if it did. */
  get killedBecause(): string | undefined {
    return this.lineOverflow;
  }

  /** PID of the app-server (undefined only when spawning failed). */
  get pid(): number | undefined {
    return this.subprocess.pid;
  }

  get hasExited(): boolean {
    return this.exitStatus !== undefined;
  }

  /** Subscribe to server notifications; returns the unsubscribe function. */
  onNotification(listener: (notification: RpcNotification) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The first notification matching `predicate` from now on. Rejects after `timeoutMs` or when
   * the process exits first.
   */
  waitForNotification(predicate: (n: RpcNotification) => boolean, options: { timeoutMs?: number } = {}): Promise<RpcNotification> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      if (this.exitStatus) return reject(this.exitedError('waiting for a notification'));
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
        this.exitWatchers.delete(onExit);
      };
      const onExit = (error: AppServerError): void => {
        done();
        reject(error);
      };
      const unsubscribe = this.onNotification((n) => {
        if (!predicate(n)) return;
        done();
        resolve(n);
      });
      const timer = setTimeout(() => {
        done();
        reject(new AppServerTimeoutError('waiting for a notification', timeoutMs));
      }, timeoutMs);
      this.exitWatchers.add(onExit);
    });
  }

  /** Sends a request and resolves with its `result`; rejects on an RPC error, timeout or exit. */
  request(method: string, params?: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.exitStatus || this.shutdownPromise) return Promise.reject(this.exitedError(method));
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AppServerTimeoutError(method, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.write(params === undefined ? { id, method } : { id, method, params });
    });
  }

  async threadStart(options: ThreadStartOptions): Promise<ThreadResponse> {
    const result = await this.request('thread/start', {
      model: options.model,
      modelProvider: options.modelProvider,
      cwd: options.cwd,
      ...THREAD_POLICY,
      developerInstructions: options.developerInstructions,
      config: options.config,
    });
    return threadResponseSchema.parse(result);
  }

  /**
   * Resumes a persisted thread without sending its history back. Developer instructions cannot
   * change on resume (§4.4); check the answer with threadSettingsMismatches.
   */
  async threadResume(options: ThreadResumeOptions): Promise<ThreadResponse> {
    const result = await this.request('thread/resume', {
      threadId: options.threadId,
      model: options.model,
      modelProvider: options.modelProvider,
      cwd: options.cwd,
      ...THREAD_POLICY,
      config: options.config,
      excludeTurns: true,
    });
    return threadResponseSchema.parse(result);
  }

  /** Starts a turn. Subscribe to notifications first; the id in the answer may be provisional (§4.5). */
  async turnStart(options: TurnStartOptions): Promise<TurnStartResponse> {
    const result = await this.request('turn/start', {
      threadId: options.threadId,
      input: typeof options.input === 'string' ? [textInput(options.input)] : options.input,
      effort: options.effort,
      summary: options.summary,
      clientUserMessageId: options.clientUserMessageId,
    });
    return turnStartResponseSchema.parse(result);
  }

  /** Asks the running turn to stop; it then ends with `turn/completed {status: "interrupted"}`. */
  async turnInterrupt(threadId: string, turnId: string): Promise<void> {
    await this.request('turn/interrupt', { threadId, turnId });
  }

  /**
   * Interrupts the turn and waits (at most `timeoutMs`) for its `turn/completed`; true when it came.
   * The wait starts before the request: Codex may send `turn/completed` ahead of the interrupt's
   * response — often in the same read — and a wait begun after the response would miss it and sit
   * out its whole timeout (measured: 1 cancel in 3 on 0.169; with the cancel grace that was 3 s
   * more before the task's tree was gone and its next subtask could start).
   */
  async interruptTurn(threadId: string, turnId: string, options: { timeoutMs: number }): Promise<boolean> {
    const completed = this.waitForNotification((n) => n.method === 'turn/completed', options).then(
      () => true,
      () => false,
    );
    await this.turnInterrupt(threadId, turnId).catch(() => undefined);
    return completed;
  }

  /**
   * Stops the process (§15.2): record descendants, close stdin (Codex then kills its commands and
   * exits 0), SIGTERM after `graceMs`, SIGKILL after another `graceMs`, then SIGKILL every
   * recorded descendant still alive. Pending requests are rejected. Safe to call repeatedly.
   */
  shutdown(options: { graceMs?: number } = {}): Promise<AppServerExit> {
    this.shutdownPromise ??= this.stop(options.graceMs ?? 3_000);
    return this.shutdownPromise;
  }

  private async stop(graceMs: number): Promise<AppServerExit> {
    if (!this.exitStatus) {
      this.tree?.scan();
      this.subprocess.stdin?.end();
      if (!(await this.exitsWithin(graceMs))) {
        this.tree?.scan();
        this.subprocess.kill('SIGTERM');
        if (!(await this.exitsWithin(graceMs))) {
          this.tree?.scan();
          this.subprocess.kill('SIGKILL');
          if (!(await this.exitsWithin(KILL_WAIT_MS))) {
            throw new AppServerError(`codex app-server (pid ${this.pid}) did not exit after SIGKILL`);
          }
        }
      }
    }
    return this.exited;
  }

  private async exitsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const result = await Promise.race([this.processExited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return result;
  }

  private async initialize(options: AppServerClientOptions): Promise<void> {
    if (options.onNotification) this.onNotification(options.onNotification);
    try {
      await this.request('initialize', {
        clientInfo: options.clientInfo ?? { name: 'wegent_codex', title: 'Wegent Codex service', version: '1.0.0' },
        capabilities: {
          experimentalApi: false,
          requestAttestation: false,
          optOutNotificationMethods: [...(options.optOutNotificationMethods ?? DEFAULT_OPT_OUT_NOTIFICATIONS)],
        },
      });
    } catch (err) {
      if (this.spawnError) throw new AppServerError(`could not start ${options.bin}: ${this.spawnError}`);
      throw err;
    }
    this.write({ method: 'initialized' });
  }

  private handleLine(raw: string): void {
    const line = classifyRpcLine(raw);
    if (!line) return;
    this.lastActivityAt = Date.now();
    this.options.onActivity?.(this.lastActivityAt);
    switch (line.kind) {
      case 'invalid':
        this.diagnostic('unparseable stdout line', { reason: line.reason, line: line.raw.slice(0, 500) });
        return;
      case 'response': {
        const pending = typeof line.message.id === 'number' ? this.pending.get(line.message.id) : undefined;
        if (!pending) {
          this.diagnostic('response to an unknown request id', { id: line.message.id });
          return;
        }
        this.pending.delete(line.message.id as number);
        clearTimeout(pending.timer);
        if (line.message.error) {
          pending.reject(new AppServerRpcError(pending.method, line.message.error.code, line.message.error.message));
        } else {
          pending.resolve(line.message.result);
        }
        return;
      }
      case 'request': {
        const answer: ServerRequestAnswer = answerServerRequest(line.message.method);
        this.write({ id: line.message.id, ...answer });
        this.diagnostic('answered a server request', { method: line.message.method, answer });
        return;
      }
      case 'notification': {
        const { message } = line;
        if (message.method === 'item/started' && (message.params as { item?: { type?: unknown } })?.item?.type === 'commandExecution') {
          this.tree?.scan();
        }
        for (const listener of [...this.listeners]) {
          try {
            listener(message);
          } catch (err) {
            this.diagnostic('notification listener threw', { method: message.method, error: (err as Error).message });
          }
        }
        return;
      }
    }
  }

  private write(message: Record<string, unknown>): void {
    const stdin = this.subprocess.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return;
    stdin.write(`${JSON.stringify(message)}\n`);
  }

  private async finish(status: { code: number | null; signal: string | null }): Promise<AppServerExit> {
    this.exitStatus = status;
    if (this.scanTimer) clearInterval(this.scanTimer);
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(this.exitedError(pending.method));
      this.pending.delete(id);
    }
    for (const watcher of [...this.exitWatchers]) watcher(this.exitedError('waiting for a notification'));
    const { killed, survivors } = this.tree ? await this.tree.killAll(KILL_WAIT_MS) : { killed: [], survivors: [] };
    if (killed.length || survivors.length) this.diagnostic('killed leftover descendants', { killed, survivors });
    return { ...status, killedDescendants: killed, survivors };
  }

  private exitedError(what: string): AppServerError {
    if (!this.exitStatus) return new AppServerError(`${what}: codex app-server is shutting down`);
    return new AppServerExitedError(what, this.exitStatus.code, this.exitStatus.signal, [...this.stderrTail], this.lineOverflow);
  }

  private diagnostic(message: string, details?: Record<string, unknown>): void {
    this.options.onDiagnostic?.(message, details);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
