import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { CallbackBody } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { exec, message, reasoning, turn } from '../fixtures/fake-responses';
import { blocksOf, startServiceApp, stepsOf, taskMarker, type ServiceApp } from '../support/service-app';

/**
 * The whole path, in one process with every role: HTTP intake → BullMQ → worker → the real
 * `codex app-server` (against a scripted fake Responses API) → event stream → relay → callbacks.
 */
const API_KEY = 'sk-e2e-SECRET-9f8e7d6c5b4a39281706';
const TASK_ID = 4242;
const SUBTASK_ID = 77;
const COMMAND = "printf 'hello from codex' > result.txt && cat result.txt";
const FINAL = 'I wrote result.txt with a greeting for you. All done now.';
/** What streamed, commentary included, is what COMPLETED stores (issue 9: it no longer shrinks to FINAL). */
const STORED = `Checking the workspace.\n\n${FINAL}`;

describe('e2e: a Wegent task through the real Codex CLI', () => {
  let h: ServiceApp;

  beforeAll(async () => {
    h = await startServiceApp('e2e', {
      logLevel: 'debug',
      env: { CODEX_STREAM_IDLE_TIMEOUT_MS: '10000', CODEX_IDLE_TIMEOUT_MS: '60000', LOG_LEVEL: 'debug' },
    });
    h.fake.setScript([
      turn([
        reasoning('Look at the workspace first.'),
        message('Checking the workspace.', { phase: 'commentary', deltaDelayMs: 20 }),
        exec(COMMAND),
      ]),
      turn([message(FINAL, { phase: 'final_answer', deltaDelayMs: 60 })]),
    ]);
  }, 60_000);

  afterAll(async () => {
    await h?.close();
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
      bot: [
        {
          id: 41,
          name: 'codex-dev',
          shell_type: 'Codex',
          agent_config: { env: { model: 'openai', model_id: 'wegent-e2e-model', api_key: API_KEY, base_url: h.fake.baseUrl } },
          system_prompt: 'Be brief.',
          mcp_servers: {},
          skills: [],
        },
      ],
      git_url: '',
      prompt: 'Please write a greeting to result.txt',
      auth_token: null,
      attachments: [],
    };
    const answer = await h.execute(payload);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      task_id: TASK_ID,
      subtask_id: SUBTASK_ID,
      status: 'RUNNING',
      message: 'Task execution status  : RUNNING',
      progress: 50,
    });

    await h.em.waitFor((f) => f.delivered().some((c) => c.body.progress === 100), 90_000, 'the terminal callback');
    const callbacks = h.em.delivered().map((c) => c.body as unknown as CallbackBody);
    printTable(callbacks);

    // The ladder: 50, 55, 60, 75…, 100 — exactly one terminal, last; progress never decreases.
    expect(callbacks.slice(0, 3).map((c) => [c.status, c.progress, c.error_message])).toEqual([
      ['RUNNING', 50, 'Task execution started'],
      ['RUNNING', 55, '${{thinking.initialize_agent}}'],
      ['RUNNING', 60, '${{thinking.initialize_agent}}'],
    ]);
    expect(callbacks[0]).toEqual({
      task_id: TASK_ID,
      subtask_id: SUBTASK_ID,
      task_title: 'Write a greeting',
      subtask_title: 'Write a greeting - Assistant',
      executor_name: 'codex-test',
      progress: 50,
      status: 'RUNNING',
      error_message: 'Task execution started',
      task_type: 'online',
    });
    const middle = callbacks.slice(3, -1);
    expect(middle.length).toBeGreaterThan(3);
    for (const c of middle) {
      expect([c.status, c.progress]).toEqual(['RUNNING', 75]);
      expect(c.error_message).toMatch(/^Thinking: thinking\./);
      expect(c.result?.thinking).toBeInstanceOf(Array);
      expect(c.result?.workbench).toMatchObject({
        taskTitle: 'Write a greeting',
        taskNumber: String(TASK_ID),
        status: 'running',
        git_type: 'gitlab',
      });
    }
    const progress = callbacks.map((c) => c.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(callbacks.filter((c) => c.progress === 100)).toHaveLength(1);

    const last = callbacks[callbacks.length - 1];
    expect(last).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: STORED, task_type: 'online' });
    expect(last.result?.value).toBe(STORED);
    // The last RUNNING value is the stored one: the bubble does not shrink at chat:done.
    expect(
      middle
        .map((c) => c.result?.value)
        .filter(Boolean)
        .at(-1),
    ).toBe(STORED);
    expect(last.result?.workbench).toMatchObject({ status: 'completed', sessions: 1, premiumRequests: 0, changes: [] });
    const thinking = stepsOf(last);
    expect(thinking[0]).toEqual({ title: 'thinking.initialize_agent', next_action: 'continue' });
    const system = thinking.find((s) => s.title === 'thinking.system_message_received')!;
    expect(system.details).toMatchObject({
      type: 'system',
      subtype: 'init',
      model: 'wegent-e2e-model',
      permissionMode: 'danger-full-access',
    });
    expect(system.details!.session_id).toMatch(/^[0-9a-f-]{36}$/);
    const toolUse = blocksOf(thinking).find((b) => b.type === 'tool_use' && b.name === 'Bash');
    expect(toolUse?.input).toEqual({ command: COMMAND });
    const toolResult = blocksOf(thinking).find((b) => b.type === 'tool_result');
    expect(toolResult).toMatchObject({ tool_use_id: toolUse!.id, is_error: false });
    expect(toolResult!.content).toContain('hello from codex');
    // The reasoning summary rides along as an (FE-invisible) ThinkingBlock, as ClaudeCode sends Claude's thinking.
    expect(blocksOf(thinking).filter((b) => b.type === 'unknown')).toEqual([
      { type: 'unknown', block_type: 'ThinkingBlock', block_data: { thinking: 'Look at the workspace first.', signature: '' } },
    ]);
    expect(thinking[thinking.length - 1]).toMatchObject({
      title: 'thinking.task_execution_success',
      details: { type: 'result', subtype: 'success', is_error: false },
    });

    // The command really ran, in the task's workspace.
    expect(await readFile(join(h.workspaceRoot, String(TASK_ID), 'result.txt'), 'utf8')).toBe('hello from codex');

    // Streaming: RUNNING callbacks carry a growing, append-only answer.
    const values = middle.map((c) => c.result?.value).filter((v): v is string => typeof v === 'string');
    const distinct = [...new Set(values)];
    expect(distinct.length).toBeGreaterThanOrEqual(3);
    distinct.forEach((v, i) => i > 0 && expect(v.startsWith(distinct[i - 1])).toBe(true));
    expect(distinct[distinct.length - 1]).toContain('Checking the workspace.');

    // Delivery: one Idempotency-Key per callback.
    const keys = h.em.delivered().map((c) => c.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);

    // The key reached the model as a bearer token, and nowhere else: not in callbacks, events, logs, argv.
    expect(h.fake.modelRequests()[0].headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(JSON.stringify(h.em.requests)).not.toContain(API_KEY);
    const redis = new Redis(h.config.REDIS_URL);
    try {
      const events = await new EventLogRepository(redis, new RedisKeys(h.config.REDIS_PREFIX)).read(TASK_ID, SUBTASK_ID);
      expect(events.length).toBeGreaterThan(5);
      expect(JSON.stringify(events)).not.toContain(API_KEY);
      expect(events[events.length - 1].event.type).toBe('done');
    } finally {
      redis.disconnect();
    }
    expect(h.logs.length).toBeGreaterThan(0);
    expect(h.logs.join('')).not.toContain(API_KEY);

    // The subtask view rebuilt from the events.
    const view = await (await fetch(`${h.baseUrl}/v1/tasks/${TASK_ID}/subtasks/${SUBTASK_ID}`)).json();
    expect(view).toMatchObject({ state: 'completed', status: 'COMPLETED', progress: 100, result: { value: STORED } });
  }, 120_000);

  it('hands the model settings, instructions, prompt and task environment to Codex (§2.4, §11.6, §11.10)', async () => {
    const taskId = 4243;
    const secretHeader = 'hdr-SECRET-77aa66bb55cc44dd';
    const show =
      'printf "%s|%s|%s|%s|%s|%s" "$GIT_DOMAIN" "$GIT_REPO" "$GIT_REPO_ID" "$BRANCH_NAME" "$EXTRA_SETTING" "${WEGENT_CODEX_API_KEY:-hidden}"';
    h.router.script(taskId, turn([exec(show, { callId: 'call_env' })]), turn([message('Environment checked.', { phase: 'final_answer' })]));
    const prompt = `${taskMarker(taskId)} Show the environment.`;
    const answer = await h.execute({
      task_id: taskId,
      subtask_id: 1,
      type: 'offline',
      task_title: 'Environment',
      subtask_title: 'Environment - Assistant',
      user: { id: 7, name: 'alice', git_token: null },
      bot: [
        {
          id: 41,
          name: 'codex-dev',
          shell_type: ' codex ',
          agent_config: {
            env: {
              model: 'openai',
              model_id: 'wegent-e2e-model',
              api_key: API_KEY,
              base_url: `${h.fake.baseUrl}/`,
              custom_headers: { 'X-Team': 'platform', 'X-Gateway-Token': secretHeader },
              EXTRA_SETTING: 'on',
            },
          },
          system_prompt: 'Answer in one line.\nFocus on the environment.',
          mcp_servers: {},
          skills: [],
        },
      ],
      git_domain: 'github.com',
      git_repo: 'alice/app',
      git_repo_id: 998877,
      branch_name: 'main',
      git_url: '',
      prompt,
      auth_token: null,
      attachments: [],
    });
    expect(answer.status).toBe(200);
    const terminal = await h.waitTerminal(taskId, 1);
    expect(terminal).toMatchObject({ status: 'COMPLETED', error_message: 'Environment checked.', task_type: 'offline' });

    // The model: custom headers (the secret one too), the key as bearer, the system prompt as developer
    // instructions, the prompt with the working-directory suffix.
    const request = h.router.requestsOf(taskId)[0];
    expect(request.headers).toMatchObject({ 'x-team': 'platform', 'x-gateway-token': secretHeader, authorization: `Bearer ${API_KEY}` });
    const input = request.body.input as Record<string, any>[];
    const texts = (role: string) =>
      input.filter((i) => i.type === 'message' && i.role === role).flatMap((i) => (i.content as { text: string }[]).map((c) => c.text));
    expect(texts('developer')).toContain('Answer in one line.\nFocus on the environment.');
    const taskDir = join(h.workspaceRoot, String(taskId));
    expect(texts('user')).toContain(`${prompt}\nCurrent working directory: ${taskDir}\n project url:`);

    // The commands: the repository coordinates and other env keys, never the key.
    const result = blocksOf(stepsOf(terminal)).find((b) => b.type === 'tool_result' && b.tool_use_id === 'call_env');
    expect(result).toMatchObject({ content: 'github.com|alice/app|998877|main|on|hidden', is_error: false });
    expect(terminal.result?.workbench).toMatchObject({
      repository: 'alice/app',
      branch: 'main',
      git_domain: 'github.com',
      git_type: 'github',
    });

    const delivered = JSON.stringify(h.callbacksOf(taskId, 1));
    expect(delivered).not.toContain(secretHeader);
    expect(h.logs.join('')).not.toContain(secretHeader);
  }, 120_000);
});

function printTable(callbacks: CallbackBody[]): void {
  const rows = callbacks.map((c, i) => {
    const value = typeof c.result?.value === 'string' ? JSON.stringify((c.result.value as string).slice(-40)) : '';
    const steps = Array.isArray(c.result?.thinking) ? String((c.result!.thinking as unknown[]).length) : '';
    return `| ${i + 1} | ${c.status} | ${c.progress} | ${String(c.error_message ?? '').slice(0, 60)} | ${steps} | ${value} |`;
  });
  process.stdout.write(
    ['', '| # | status | progress | error_message | thinking steps | result.value (tail) |', '|---|---|---|---|---|---|', ...rows, ''].join(
      '\n',
    ) + '\n',
  );
}
