import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Redis } from 'ioredis';
import { configureHttpApp } from '../../apps/api/src';
import { AppModule } from '../../apps/service/src/app.module';
import type { CallbackBody } from '../../libs/contracts/src';
import { EventLogRepository, RedisKeys } from '../../libs/event-log/src';
import { FakeExecutorManager } from '../fixtures/fake-executor-manager';
import { exec, message, reasoning, startFakeResponses, turn, type FakeResponses } from '../fixtures/fake-responses';
import { memoryLogger } from '../support/memory-logger';
import { dropPrefix, testConfig } from '../support/test-config';

/**
 * The whole path, in one process with every role: HTTP intake → BullMQ → worker → the real
 * `codex app-server` (against a scripted fake Responses API) → event stream → relay → callbacks.
 */
const API_KEY = 'sk-e2e-SECRET-9f8e7d6c5b4a39281706';
const TASK_ID = 4242;
const SUBTASK_ID = 77;
const COMMAND = "printf 'hello from codex' > result.txt && cat result.txt";
const FINAL = 'I wrote result.txt with a greeting for you. All done now.';

describe('e2e: a Wegent task through the real Codex CLI', () => {
  const workspaceRoot = resolve(__dirname, '../../.data/test-e2e', randomBytes(4).toString('hex'));
  let fake: FakeResponses;
  let em: FakeExecutorManager;
  let app: NestExpressApplication;
  let baseUrl: string;
  const logs = memoryLogger('debug');
  let config: ReturnType<typeof testConfig>;

  beforeAll(async () => {
    fake = await startFakeResponses();
    fake.setScript([
      turn([reasoning('Look at the workspace first.'), message('Checking the workspace.', { phase: 'commentary', deltaDelayMs: 20 }), exec(COMMAND)]),
      turn([message(FINAL, { phase: 'final_answer', deltaDelayMs: 60 })]),
    ]);
    em = await FakeExecutorManager.start();
    config = testConfig('e2e', {
      WORKSPACE_ROOT: workspaceRoot,
      CALLBACK_URL: em.url,
      CALLBACK_COALESCE_MS: '100',
      CALLBACK_RETRY_BASE_MS: '50',
      CODEX_REQUEST_MAX_RETRIES: '0',
      CODEX_STREAM_MAX_RETRIES: '0',
      CODEX_STREAM_IDLE_TIMEOUT_MS: '10000',
      CODEX_IDLE_TIMEOUT_MS: '60000',
      LOG_LEVEL: 'debug',
    });
    app = await NestFactory.create<NestExpressApplication>(AppModule.forRoles(config, ['api', 'worker', 'relay'], logs.logger), { bodyParser: false, logger: false });
    configureHttpApp(app, config);
    await app.listen(0, '127.0.0.1');
    baseUrl = await app.getUrl();
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await em?.close();
    await fake?.close();
    await dropPrefix(config);
    await rm(workspaceRoot, { recursive: true, force: true });
  }, 60_000);

  it('runs the task and sends the ClaudeCode-shaped callback sequence, streaming the answer', async () => {
    const payload = {
      task_id: TASK_ID,
      subtask_id: SUBTASK_ID,
      type: 'online',
      executor_name: '',
      task_title: 'Write a greeting',
      subtask_title: 'Write a greeting - Assistant',
      user: { id: 7, name: 'alice', git_token: null },
      bot: [{ id: 41, name: 'codex-dev', shell_type: 'Codex', agent_config: { env: { model: 'openai', model_id: 'wegent-e2e-model', api_key: API_KEY, base_url: fake.baseUrl } }, system_prompt: 'Be brief.', mcp_servers: {}, skills: [] }],
      git_url: '',
      prompt: 'Please write a greeting to result.txt',
      auth_token: null,
      attachments: [],
    };
    const answer = await fetch(`${baseUrl}/api/tasks/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ task_id: TASK_ID, subtask_id: SUBTASK_ID, status: 'RUNNING', message: 'Task execution status  : RUNNING', progress: 50 });

    await em.waitFor((f) => f.delivered().some((c) => c.body.progress === 100), 90_000, 'the terminal callback');
    const callbacks = em.delivered().map((c) => c.body as unknown as CallbackBody);
    printTable(callbacks);

    // The ladder: 50, 55, 60, 75…, 100 — exactly one terminal, last; progress never decreases.
    expect(callbacks.slice(0, 3).map((c) => [c.status, c.progress, c.error_message])).toEqual([
      ['RUNNING', 50, 'Task execution started'],
      ['RUNNING', 55, '${{thinking.initialize_agent}}'],
      ['RUNNING', 60, '${{thinking.initialize_agent}}'],
    ]);
    expect(callbacks[0]).toEqual({
      task_id: TASK_ID, subtask_id: SUBTASK_ID, task_title: 'Write a greeting', subtask_title: 'Write a greeting - Assistant',
      executor_name: 'codex-test', progress: 50, status: 'RUNNING', error_message: 'Task execution started', task_type: 'online',
    });
    const middle = callbacks.slice(3, -1);
    expect(middle.length).toBeGreaterThan(3);
    for (const c of middle) {
      expect([c.status, c.progress]).toEqual(['RUNNING', 75]);
      expect(c.error_message).toMatch(/^Thinking: thinking\./);
      expect(c.result?.thinking).toBeInstanceOf(Array);
      expect(c.result?.workbench).toMatchObject({ taskTitle: 'Write a greeting', taskNumber: String(TASK_ID), status: 'running', git_type: 'gitlab' });
    }
    const progress = callbacks.map((c) => c.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(callbacks.filter((c) => c.progress === 100)).toHaveLength(1);

    const last = callbacks[callbacks.length - 1];
    expect(last).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: FINAL, task_type: 'online' });
    expect(last.result?.value).toBe(FINAL);
    expect(last.result?.workbench).toMatchObject({ status: 'completed', sessions: 1, premiumRequests: 0, changes: [] });
    const thinking = last.result?.thinking as { title: string; details?: Record<string, any> }[];
    expect(thinking[0]).toEqual({ title: 'thinking.initialize_agent', next_action: 'continue' });
    const system = thinking.find((s) => s.title === 'thinking.system_message_received')!;
    expect(system.details).toMatchObject({ type: 'system', subtype: 'init', model: 'wegent-e2e-model', permissionMode: 'danger-full-access' });
    expect(system.details!.session_id).toMatch(/^[0-9a-f-]{36}$/);
    const toolUse = thinking.flatMap((s) => (s.details?.message?.content ?? []) as Record<string, any>[]).find((b) => b.type === 'tool_use' && b.name === 'Bash');
    expect(toolUse?.input).toEqual({ command: COMMAND });
    const toolResult = thinking.flatMap((s) => (s.details?.message?.content ?? []) as Record<string, any>[]).find((b) => b.type === 'tool_result');
    expect(toolResult).toMatchObject({ tool_use_id: toolUse!.id, is_error: false });
    expect(toolResult!.content).toContain('hello from codex');
    expect(thinking[thinking.length - 1]).toMatchObject({ title: 'thinking.task_execution_success', details: { type: 'result', subtype: 'success', is_error: false } });

    // The command really ran, in the task's workspace.
    expect(await readFile(join(workspaceRoot, String(TASK_ID), 'result.txt'), 'utf8')).toBe('hello from codex');

    // Streaming: RUNNING callbacks carry a growing, append-only answer.
    const values = middle.map((c) => c.result?.value).filter((v): v is string => typeof v === 'string');
    const distinct = [...new Set(values)];
    expect(distinct.length).toBeGreaterThanOrEqual(3);
    distinct.forEach((v, i) => i > 0 && expect(v.startsWith(distinct[i - 1])).toBe(true));
    expect(distinct[distinct.length - 1]).toContain('Checking the workspace.');

    // Delivery: one Idempotency-Key per callback.
    const keys = em.delivered().map((c) => c.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);

    // The key reached the model as a bearer token, and nowhere else: not in callbacks, events, logs, argv.
    expect(fake.modelRequests()[0].headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(JSON.stringify(em.requests)).not.toContain(API_KEY);
    const redis = new Redis(config.REDIS_URL);
    try {
      const events = await new EventLogRepository(redis, new RedisKeys(config.REDIS_PREFIX)).read(TASK_ID, SUBTASK_ID);
      expect(events.length).toBeGreaterThan(5);
      expect(JSON.stringify(events)).not.toContain(API_KEY);
      expect(events[events.length - 1].event.type).toBe('done');
    } finally {
      redis.disconnect();
    }
    expect(logs.lines.length).toBeGreaterThan(0);
    expect(logs.lines.join('')).not.toContain(API_KEY);

    // The subtask view rebuilt from the events.
    const view = await (await fetch(`${baseUrl}/v1/tasks/${TASK_ID}/subtasks/${SUBTASK_ID}`)).json();
    expect(view).toMatchObject({ state: 'completed', status: 'COMPLETED', progress: 100, result: { value: FINAL } });
  }, 120_000);
});

function printTable(callbacks: CallbackBody[]): void {
  const rows = callbacks.map((c, i) => {
    const value = typeof c.result?.value === 'string' ? JSON.stringify((c.result.value as string).slice(-40)) : '';
    const steps = Array.isArray(c.result?.thinking) ? String((c.result!.thinking as unknown[]).length) : '';
    return `| ${i + 1} | ${c.status} | ${c.progress} | ${String(c.error_message ?? '').slice(0, 60)} | ${steps} | ${value} |`;
  });
  process.stdout.write(['', '| # | status | progress | error_message | thinking steps | result.value (tail) |', '|---|---|---|---|---|---|', ...rows, ''].join('\n') + '\n');
}
