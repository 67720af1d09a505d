import { getQueueToken } from '@nestjs/bullmq';
import { Worker, type Queue } from 'bullmq';
import { TASK_QUEUE_NAME } from '@wegent-codex/contracts';
import { redisOptionsFromUrl } from '@wegent-codex/runtime';
import { EXAMPLE_SECRETS, eventually, examplePayload, postJson, startApi, type ApiHarness } from '../../../test/support/api-harness';

/** Keys under the prefix other than the queue's meta, which BullMQ writes when the app starts. */
const writtenBy = async (api: ApiHarness) => (await api.keys()).filter((key) => key !== `${api.prefix}:${TASK_QUEUE_NAME}:meta`);

/** Bad input, auth, probes: answered as JSON, never a crash, never a write to Redis. */
describe('HTTP edge', () => {
  describe('bad input', () => {
    let api: ApiHarness;
    const bodies: string[] = [];
    const send = async (path: string, init: RequestInit) => {
      const res = await fetch(`${api.baseUrl}${path}`, init);
      const text = await res.text();
      bodies.push(text);
      return { status: res.status, type: res.headers.get('content-type'), json: JSON.parse(text) };
    };
    const post = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      send(path, { method: 'POST', headers, body });

    beforeAll(async () => {
      api = await startApi({ MAX_PAYLOAD_BYTES: '4096' });
    });
    afterAll(async () => {
      await api?.close();
    });

    const withBadShellType = () => {
      const payload = examplePayload(401, 1);
      (payload.bot as Record<string, unknown>[])[0].shell_type = 42;
      return payload;
    };
    const cases: [string, unknown, { path: string }[]][] = [
      ['a wrong type deep inside (bot[0].shell_type)', withBadShellType(), [{ path: 'bot.0.shell_type' }]],
      ['no bot array', { ...examplePayload(402, 1), bot: undefined }, [{ path: 'bot' }]],
      ['a task_id that is a string', { ...examplePayload(403, 1), task_id: '403' }, [{ path: 'task_id' }]],
      ['a negative subtask_id', { ...examplePayload(404, 1), subtask_id: -1 }, [{ path: 'subtask_id' }]],
      [
        'a validation task without validation_params',
        { task_id: 405, subtask_id: 1, type: 'validation', bot: [{}] },
        [{ path: 'validation_params' }],
      ],
      ['an array instead of an object', [examplePayload(406, 1)], [{ path: '' }]],
    ];

    it.each(cases)('refuses %s with 400 and the issue, on both intake routes', async (_name, body, issues) => {
      for (const route of ['/api/tasks/execute', '/v1/tasks']) {
        const res = await post(route, JSON.stringify(body));
        expect(res.status).toBe(400);
        expect(res.json).toEqual({ error: 'invalid task payload', issues: issues.map((i) => ({ ...i, message: expect.any(String) })) });
      }
    });

    it('refuses a POST without a body with 400', async () => {
      const res = await send('/api/tasks/execute', { method: 'POST' });
      expect(res.status).toBe(400);
      expect(res.json.issues).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'task_id' })]));
    });

    it('refuses a body that is not JSON with 400 and empty issues, without quoting the body', async () => {
      const res = await post('/api/tasks/execute', `{"task_id": 1, "api_key": "${EXAMPLE_SECRETS.apiKey}", oops`);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: 'request body is not valid JSON', issues: [] });
    });

    it('parses JSON whatever the content type says', async () => {
      const res = await post('/v1/tasks', JSON.stringify({ task_id: 'x' }), { 'content-type': 'text/plain' });
      expect(res.status).toBe(400);
      expect(res.json.issues[0].path).toBe('task_id');
    });

    it('answers 413 to a body above MAX_PAYLOAD_BYTES', async () => {
      const res = await post('/api/tasks/execute', JSON.stringify({ ...examplePayload(407, 1), prompt: 'x'.repeat(5000) }));
      expect(res.status).toBe(413);
      expect(res.json).toEqual({ error: 'request body is larger than 4096 bytes (MAX_PAYLOAD_BYTES)' });
    });

    it('answers an unknown route with 404 JSON, whatever its method', async () => {
      for (const [method, path] of [
        ['GET', '/nope'],
        ['POST', '/api/tasks/nope?secret=1'],
        ['DELETE', '/v1/tasks/1'],
      ]) {
        const res = await send(path, { method });
        expect(res.status).toBe(404);
        expect(res.type).toMatch(/application\/json/);
        expect(res.json).toEqual({ error: `no route for ${method} ${path.split('?')[0]}` });
      }
    });

    it('answers 400 naming the parameter to a path id that is not an integer', async () => {
      for (const path of ['/v1/tasks/abc/subtasks/1', '/v1/tasks/1/subtasks/1.5', '/v1/tasks/1/subtasks/1e3/events']) {
        const res = await send(path, { method: 'GET' });
        expect(res.status).toBe(400);
        expect(res.json).toEqual({
          error: 'invalid path parameter',
          issues: [{ path: expect.stringMatching(/^(sub)?task_id$/), message: 'must be a non-negative integer' }],
        });
      }
      const cancel = await send('/v1/tasks/-1/cancel', { method: 'POST' });
      expect(cancel.status).toBe(400);
    });

    it('echoes a plain X-Request-ID and replaces anything else with a fresh 8-character id', async () => {
      const echoed = await fetch(`${api.baseUrl}/healthz`, { headers: { 'x-request-id': 'req-1.a:b_c' } });
      expect(echoed.headers.get('x-request-id')).toBe('req-1.a:b_c');
      const replaced = await fetch(`${api.baseUrl}/nope`, { headers: { 'x-request-id': 'has spaces;and=more' } });
      expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}$/);
      const tooLarge = await post('/api/tasks/execute', 'x'.repeat(5000), { 'x-request-id': 'big-1' });
      expect(tooLarge.status).toBe(413);
    });

    it('wrote nothing to Redis for any of it, and echoed no secret', async () => {
      expect(await writtenBy(api)).toEqual([]);
      const everything = [...bodies, ...api.logs].join('\n');
      for (const secret of Object.values(EXAMPLE_SECRETS)) expect(everything).not.toContain(secret);
    });
  });

  describe('API_TOKEN', () => {
    const token = 'test-token-5b1c9e';
    let api: ApiHarness;

    beforeAll(async () => {
      api = await startApi({ API_TOKEN: token });
    });
    afterAll(async () => {
      await api?.close();
    });

    it('refuses /api and /v1 calls without the right bearer token with 401 JSON', async () => {
      const attempts: [string, RequestInit][] = [
        ['/api/tasks/execute', { method: 'POST', body: JSON.stringify(examplePayload(501, 1)) }],
        ['/api/tasks/cancel?task_id=501', { method: 'POST', headers: { authorization: `Bearer ${token}x` } }],
        ['/v1/tasks/501/subtasks/1', { headers: { authorization: token } }],
        ['/V1/tasks/501/subtasks/1', { headers: { authorization: 'Bearer wrong' } }],
      ];
      for (const [path, init] of attempts) {
        const res = await fetch(`${api.baseUrl}${path}`, init);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
        expect(await res.json()).toEqual({ error: expect.stringContaining('bearer token') });
      }
      expect(await writtenBy(api)).toEqual([]);
    });

    it('serves them with the token, and keeps the probes open', async () => {
      const ok = await postJson(`${api.baseUrl}/api/tasks/execute`, examplePayload(502, 1), { authorization: `Bearer ${token}` });
      expect(ok.status).toBe(200);
      expect((await fetch(`${api.baseUrl}/healthz`)).status).toBe(200);
      expect((await fetch(`${api.baseUrl}/readyz`)).status).toBe(200);
    });

    it('never logs the token', () => {
      expect(api.logs.join('\n')).not.toContain(token);
    });
  });

  describe('probes', () => {
    let api: ApiHarness;

    beforeAll(async () => {
      api = await startApi({}, { requireWorkers: true });
    });
    afterAll(async () => {
      await api?.close();
    });

    it('answers /healthz without touching Redis', async () => {
      const res = await fetch(`${api.baseUrl}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    });

    it('answers /readyz 503 while no worker is registered, 200 once one is', async () => {
      const before = await fetch(`${api.baseUrl}/readyz`);
      expect(before.status).toBe(503);
      expect(await before.json()).toEqual({ status: 'unavailable', reasons: ['no worker is registered on queue codex-tasks'], workers: 0 });

      const queue = api.app.get<Queue>(getQueueToken(TASK_QUEUE_NAME));
      const worker = new Worker(TASK_QUEUE_NAME, null, {
        connection: redisOptionsFromUrl(api.config.REDIS_URL),
        prefix: api.prefix,
        autorun: false,
      });
      try {
        await worker.waitUntilReady();
        await eventually(async () => (await queue.getWorkersCount()) > 0, 'the worker to register');
        const after = await fetch(`${api.baseUrl}/readyz`);
        expect(after.status).toBe(200);
        expect(await after.json()).toEqual({ status: 'ok', workers: 1, counts: expect.any(Object) });
      } finally {
        await worker.close();
      }
    });
  });
});
