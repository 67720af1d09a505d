import { dirname, resolve } from 'node:path';
import { EventLogRepository } from '@wegent-codex/event-log';
import { FakeWegentBackend } from '../fixtures/fake-wegent-backend';
import { message, reasoning, toolSearch, turn, type RecordedRequest } from '../fixtures/fake-responses';
import { postJson } from '../support/api-harness';
import { startServiceApp, taskMarker, type ServiceApp } from '../support/service-app';
import { eventually } from '../support/test-config';

/**
 * A 2026 dispatch end to end (docs/protocol/wegent-protocol-2026.md §2): `POST /v1/responses` → queue → worker →
 * the real Codex binary → the scripted model. What the model receives is the proof that the body
 * was used: the reasoning options, the instructions, the MCP server of `tools`, and — for a
 * follow-up subtask of the same task — the conversation so far (the thread is resumed).
 */
const ECHO_STDIO = resolve(__dirname, '../fixtures/mcp-servers/echo-stdio.js');
const API_KEY = 'sk-2026-e2e-SECRET-0a1b2c3d4e5f';
const AUTH_TOKEN = 'task-jwt-2026-e2e-7f6e5d4c3b2a';
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

describe('e2e: 2026 /v1/responses through the real Codex', () => {
  let h: ServiceApp;
  let backend: FakeWegentBackend;

  beforeAll(async () => {
    backend = await FakeWegentBackend.start({ token: AUTH_TOKEN, attachments: { 501: { body: PNG }, 502: { body: 'plain notes\n' } } });
    // The stdio MCP server's script lives in this repository: readable inside the task sandbox.
    h = await startServiceApp('responses-2026', {
      env: {
        CODEX_STREAM_IDLE_TIMEOUT_MS: '20000',
        CODEX_IDLE_TIMEOUT_MS: '60000',
        TASK_API_DOMAIN: backend.apiDomain,
        SANDBOX_READABLE_PATHS: dirname(ECHO_STDIO),
      },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await backend?.close();
  }, 60_000);

  const body = (taskId: number, subtaskId: number, input: string) => ({
    model: 'wegent-e2e-model',
    input: `${taskMarker(taskId)} ${input}`,
    instructions: 'Answer like a ship captain.',
    tools: [{ type: 'mcp', server_label: 'echo', server_type: 'stdio', command: 'node', args: [ECHO_STDIO], require_approval: 'never' }],
    stream: false,
    background: true,
    metadata: {
      task_id: taskId,
      subtask_id: subtaskId,
      user: { id: 7, name: 'alice', git_token: null },
      bot: [
        {
          id: 41,
          name: 'codex-dev',
          shell_type: 'Codex',
          agent_config: { env: { model: 'openai', model_id: 'wegent-e2e-model' } },
          mcp_servers: [],
          skills: [],
        },
      ],
      bot_name: 'codex-dev',
      message_id: subtaskId,
      auth_token: null,
      attachments: [],
      executor_name: 'wegent-task-alice-e2e',
      executor_namespace: '',
      request_id: `req_${subtaskId}`,
    },
    model_config: {
      model_id: 'wegent-e2e-model',
      api_key: API_KEY,
      base_url: h.fake.baseUrl,
      default_headers: {},
      reasoning: { effort: 'high', summary: 'detailed' },
      service_tier: 'priority',
      context_window: 200000,
    },
  });
  const dispatch = async (payload: unknown) => {
    const res = await postJson(`${h.baseUrl}/v1/responses`, payload);
    return { status: res.status, json: await res.json() };
  };
  const ended = (taskId: number, subtaskId: number) =>
    eventually(async () => (await h.app.get(EventLogRepository).terminalOf(taskId, subtaskId)) !== null, 90_000, 200);
  const namespacesFound = (request: RecordedRequest) =>
    (request.body.input as Record<string, any>[])
      .filter((i) => i.type === 'tool_search_output')
      .flatMap((o) => (o.tools ?? []) as Record<string, any>[])
      .filter((t) => t.type === 'namespace')
      .map((n) => n.name as string);

  it('runs with the reasoning options, instructions and MCP tools of the body; a follow-up resumes the same thread', async () => {
    const taskId = 9601;
    h.router.script(
      taskId,
      turn([toolSearch('echo')]),
      turn([reasoning('Plotting the course.'), message('Aye, first answer.', { phase: 'final_answer' })]),
      turn([message('Aye, I remember.', { phase: 'final_answer' })]),
    );

    const first = await dispatch(body(taskId, 1, 'Where are we heading? (first question)'));
    expect(first).toEqual({ status: 200, json: { id: 'resp_1', status: 'queued', message: 'Task execution status: RUNNING' } });
    await ended(taskId, 1);
    expect(await h.app.get(EventLogRepository).terminalOf(taskId, 1)).toBe('done');

    const requests = h.router.requestsOf(taskId);
    expect(requests).toHaveLength(2);
    for (const r of requests) {
      expect(r.body.reasoning).toEqual({ effort: 'high', summary: 'detailed' });
      expect(r.body.service_tier).toBe('priority');
      expect(r.headers.authorization).toBe(`Bearer ${API_KEY}`);
    }
    // instructions → developer message; tools → an MCP server Codex started and searched.
    const developer = (requests[0].body.input as Record<string, any>[]).filter((i) => i.role === 'developer');
    expect(JSON.stringify(developer)).toContain('Answer like a ship captain.');
    expect((requests[0].body.tools as Record<string, any>[]).some((t) => t.type === 'tool_search')).toBe(true);
    expect(namespacesFound(requests[1])).toEqual(['mcp__echo']);

    // The follow-up: same task, next subtask — the model sees the first exchange (resumed thread).
    const second = await dispatch(body(taskId, 2, 'And what did I ask first?'));
    expect(second.json).toEqual({ id: 'resp_2', status: 'queued', message: 'Task execution status: RUNNING' });
    await ended(taskId, 2);
    const followUp = h.router.requestsOf(taskId)[2];
    const history = JSON.stringify(followUp.body.input);
    expect(history).toContain('(first question)');
    expect(history).toContain('Aye, first answer.');
    expect(history).toContain('And what did I ask first?');
    expect(followUp.body.reasoning).toEqual({ effort: 'high', summary: 'detailed' });

    // The 2026 marker travels into the run's first event, for the relay's fold.
    const [started] = await h.app.get(EventLogRepository).read(taskId, 2, '0', 1);
    expect(started.event).toMatchObject({
      type: 'status',
      phase: 'started',
      context: {
        protocol: '2026',
        responses: {
          message_id: 2,
          reasoning_effort: 'high',
          reasoning_summary: 'detailed',
          service_tier: 'priority',
          context_window: 200000,
        },
      },
    });
    expect(JSON.stringify(h.em.requests)).not.toContain(API_KEY);
  }, 240_000);

  it('uses what the attachment sync staged, downloads the rest, sends every image to the model', async () => {
    const taskId = 9602;
    // executor_manager's pre-sync (§7.1), before the dispatch.
    const syncRes = await postJson(`${h.baseUrl}/v1/attachments/sync`, {
      task_id: taskId,
      subtask_id: 1,
      user_subtask_id: 0,
      auth_token: AUTH_TOKEN,
      attachments: [{ id: 501, original_filename: 'screen.png', mime_type: 'image/png', file_size: PNG.length, subtask_id: 0 }],
    });
    const synced = (await syncRes.json()) as { attachments: Record<string, unknown>[] };
    expect(synced.attachments).toEqual([
      expect.objectContaining({ id: 501, status: 'success', local_path: expect.stringContaining(`${taskId}:executor:attachments`) }),
    ]);

    const payload = body(taskId, 1, 'ignored');
    payload.input = [
      { type: 'input_text', text: `${taskMarker(taskId)} What do these show?` },
      { type: 'input_image', image_url: `data:image/png;base64,${PNG.toString('base64')}` },
    ] as never;
    Object.assign(payload.metadata, {
      auth_token: AUTH_TOKEN,
      attachments: [
        ...synced.attachments,
        { id: 502, original_filename: 'notes.txt', mime_type: 'text/plain', file_size: 12, subtask_id: 0 },
        { id: 503, original_filename: 'gone.bin', status: 'failed', error: 'HTTP 404' },
      ],
    });
    expect((await dispatch(payload)).status).toBe(200);
    await ended(taskId, 1);

    const [request] = h.router.requestsOf(taskId);
    const user = (request.body.input as Record<string, any>[]).filter((i) => i.role === 'user').at(-1)!;
    const images = (user.content as Record<string, any>[]).filter((c) => c.type === 'input_image');
    expect(images).toHaveLength(2);
    for (const image of images) expect(image.image_url).toMatch(/^data:image\/png;base64,/);
    const text = JSON.stringify(user.content);
    expect(text).toContain('What do these show?');
    expect(text).toContain('notes.txt (text/plain, 12 bytes)');
    expect(text).not.toContain('gone.bin');
    // 501 came once, through the sync; 502 once, through the run; 503 never.
    expect(backend.requests.map((r) => r.url)).toEqual([
      '/api/attachments/501/executor-download',
      '/api/attachments/502/executor-download',
    ]);
  }, 180_000);

  it('fails a model without api_key with a message the user can act on (both generations share it)', async () => {
    const taskId = 9603;
    const payload = body(taskId, 1, 'Hello?');
    delete (payload.model_config as Record<string, unknown>).api_key;
    expect((await dispatch(payload)).status).toBe(200);
    await ended(taskId, 1);

    const log = await h.app.get(EventLogRepository).read(taskId, 1);
    const error = log.map((e) => e.event).find((e) => e.type === 'error') as Record<string, any>;
    expect(error.error).toBe(
      'The model "wegent-e2e-model" has no API key. Open this model\'s settings in Wegent (Models), enter its API key, and send the message again.',
    );
    expect(JSON.stringify(log)).not.toContain('WEGENT_CODEX_API_KEY');
    expect(h.router.requestsOf(taskId)).toEqual([]);
  }, 120_000);

  it('runs a key-less model whose credential is a default header (no env_key, no "Missing environment variable")', async () => {
    const taskId = 9604;
    const payload = body(taskId, 1, 'Hello gateway?');
    delete (payload.model_config as Record<string, unknown>).api_key;
    payload.model_config.default_headers = { Authorization: 'Bearer gateway-token-5a4b3c2d1e' } as never;
    expect((await dispatch(payload)).status).toBe(200);
    await ended(taskId, 1);

    expect(await h.app.get(EventLogRepository).terminalOf(taskId, 1)).toBe('done');
    const [request] = h.router.requestsOf(taskId);
    expect(request.headers.authorization).toBe('Bearer gateway-token-5a4b3c2d1e');
  }, 120_000);

  it('starts a fresh thread when new_session is set (a pipeline stage changed), and keeps it for the next follow-up', async () => {
    const taskId = 9605;
    h.router.script(
      taskId,
      turn([message('Stage one answer.', { phase: 'final_answer' })]),
      turn([message('Stage two answer.', { phase: 'final_answer' })]),
      turn([message('Still stage two.', { phase: 'final_answer' })]),
    );
    expect((await dispatch(body(taskId, 1, 'Stage one question.'))).status).toBe(200);
    await ended(taskId, 1);
    const fresh = body(taskId, 2, 'Stage two question.');
    Object.assign(fresh.metadata, { new_session: true });
    expect((await dispatch(fresh)).status).toBe(200);
    await ended(taskId, 2);
    expect((await dispatch(body(taskId, 3, 'Follow-up in stage two.'))).status).toBe(200);
    await ended(taskId, 3);

    const [, second, third] = h.router.requestsOf(taskId).map((r) => JSON.stringify(r.body.input));
    expect(second).not.toContain('Stage one');
    expect(second).toContain('Stage two question.');
    expect(third).toContain('Stage two answer.');
    expect(third).not.toContain('Stage one');
  }, 180_000);
});
