import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { jobIdFor, TASK_QUEUE_NAME } from '@wegent-codex/contracts';
import { EventLogRepository } from '@wegent-codex/event-log';
import { TaskQueueService } from '@wegent-codex/queue';
import { FakeWegentBackend } from '../../../../test/fixtures/fake-wegent-backend';
import { postJson, startApi, type ApiHarness } from '../../../../test/support/api-harness';
import { exampleResponsesBody, RESPONSES_SECRETS } from '../../../../test/support/wegent-2026-body';

/** Today's executor routes as executor_manager calls them (docs/protocol/wegent-protocol-2026.md §2, §6, §7). */
describe('2026 executor API (/v1/responses, cancel by subtask, /v1/attachments/sync, /ready)', () => {
  let api: ApiHarness;
  let queue: Queue;
  let backend: FakeWegentBackend;
  const workspaceRoot = resolve(__dirname, '../../../../.data/test-responses-api', String(process.pid));
  const bodies: string[] = [];
  const call = async (response: Promise<Response>) => {
    const res = await response;
    const text = await res.text();
    bodies.push(text);
    return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
  };
  const respond = (body: unknown, headers: Record<string, string> = {}) => call(postJson(`${api.baseUrl}/v1/responses`, body, headers));
  const cancel = (query: string) => call(fetch(`${api.baseUrl}/api/tasks/cancel${query}`, { method: 'POST' }));
  const jobsOf = async (taskId: number) =>
    (await queue.getJobs(['waiting', 'delayed', 'active', 'prioritized'])).filter((j) => j.data.task_id === taskId);

  beforeAll(async () => {
    backend = await FakeWegentBackend.start({
      token: RESPONSES_SECRETS.authToken,
      attachments: { 301: { body: 'log line\n' }, 302: { status: 500 } },
    });
    api = await startApi({ WORKSPACE_ROOT: workspaceRoot, TASK_API_DOMAIN: backend.apiDomain, SECRETS_KEY: 'k'.repeat(32) });
    queue = api.app.get<Queue>(getQueueToken(TASK_QUEUE_NAME));
  });
  afterAll(async () => {
    await api?.close();
    await backend?.close();
    await rm(workspaceRoot, { recursive: true, force: true });
  });

  it('takes the §2.11 example: 200 resp_<subtask_id> queued at once, one job marked 2026, the payload mapped and sealed', async () => {
    const res = await respond(exampleResponsesBody(4711, 9902), { authorization: 'Bearer dummy' });

    expect(res.status).toBe(200);
    expect(res.text).toBe('{"id":"resp_9902","status":"queued","message":"Task execution status: RUNNING"}');
    const job = await queue.getJob(jobIdFor(4711, 9902));
    expect(job!.data).toMatchObject({ task_id: 4711, subtask_id: 9902, protocol: '2026' });
    const data = JSON.stringify(job!.data);
    for (const secret of Object.values(RESPONSES_SECRETS)) expect(data).not.toContain(secret);

    const payload = await api.app.get(TaskQueueService).vault.load({ task_id: 4711, subtask_id: 9902 });
    expect(payload).toMatchObject({
      protocol: '2026',
      prompt: expect.stringContaining('Please fix the parser test.'),
      bot: [{ shell_type: 'Codex', agent_config: { env: { model_id: 'gpt-5.1-codex', api_key: RESPONSES_SECRETS.apiKey } } }],
      responses: { message_id: 2, reasoning_effort: 'high', reasoning_summary: 'auto', service_tier: 'priority', context_window: 272000 },
    });
  });

  it('answers a re-sent dispatch of the same subtask the same way, without a second job (EM retries up to 3 times)', async () => {
    const answers = await Promise.all([1, 2, 3].map(() => respond(exampleResponsesBody(4712, 1))));
    const again = await respond({ ...exampleResponsesBody(4712, 1), _retry_count: 1 });

    for (const a of [...answers, again])
      expect(a.text).toBe('{"id":"resp_1","status":"queued","message":"Task execution status: RUNNING"}');
    expect(await jobsOf(4712)).toHaveLength(1);
  });

  it('takes the legacy flat form and a content-part input with an image', async () => {
    const flat = await respond({
      model: 'gpt-5.5',
      input: [
        { type: 'input_text', text: 'What is on the screen?' },
        { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=' },
      ],
      metadata: null,
      task_id: 4713,
      subtask_id: 3,
      bot: [{ name: 'flat-bot', shell_type: 'Codex' }],
      model_config: { model_id: 'gpt-5.5', api_key: 'sk-flat' },
    });
    expect(flat.status).toBe(200);
    expect(flat.json).toEqual({ id: 'resp_3', status: 'queued', message: 'Task execution status: RUNNING' });
    expect(await jobsOf(4713)).toHaveLength(1);
  });

  it.each([
    ['invalid JSON', '{"input": ', { error: 'request body is not valid JSON', issues: [] }],
    [
      'no ids',
      { input: 'x', metadata: { bot: [{}] } },
      {
        error: 'invalid responses body',
        issues: [
          { path: 'task_id', message: expect.any(String) },
          { path: 'subtask_id', message: expect.any(String) },
          { path: 'bot', message: expect.any(String) },
        ],
      },
    ],
    [
      'a bad subtask_id',
      { input: 'x', metadata: { task_id: 4714, subtask_id: -1, bot: [{}] } },
      { error: 'invalid responses body', issues: [{ path: 'metadata.subtask_id', message: expect.any(String) }] },
    ],
    [
      'no input',
      { metadata: { task_id: 4714, subtask_id: 1, bot: [{}] } },
      { error: 'invalid responses body', issues: [{ path: 'input', message: expect.any(String) }] },
    ],
    [
      'bot not a list',
      { input: 'x', metadata: { task_id: 4714, subtask_id: 1, bot: { shell_type: 'Codex' } } },
      { error: 'invalid responses body', issues: [{ path: 'metadata.bot', message: expect.any(String) }] },
    ],
  ])('refuses %s with 400 JSON and enqueues nothing', async (_name, body, expected) => {
    const res =
      typeof body === 'string'
        ? await call(fetch(`${api.baseUrl}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }))
        : await respond(body);
    expect(res.status).toBe(400);
    expect(res.json).toEqual(expected);
    expect(await jobsOf(4714)).toHaveLength(0);
    expect((await api.keys()).filter((k) => k.includes('4714'))).toEqual([]);
  });

  describe('cancel as today executor_manager sends it (§6)', () => {
    it('cancels only the named subtask: 200 {status, task_id, subtask_id}, then 404 {detail}', async () => {
      await respond(exampleResponsesBody(4720, 1));
      await respond(exampleResponsesBody(4720, 2));

      const res = await cancel('?task_id=4720&subtask_id=2');
      expect(res.status).toBe(200);
      expect(res.text).toBe('{"status":"success","task_id":"4720","subtask_id":"2"}');
      expect(await queue.getJob(jobIdFor(4720, 2))).toBeUndefined();
      expect(await queue.getJob(jobIdFor(4720, 1))).toBeDefined();
      const log = await api.app.get(EventLogRepository).read(4720, 2);
      expect(log.map((e) => e.event)).toEqual([expect.objectContaining({ type: 'cancelled', stage: 'queued' })]);

      const again = await cancel('?task_id=4720&subtask_id=2');
      expect(again.status).toBe(404);
      expect(again.text).toBe('{"detail":"task 4720 is not running"}');
    });

    it('keeps the 2025 answers without subtask_id (and for an empty one)', async () => {
      await respond(exampleResponsesBody(4721, 1));
      const res = await cancel('?task_id=4721&subtask_id=');
      expect(res.status).toBe(200);
      expect(res.text).toBe('{"message":"[task_id: 4721.-1] Task cancelled"}');
      const none = await cancel('?task_id=4721');
      expect(none.status).toBe(400);
      expect(none.text).toBe('{"detail":"[task_id: 4721.-1] No session found"}');
    });

    it('refuses a malformed subtask_id with 400', async () => {
      const res = await cancel('?task_id=4722&subtask_id=x');
      expect(res.status).toBe(400);
      expect(res.json).toEqual({
        error: 'invalid query parameter',
        issues: [{ path: 'subtask_id', message: 'must be a non-negative integer' }],
      });
    });
  });

  describe('POST /v1/attachments/sync (§7.1)', () => {
    it('downloads into the task folder and answers per item, the way the run later finds them', async () => {
      const res = await call(
        postJson(`${api.baseUrl}/v1/attachments/sync`, {
          task_id: 4730,
          subtask_id: 9902,
          user_subtask_id: 9901,
          auth_token: RESPONSES_SECRETS.authToken,
          attachments: [
            { id: 301, original_filename: 'error.log', mime_type: 'text/plain', file_size: 9, subtask_id: 9901 },
            { id: 302, original_filename: 'broken.bin', mime_type: null, file_size: 1, subtask_id: 9901 },
          ],
        }),
      );
      const dir = join(workspaceRoot, '4730', '4730:executor:attachments', '9902');
      expect(res.status).toBe(200);
      expect(res.json).toEqual({
        task_id: '4730',
        subtask_id: '9902',
        attachments: [
          {
            id: 301,
            status: 'success',
            original_filename: 'error.log',
            local_path: join(dir, 'error.log'),
            mime_type: 'text/plain',
            file_size: 9,
            subtask_id: '9901',
          },
          {
            id: 302,
            status: 'failed',
            original_filename: 'broken.bin',
            error: 'HTTP 500',
            mime_type: null,
            file_size: 1,
            subtask_id: '9901',
          },
        ],
        success_count: 1,
        failed_count: 1,
      });
      expect(await readFile(join(dir, 'error.log'), 'utf8')).toBe('log line\n');
    });

    it('reports every item failed without an auth_token', async () => {
      const res = await call(
        postJson(`${api.baseUrl}/v1/attachments/sync`, {
          task_id: 4731,
          subtask_id: 1,
          attachments: [{ id: 301, original_filename: 'a.txt' }],
        }),
      );
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({
        success_count: 0,
        failed_count: 1,
        attachments: [{ id: 301, status: 'failed', error: 'No auth token available, cannot download attachments' }],
      });
    });

    it('refuses a request without ids with 400', async () => {
      const res = await call(postJson(`${api.baseUrl}/v1/attachments/sync`, { attachments: [] }));
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid attachment sync request');
    });
  });

  it('answers executor_manager readiness probes: GET /ready like /readyz, GET / like the executor', async () => {
    const ready = await fetch(`${api.baseUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ok' });
    const root = await fetch(`${api.baseUrl}/`);
    expect(root.status).toBe(200);
    expect(await root.json()).toEqual({ status: 'healthy', service: 'task_executor' });
  });

  it('answers 200 or 400, never 500, to 300 mutated bodies (a value replaced by null, a wrong type or removed)', async () => {
    let seed = 2026;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
    const oddValues: unknown[] = [
      null,
      0,
      -1,
      1.5,
      '',
      'x',
      true,
      [],
      {},
      [null],
      { a: { b: [] } },
      '${{task_token}}',
      'data:image/png;base64,@@',
    ];
    const paths = (value: unknown, prefix: string[] = []): string[][] =>
      value !== null && typeof value === 'object'
        ? Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])])
        : [];
    const statuses = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const body = exampleResponsesBody(4800 + i, 1);
      for (let m = 0; m < 1 + Math.floor(random() * 3); m++) {
        const path = pick(paths(body));
        const parent = path.slice(0, -1).reduce<any>((o, k) => o[k], body);
        if (random() < 0.2) delete parent[path[path.length - 1]];
        else parent[path[path.length - 1]] = pick(oddValues);
      }
      const res = await postJson(`${api.baseUrl}/v1/responses`, body);
      statuses.add(res.status);
      expect([200, 400]).toContain(res.status);
    }
    expect([...statuses].sort()).toEqual([200, 400]);
    expect((await fetch(`${api.baseUrl}/ready`)).status).toBe(200);
  }, 120_000);

  it('never shows a secret of the body in an answer or a log line', () => {
    const everything = [...bodies, ...api.logs].join('\n');
    expect(api.logs.some((line) => line.includes('task enqueued'))).toBe(true);
    for (const secret of Object.values(RESPONSES_SECRETS)) expect(everything).not.toContain(secret);
  });
});

describe('/v1/responses with API_TOKEN', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi({ API_TOKEN: 'kit-token-0123456789' });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('needs the token (the kit sends it), while /ready and / stay open for probes', async () => {
    expect((await postJson(`${api.baseUrl}/v1/responses`, exampleResponsesBody(4740, 1), { authorization: 'Bearer dummy' })).status).toBe(
      401,
    );
    expect(
      (await postJson(`${api.baseUrl}/v1/responses`, exampleResponsesBody(4740, 1), { authorization: 'Bearer kit-token-0123456789' }))
        .status,
    ).toBe(200);
    expect((await fetch(`${api.baseUrl}/ready`)).status).toBe(200);
    expect((await fetch(`${api.baseUrl}/`)).status).toBe(200);
  });

  it("takes the token as the Basic password too (executor_manager posts the attachment sync to the kit's http://kit:<token>@host URL)", async () => {
    const basic = (userPass: string) => ({ authorization: `Basic ${Buffer.from(userPass).toString('base64')}` });
    const sync = { task_id: 4741, subtask_id: 1, attachments: [] };
    expect((await postJson(`${api.baseUrl}/v1/attachments/sync`, sync, basic('kit:kit-token-0123456789'))).status).toBe(200);
    expect((await postJson(`${api.baseUrl}/v1/attachments/sync`, sync, basic('kit:wrong'))).status).toBe(401);
    expect((await postJson(`${api.baseUrl}/v1/attachments/sync`, sync, basic('kit-token-0123456789'))).status).toBe(401);
    expect((await postJson(`${api.baseUrl}/v1/attachments/sync`, sync)).status).toBe(401);
  });
});
