import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Redis } from 'ioredis';
import { configureHttpApp } from '../../apps/api/src';
import { AppModule } from '../../apps/service/src';
import type { Role } from '../../apps/service/src';
import type { Config, StoredEvent } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { FakeExecutorManager, type ReceivedCallback } from '../../test/fixtures/fake-executor-manager';
import type { FakeResponses } from '../../test/fixtures/fake-responses';
import { bounded, discardingLogger, type BenchContext } from './bench-context';
import { taskMarker } from './model-scripts';

/** Subtask id of every bench task (task ids are unique per run, so this never collides). */
export const SUBTASK_ID = 1;
export const BENCH_API_KEY = 'sk-bench-0123456789abcdef';
export const BENCH_MODEL = 'wegent-bench-model';
export const SYSTEM_PROMPT = 'Be brief.';
export const BENCH_PROMPT = 'Please write a greeting to result.txt';
/**
 * Keep-alive of the fake executor_manager: uvicorn's default (5 s). The fake's own default (1 s)
 * is below what Node's fetch needs to reuse a connection, which would add a TCP connect to every
 * callback that a real executor_manager does not cause.
 */
export const EM_KEEP_ALIVE_MS = 5_000;

/** A minimal executor_manager payload for a Codex bot talking to the fake model. */
export function benchPayload(taskId: number, modelBaseUrl: string): Record<string, unknown> {
  return {
    task_id: taskId,
    subtask_id: SUBTASK_ID,
    type: 'online',
    executor_name: '',
    task_title: `Bench task ${taskId}`,
    subtask_title: `Bench task ${taskId} - Assistant`,
    user: { id: 7, name: 'bench', git_token: null },
    bot: [
      {
        id: 41,
        name: 'codex-bench',
        shell_type: 'Codex',
        agent_config: { env: { model: 'openai', model_id: BENCH_MODEL, api_key: BENCH_API_KEY, base_url: modelBaseUrl } },
        system_prompt: SYSTEM_PROMPT,
        mcp_servers: {},
        skills: [],
      },
    ],
    git_url: '',
    prompt: `${BENCH_PROMPT} ${taskMarker(taskId)}`,
    auth_token: null,
    attachments: [],
  };
}

/** 2026 callbacks that end a response (docs/protocol/wegent-protocol-2026.md §3). */
const TERMINAL_2026 = new Set(['response.completed', 'response.incomplete', 'error']);

/** COMPLETED/FAILED/CANCELLED (2025, progress 100) or the end of a 2026 response. */
const isTerminal = (body: Record<string, unknown>): boolean =>
  body.progress === 100 || (typeof body.event_type === 'string' && TERMINAL_2026.has(body.event_type));

/** The callbacks a fake executor_manager received, indexed incrementally (cheap to poll from waitFor). */
export class CallbackLog {
  private seen = 0;
  readonly byTask = new Map<number, ReceivedCallback[]>();
  /** First terminal callback per task (2025: progress 100; 2026: completed, incomplete or error). */
  readonly terminal = new Map<number, ReceivedCallback>();

  constructor(readonly em: FakeExecutorManager) {}

  update(): this {
    const { requests } = this.em;
    for (; this.seen < requests.length; this.seen += 1) {
      const callback = requests[this.seen];
      const taskId = Number(callback.body.task_id);
      const list = this.byTask.get(taskId);
      if (list) list.push(callback);
      else this.byTask.set(taskId, [callback]);
      if (isTerminal(callback.body) && !this.terminal.has(taskId)) this.terminal.set(taskId, callback);
    }
    return this;
  }

  async waitTerminal(taskIds: readonly number[], timeoutMs: number): Promise<void> {
    const all = () => taskIds.every((id) => this.update().terminal.has(id));
    await this.em.waitFor(all, timeoutMs, `terminal callbacks of ${taskIds.length} task(s)`);
  }
}

/** Bytes of one callback request body as sent (Content-Length, or the re-serialised body). */
export function bodyBytes(callback: ReceivedCallback): number {
  const length = Number(callback.headers['content-length']);
  return Number.isFinite(length) && length > 0 ? length : Buffer.byteLength(JSON.stringify(callback.body));
}

/** POST /api/tasks/execute of a bench task to the API at `baseUrl`; resolves with Date.now() taken right before the request. */
export async function submitTask(baseUrl: string, taskId: number, modelBaseUrl: string): Promise<number> {
  const postedAt = Date.now();
  const response = await bounded(
    fetch(`${baseUrl}/api/tasks/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(benchPayload(taskId, modelBaseUrl)),
    }),
    30_000,
    `POST /api/tasks/execute (task ${taskId})`,
  );
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST /api/tasks/execute answered ${response.status}: ${text.slice(0, 300)}`);
  return postedAt;
}

export interface InProcessService {
  config: Config;
  baseUrl: string;
  em?: FakeExecutorManager;
  callbacks?: CallbackLog;
  /** POST /api/tasks/execute; resolves with Date.now() taken right before the request. */
  submit(taskId: number): Promise<number>;
  /** POST /api/tasks/cancel?task_id=… */
  cancel(taskId: number): Promise<void>;
  eventsOf(taskId: number): Promise<StoredEvent[]>;
  close(): Promise<void>;
}

/**
 * The service in this process, as `npm start` composes it (AppModule.forRoles + configureHttpApp),
 * on a free port, with the production logger writing nowhere. When the relay runs, a fake
 * executor_manager is its CALLBACK_URL and records every callback.
 */
export async function startInProcessService(
  ctx: BenchContext,
  part: string,
  fake: FakeResponses,
  options: { roles?: Role[]; env?: Record<string, string> } = {},
): Promise<InProcessService> {
  const roles = options.roles ?? ['api', 'worker', 'relay'];
  const em = roles.includes('relay') ? await FakeExecutorManager.start({ keepAliveTimeoutMs: EM_KEEP_ALIVE_MS }) : undefined;
  const closeEm = em ? ctx.defer(`fake executor_manager (${part})`, () => em.close()) : async () => undefined;
  const config = ctx.config(part, {
    WORKSPACE_ROOT: await ctx.dir(`workspace-${part}`),
    ...(em ? { CALLBACK_URL: em.url } : {}),
    CODEX_REQUEST_MAX_RETRIES: '0',
    CODEX_STREAM_MAX_RETRIES: '0',
    ...options.env,
  });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoles(config, roles, discardingLogger(config)), {
    bodyParser: false,
    logger: false,
  });
  const closeApp = ctx.defer(`service app (${part})`, () => app.close());
  configureHttpApp(app, config);
  await bounded(app.listen(0, '127.0.0.1'), 60_000, `starting the service (${part})`);
  const baseUrl = await app.getUrl();
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  const closeRedis = ctx.defer(`bench Redis connection (${part})`, () => redis.disconnect());
  const log = new EventLogRepository(redis, new RedisKeys(config.REDIS_PREFIX));

  return {
    config,
    baseUrl,
    em,
    callbacks: em ? new CallbackLog(em) : undefined,
    submit: (taskId) => submitTask(baseUrl, taskId, fake.baseUrl),
    async cancel(taskId) {
      const response = await bounded(
        fetch(`${baseUrl}/api/tasks/cancel?task_id=${taskId}`, { method: 'POST' }),
        30_000,
        `cancel of task ${taskId}`,
      );
      await response.text();
      if (response.status !== 200) throw new Error(`POST /api/tasks/cancel?task_id=${taskId} answered ${response.status}`);
    },
    eventsOf: (taskId) => log.read(taskId, SUBTASK_ID),
    async close() {
      await closeApp();
      await closeRedis();
      await closeEm();
    },
  };
}

/** Date.now() of the first event of `type` (and `phase`) in a subtask's log. */
export function eventTime(events: StoredEvent[], type: string, phase?: string): number | undefined {
  const found = events.find((e) => e.event.type === type && (phase === undefined || (e.event as { phase?: string }).phase === phase));
  return found ? Date.parse(found.event.timestamp) : undefined;
}
