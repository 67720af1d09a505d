import { randomBytes } from 'node:crypto';
import { readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { TASK_QUEUE_NAME, type StoredEvent } from '@wegent-codex/contracts';
import { EventLogRepository, foldCallbacks, isSupersededBy, RedisKeys, type PlannedCallback } from '@wegent-codex/event-log';
import { redisOptionsFromUrl } from '@wegent-codex/runtime';
import { FakeExecutorManager } from '../fixtures/fake-executor-manager';
import { startFakeResponses, type FakeResponses } from '../fixtures/fake-responses';
import { ModelRouter, taskMarker, type Callback } from '../support/service-app';
import { freePort, ServiceProcess } from '../support/service-process';
import { waitRelayDone } from '../support/relay-done';
import { dropPrefix, testConfig } from '../support/test-config';

/**
 * A multi-process scene for the reliability suite: the service's roles as separate OS processes
 * (built once per Jest run), a fake model and a fake executor_manager in the test process, a Redis
 * prefix and a workspace of its own. `close()` kills every process it started — and every process still
 * running under its workspace (orphaned Codex commands) — then removes keys and files.
 */
export const RELIABILITY_ENV: Record<string, string> = {
  EXECUTOR_NAME: 'codex-rel',
  CALLBACK_COALESCE_MS: '100',
  CALLBACK_RETRY_BASE_MS: '50',
  CALLBACK_RETRY_MAX_MS: '500',
  CALLBACK_TIMEOUT_MS: '5000',
  CODEX_REQUEST_MAX_RETRIES: '0',
  CODEX_STREAM_MAX_RETRIES: '0',
  CODEX_STREAM_IDLE_TIMEOUT_MS: '120000',
  CODEX_IDLE_TIMEOUT_MS: '120000',
  CANCEL_GRACE_MS: '1000',
  JOB_LOCK_MS: '5000',
  RELAY_CLAIM_IDLE_MS: '2000',
};

const API_KEY = 'sk-rel-SECRET-6b7c8d9e0f1a2b3c';

export interface SceneOptions {
  env?: Record<string, string>;
  /** Another Redis than the shared one (the Redis-restart test runs its own). */
  redisUrl?: string;
}

export class ReliabilityScene {
  readonly processes: ServiceProcess[] = [];
  readonly redis: Redis;
  readonly queue: Queue;
  readonly events: EventLogRepository;
  private apiUrl?: string;

  private constructor(
    readonly name: string,
    readonly env: Record<string, string>,
    readonly workspaceRoot: string,
    readonly fake: FakeResponses,
    readonly router: ModelRouter,
    readonly em: FakeExecutorManager,
  ) {
    this.redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null, retryStrategy: () => 100 });
    this.queue = new Queue(TASK_QUEUE_NAME, { connection: redisOptionsFromUrl(env.REDIS_URL), prefix: env.REDIS_PREFIX });
    this.events = new EventLogRepository(this.redis, new RedisKeys(env.REDIS_PREFIX));
  }

  static async create(name: string, options: SceneOptions = {}): Promise<ReliabilityScene> {
    const workspaceRoot = resolve(__dirname, '../../.data/test-rel', `${name}-${randomBytes(4).toString('hex')}`);
    const fake = await startFakeResponses();
    const router = new ModelRouter(fake);
    const em = await FakeExecutorManager.start();
    const config = testConfig(`rel-${name}`, options.redisUrl ? { REDIS_URL: options.redisUrl } : {});
    const env = {
      ...RELIABILITY_ENV,
      REDIS_URL: config.REDIS_URL,
      REDIS_PREFIX: config.REDIS_PREFIX,
      WORKSPACE_ROOT: workspaceRoot,
      CALLBACK_URL: em.url,
      ...options.env,
    };
    return new ReliabilityScene(name, env, workspaceRoot, fake, router, em);
  }

  /**
   * Starts a service process with `roles` (and `env` on top of the scene's). A process with the
   * api role listens on a free port, which `execute` then uses.
   */
  async start(roles: string[], env: Record<string, string> = {}, name = roles.join('+')): Promise<ServiceProcess> {
    const port = roles.includes('api') ? await freePort() : undefined;
    const service = await ServiceProcess.start(`${this.name}:${name}`, roles, {
      ...this.env,
      ...(port ? { PORT: String(port) } : {}),
      ...env,
    });
    this.processes.push(service);
    if (port) this.apiUrl = `http://127.0.0.1:${port}`;
    return service;
  }

  get baseUrl(): string {
    if (!this.apiUrl) throw new Error('no api process started in this scene');
    return this.apiUrl;
  }

  taskDir(taskId: number): string {
    return join(this.workspaceRoot, String(taskId));
  }

  /** A Codex task payload for the scene's fake model; the prompt carries the task's marker. */
  payload(taskId: number, subtaskId: number, prompt: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      task_id: taskId,
      subtask_id: subtaskId,
      type: 'online',
      executor_name: '',
      task_title: `Reliability ${taskId}`,
      subtask_title: `Reliability ${taskId}.${subtaskId}`,
      user: { id: 7, name: 'alice', git_token: null },
      bot: [
        {
          id: 41,
          name: 'codex-dev',
          shell_type: 'Codex',
          agent_config: { env: { model: 'openai', model_id: 'wegent-rel-model', api_key: API_KEY, base_url: this.fake.baseUrl } },
          system_prompt: 'Be brief.',
          mcp_servers: {},
          skills: [],
        },
      ],
      git_url: '',
      prompt: `${taskMarker(taskId)} ${prompt}`,
      auth_token: null,
      attachments: [],
      ...overrides,
    };
  }

  /** `POST /api/tasks/execute`; expects the executor's 200 answer. */
  async execute(taskId: number, subtaskId: number, prompt: string): Promise<void> {
    const body = this.payload(taskId, subtaskId, prompt);
    const res = await fetch(`${this.baseUrl}/api/tasks/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`execute ${taskId}.${subtaskId}: HTTP ${res.status} ${text}`);
  }

  /** Delivered callbacks of one subtask (repeats included), in arrival order. */
  callbacksOf(taskId: number, subtaskId: number): Callback[] {
    return (this.em.bySubtask().get(`${taskId}:${subtaskId}`) ?? []).map((c) => c.body as unknown as Callback);
  }

  /** Waits for the subtask's terminal callback (progress 100) and returns it. */
  async waitTerminal(taskId: number, subtaskId: number, timeoutMs = 60_000): Promise<Callback> {
    try {
      await this.em.waitFor(
        () => this.callbacksOf(taskId, subtaskId).some((c) => c.progress === 100),
        timeoutMs,
        `terminal callback of ${taskId}.${subtaskId}`,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${this.processes.map((p) => p.tail(15)).join('\n')}`);
    }
    return this.callbacksOf(taskId, subtaskId).find((c) => c.progress === 100)!;
  }

  /** Waits until the relay is through with the subtask: nothing of it is left to send (see waitRelayDone). */
  waitRelayDone(taskId: number, subtaskId: number, timeoutMs?: number): Promise<void> {
    return waitRelayDone({ REDIS_URL: this.env.REDIS_URL, REDIS_PREFIX: this.env.REDIS_PREFIX }, taskId, subtaskId, timeoutMs);
  }

  /** The subtask's event log (the source of truth) as stored in Redis. */
  eventLog(taskId: number, subtaskId: number): Promise<StoredEvent[]> {
    return this.events.read(taskId, subtaskId);
  }

  /** The callbacks the log folds into (what a relay must deliver, text snapshots aside). */
  async plannedCallbacks(taskId: number, subtaskId: number): Promise<PlannedCallback[]> {
    return foldCallbacks(taskId, subtaskId, await this.eventLog(taskId, subtaskId), {
      executorName: this.env.EXECUTOR_NAME,
      executorNamespace: '',
    });
  }

  /**
   * Asserts that the subtask's callbacks arrived complete and in order, compared with its event
   * log: every delivered callback is one the log folds into (same body), in log order, exactly one
   * terminal and it is last, nothing delivered twice, and nothing is missing — only text snapshots made redundant by a later
   * callback may be left out (coalescing).
   */
  async expectCompleteDelivery(taskId: number, subtaskId: number): Promise<PlannedCallback[]> {
    const planned = await this.plannedCallbacks(taskId, subtaskId);
    const keyOf = (p: PlannedCallback) => `wegent-codex:${taskId}:${subtaskId}:${p.eventId}`;
    const position = new Map(planned.map((p, i) => [keyOf(p), i]));
    const delivered = this.em.delivered().filter((c) => c.body.task_id === taskId && c.body.subtask_id === subtaskId);
    // At least once on the wire, but never twice for executor_manager: no Idempotency-Key delivered twice.
    expect(
      this.em
        .duplicates()
        .filter((c) => c.body.task_id === taskId && c.body.subtask_id === subtaskId)
        .map((c) => c.idempotencyKey),
    ).toEqual([]);
    const positions = delivered.map((c) => position.get(c.idempotencyKey ?? '') ?? -1);
    expect(positions).not.toContain(-1);
    expect(positions).toEqual([...new Set(positions)].sort((a, b) => a - b));
    delivered.forEach((c, i) => expect(c.body).toEqual(planned[positions[i]].body));
    const required = planned.filter((p, i) => !planned.slice(i + 1).some((later) => isSupersededBy(p, later)));
    expect(delivered.map((c) => c.idempotencyKey)).toEqual(expect.arrayContaining(required.map(keyOf)));
    const terminals = delivered.filter((c) => c.body.progress === 100);
    expect(terminals).toHaveLength(1);
    expect(delivered[delivered.length - 1]).toBe(terminals[0]);
    return planned;
  }

  /** Kills every process of the scene and every process left under its workspace, removes keys and files. */
  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.kill()));
    for (const pid of await processesUnder(this.workspaceRoot)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.em.close();
    await this.fake.close();
    await this.queue.close().catch(() => undefined);
    if (this.redis.status === 'ready')
      await dropPrefix({ REDIS_URL: this.env.REDIS_URL, REDIS_PREFIX: this.env.REDIS_PREFIX }).catch(() => undefined);
    this.redis.disconnect();
    await rm(this.workspaceRoot, { recursive: true, force: true });
  }
}

/** PIDs of live processes whose working directory is under `dir` and whose command line matches. */
export async function processesUnder(dir: string, commandLine: RegExp = /./): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      if (!commandLine.test(cmdline)) continue;
      const cwd = await readlink(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) found.push(Number(entry));
    } catch {
      // the process ended meanwhile, or is not ours to read
    }
  }
  return found;
}

/** True while `pid` is a live (non-zombie) process. */
export async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
