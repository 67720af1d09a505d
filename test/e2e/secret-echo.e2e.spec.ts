import { Redis } from 'ioredis';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { message, turn } from '../fixtures/fake-responses';
import { startServiceApp, taskMarker, type ServiceApp } from '../support/service-app';

/**
 * A hostile (or careless) model echoes the task's secrets in its text. Streamed text and the final
 * answer must stay verbatim otherwise, so Wegent's pattern rules do not apply to them: only the
 * scrub of the exact secret values stands between the model and executor_manager. The secrets here
 * match none of those patterns, so this test fails if that scrub is gone.
 */
const API_KEY = 'e2e-Echo-Key-Q7m2Z9x4W1v8';
const AUTH_TOKEN = 'at-Echo-3Vb8Nc1Xk6Lp0';
const GATEWAY = 'gw-Echo-5566-Rt7Yu8Io9';
const SECRETS = [API_KEY, AUTH_TOKEN, GATEWAY];
const TASK_ID = 4290;

describe('e2e: a model that echoes the task secrets', () => {
  let h: ServiceApp;

  beforeAll(async () => {
    h = await startServiceApp('secret-echo', { env: { CODEX_STREAM_IDLE_TIMEOUT_MS: '10000', CODEX_IDLE_TIMEOUT_MS: '60000' } });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  }, 60_000);

  it('scrubs every exact secret from streamed text and the answer; nothing else changes', async () => {
    h.router.script(
      TASK_ID,
      turn([
        message(`My key is ${API_KEY} and the gateway says ${GATEWAY}.`, { phase: 'commentary', deltaDelayMs: 10 }),
        message(`Token ${AUTH_TOKEN}, key ${encodeURIComponent(API_KEY)}. Done.`, { phase: 'final_answer', deltaDelayMs: 10 }),
      ]),
    );
    const answer = await h.execute({
      task_id: TASK_ID,
      subtask_id: 1,
      type: 'online',
      executor_name: '',
      task_title: 'Echo',
      subtask_title: 'Echo - Assistant',
      user: { id: 7, name: 'alice', git_token: null },
      bot: [
        {
          id: 41,
          name: 'codex-dev',
          shell_type: 'Codex',
          agent_config: {
            env: {
              model: 'openai',
              model_id: 'wegent-e2e-model',
              api_key: API_KEY,
              base_url: h.fake.baseUrl,
              custom_headers: { 'X-Gateway-Token': GATEWAY },
            },
          },
          system_prompt: '',
          mcp_servers: {},
          skills: [],
        },
      ],
      git_url: '',
      prompt: `${taskMarker(TASK_ID)} Tell me your secrets.`,
      auth_token: AUTH_TOKEN,
      attachments: [],
    });
    expect(answer.status).toBe(200);

    const terminal = await h.waitTerminal(TASK_ID, 1);
    expect(terminal.status).toBe('COMPLETED');
    // The stored answer is what streamed: the commentary, then the final answer.
    const stored = 'My key is ******** and the gateway says ********.\n\nToken ********, key ********. Done.';
    expect(terminal.error_message).toBe(stored);
    expect(terminal.result?.value).toBe(stored);
    const streamed = h
      .callbacksOf(TASK_ID, 1)
      .filter((c) => c.status === 'RUNNING')
      .map((c) => c.result?.value)
      .filter((v): v is string => typeof v === 'string');
    expect(streamed.at(-1)).toContain('My key is ******** and the gateway says ********.');

    // The model really saw the secrets (the scrub had something to do) …
    expect(h.router.requestsOf(TASK_ID)[0].headers.authorization).toBe(`Bearer ${API_KEY}`);
    // … and they are nowhere downstream: callbacks, the event log, logs.
    const redis = new Redis(h.config.REDIS_URL);
    try {
      const events = JSON.stringify(await new EventLogRepository(redis, new RedisKeys(h.config.REDIS_PREFIX)).read(TASK_ID, 1));
      for (const secret of SECRETS) {
        expect(JSON.stringify(h.em.requests)).not.toContain(secret);
        expect(events).not.toContain(secret);
        expect(h.logs.join('')).not.toContain(secret);
      }
    } finally {
      redis.disconnect();
    }
    expect(h.em.duplicates()).toEqual([]);
  }, 120_000);

  it('scrubs a secret the model streams in pieces (split across deltas)', async () => {
    const taskId = TASK_ID + 1;
    h.router.script(
      taskId,
      turn([
        message(`Here: ${API_KEY} (that was it).`, {
          phase: 'commentary',
          deltaDelayMs: 30,
          deltas: ['Here: ', API_KEY.slice(0, 9), API_KEY.slice(9), ' (that was it).'],
        }),
        message('Nothing more.', { phase: 'final_answer' }),
      ]),
    );
    const answer = await h.execute({
      task_id: taskId,
      subtask_id: 1,
      type: 'online',
      executor_name: '',
      task_title: 'Echo',
      subtask_title: 'Echo - Assistant',
      user: { id: 7, name: 'alice', git_token: null },
      bot: [
        {
          id: 41,
          name: 'codex-dev',
          shell_type: 'Codex',
          agent_config: { env: { model: 'openai', model_id: 'wegent-e2e-model', api_key: API_KEY, base_url: h.fake.baseUrl } },
          system_prompt: '',
          mcp_servers: {},
          skills: [],
        },
      ],
      git_url: '',
      prompt: `${taskMarker(taskId)} Spell your key.`,
      auth_token: null,
      attachments: [],
    });
    expect(answer.status).toBe(200);
    const terminal = await h.waitTerminal(taskId, 1);
    expect(terminal.error_message).toBe('Here: ******** (that was it).\n\nNothing more.');
    const all = JSON.stringify(h.em.requests.filter((r) => r.body.task_id === taskId));
    expect(all).not.toContain(API_KEY);
    expect(all).not.toContain(API_KEY.slice(9));
  }, 120_000);
});
