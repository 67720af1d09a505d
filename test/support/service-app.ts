import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { configureHttpApp } from '../../apps/api/src';
import { AppModule } from '../../apps/service/src';
import type { CallbackBody, Config } from '@wegent-codex/contracts';
import { FakeExecutorManager } from '../fixtures/fake-executor-manager';
import { message, startFakeResponses, toTurn, type FakeResponses, type RecordedRequest, type Turn } from '../fixtures/fake-responses';
import { memoryLogger } from './memory-logger';
import { waitRelayDone } from './relay-done';
import { dropPrefix, testConfig } from './test-config';

/**
 * The whole service in one process with every role (api, worker, relay) on a free port, against
 * real Redis under a prefix of its own, the real Codex binary, a scripted fake Responses API and a
 * fake executor_manager that records the callbacks. Shared by the e2e suites.
 */

/** A callback body as the fake executor_manager received it (`any`: tests read it freely). */
export type Callback = CallbackBody & Record<string, any>;
export type ThinkingStep = { title: string; next_action?: string; details?: Record<string, any> };

/** Environment every e2e app starts with: fast callbacks, no model retries. */
const BASE_ENV: Record<string, string> = {
  CALLBACK_COALESCE_MS: '100',
  CALLBACK_RETRY_BASE_MS: '50',
  CODEX_REQUEST_MAX_RETRIES: '0',
  CODEX_STREAM_MAX_RETRIES: '0',
};

export interface ServiceAppOptions {
  /** Config variables on top of the e2e defaults (WORKSPACE_ROOT and CALLBACK_URL are set here). */
  env?: Record<string, string>;
  /** More environment, from the fake model's base URL (for the service's default model). */
  fakeEnv?: (fakeBaseUrl: string) => Record<string, string>;
  /** Level of the in-memory logger whose lines end up in `logs`. */
  logLevel?: 'debug' | 'info' | 'trace';
}

export interface ServiceApp {
  fake: FakeResponses;
  em: FakeExecutorManager;
  app: NestExpressApplication;
  baseUrl: string;
  config: Config;
  /** Routes model requests to per-task scripts (see ModelRouter). */
  router: ModelRouter;
  workspaceRoot: string;
  /** Every log line the service wrote. */
  logs: string[];
  /** `POST /api/tasks/execute` with `payload` as the body. */
  execute(payload: Record<string, unknown>): Promise<{ status: number; body: any }>;
  /** Delivered callbacks of one subtask, in order. */
  callbacksOf(taskId: number, subtaskId: number): Callback[];
  /** Waits for the subtask's terminal callback (progress 100) and returns it. */
  waitTerminal(taskId: number, subtaskId: number, timeoutMs?: number): Promise<Callback>;
  /** Closes the app and the fakes, deletes the Redis keys and the workspace. */
  close(): Promise<void>;
}

export async function startServiceApp(name: string, options: ServiceAppOptions = {}): Promise<ServiceApp> {
  const workspaceRoot = resolve(__dirname, '../../.data/test-e2e', `${name}-${randomBytes(4).toString('hex')}`);
  const fake = await startFakeResponses();
  const router = new ModelRouter(fake);
  const em = await FakeExecutorManager.start();
  const config = testConfig(name, {
    WORKSPACE_ROOT: workspaceRoot,
    CALLBACK_URL: em.url,
    ...BASE_ENV,
    ...options.env,
    ...options.fakeEnv?.(fake.baseUrl),
  });
  const logs = memoryLogger(options.logLevel ?? 'info');
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoles(config, ['api', 'worker', 'relay'], logs.logger), {
    bodyParser: false,
    logger: false,
  });
  configureHttpApp(app, config);
  await app.listen(0, '127.0.0.1');
  const baseUrl = await app.getUrl();

  const callbacksOf = (taskId: number, subtaskId: number): Callback[] =>
    (em.bySubtask().get(`${taskId}:${subtaskId}`) ?? []).map((c) => c.body as unknown as Callback);

  return {
    fake,
    em,
    app,
    baseUrl,
    config,
    router,
    workspaceRoot,
    logs: logs.lines,
    async execute(payload) {
      const res = await fetch(`${baseUrl}/api/tasks/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    callbacksOf,
    async waitTerminal(taskId, subtaskId, timeoutMs = 90_000) {
      await em.waitFor(
        () => callbacksOf(taskId, subtaskId).some((c) => c.progress === 100),
        timeoutMs,
        `terminal callback of ${taskId}.${subtaskId}`,
      );
      return callbacksOf(taskId, subtaskId).find((c) => c.progress === 100)!;
    },
    async close() {
      await app.close();
      await em.close();
      await fake.close();
      await dropPrefix(config);
      await rm(workspaceRoot, { recursive: true, force: true });
    },
  };
}

export interface TaskPayloadOptions {
  /** The bot model's api key (tests assert it never leaks). */
  apiKey: string;
  /** Default `wegent-e2e-model`: unknown to Codex, so the worker writes its catalog entry. */
  modelId?: string;
  /** `task_title`; `subtask_title` is `<title>.<subtask_id>`. Default `Task <task_id>`. */
  title?: string;
  /** Merged into `bot[0]`. */
  bot?: Record<string, unknown>;
  /** Any other top-level field, replacing the default. */
  [field: string]: unknown;
}

/** A Codex task payload for `app`'s fake model, without repository; the prompt starts with the task marker. */
export function taskPayload(
  app: ServiceApp,
  taskId: number,
  subtaskId: number,
  prompt: string,
  options: TaskPayloadOptions,
): Record<string, any> {
  const { apiKey, modelId = 'wegent-e2e-model', title = `Task ${taskId}`, bot, ...fields } = options;
  return {
    task_id: taskId,
    subtask_id: subtaskId,
    type: 'online',
    executor_name: '',
    task_title: title,
    subtask_title: `${title}.${subtaskId}`,
    user: { id: 7, name: 'alice', git_token: null },
    bot: [
      {
        id: 41,
        name: 'codex-dev',
        shell_type: 'Codex',
        agent_config: { env: { model: 'openai', model_id: modelId, api_key: apiKey, base_url: app.fake.baseUrl } },
        system_prompt: 'Be brief.',
        mcp_servers: {},
        skills: [],
        ...bot,
      },
    ],
    git_url: '',
    prompt: `${taskMarker(taskId)} ${prompt}`,
    auth_token: null,
    attachments: [],
    ...fields,
  };
}

type Entry = Turn | ((request: RecordedRequest) => Turn);

/** The marker a test puts into a task's prompt so the fake model can tell tasks apart. */
export const taskMarker = (taskId: number): string => `[e2e-task-${taskId}]`;

/**
 * Lets tests of one app run tasks side by side: once the fake's own script is empty, each model
 * request is answered from the queue of the task whose marker (`taskMarker`) its input carries
 * last, and "Done." when that queue is empty.
 */
export class ModelRouter {
  private readonly queues = new Map<number, Entry[]>();

  constructor(private readonly fake: FakeResponses) {
    fake.setDefaultTurn((request) => {
      const taskId = ModelRouter.taskOf(request);
      const entry = taskId === undefined ? undefined : this.queues.get(taskId)?.shift();
      if (!entry) return toTurn([message('Done.', { phase: 'final_answer' })]);
      return typeof entry === 'function' ? entry(request) : entry;
    });
  }

  static taskOf(request: RecordedRequest): number | undefined {
    const text = JSON.stringify(request.body?.input ?? '');
    const all = [...text.matchAll(/\[e2e-task-(\d+)\]/g)];
    return all.length ? Number(all[all.length - 1][1]) : undefined;
  }

  script(taskId: number, ...entries: Entry[]): void {
    this.queues.set(taskId, entries);
  }

  requestsOf(taskId: number): RecordedRequest[] {
    return this.fake.modelRequests().filter((r) => ModelRouter.taskOf(r) === taskId);
  }
}

/** Exactly one terminal callback and it is the last one — also once the relay is through with the subtask. */
export async function expectSingleTerminalLast(app: ServiceApp, taskId: number, subtaskId: number): Promise<Callback[]> {
  await waitRelayDone(app.config, taskId, subtaskId);
  const callbacks = app.callbacksOf(taskId, subtaskId);
  expect(callbacks.filter((c) => c.progress === 100)).toHaveLength(1);
  expect(callbacks[callbacks.length - 1].progress).toBe(100);
  const progress = callbacks.map((c) => c.progress);
  expect(progress).toEqual([...progress].sort((a, b) => a - b));
  return callbacks;
}

/** The thinking steps of a callback. */
export const stepsOf = (c: Callback): ThinkingStep[] => (c.result?.thinking ?? []) as ThinkingStep[];

/** Every content block of every step, in order. */
export const blocksOf = (steps: ThinkingStep[]): Record<string, any>[] =>
  steps.flatMap((s) => (s.details?.message?.content ?? []) as Record<string, any>[]);
