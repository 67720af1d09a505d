import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { jobIdFor, TASK_QUEUE_NAME, type TaskJobData } from '@wegent-codex/contracts';
import { EXAMPLE_SECRETS, examplePayload, postJson, startApi, type ApiHarness } from '../../../../test/support/api-harness';
import type { HttpRequest, HttpResponse } from '../http/http-types';
import { boardAccess, boardPolicy, isLoopback, type BoardPolicy } from './board-access';
import { redactJobData } from './job-data-redaction';

const SECRETS = Object.values(EXAMPLE_SECRETS);
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** Adds a job the way a producer enqueueing straight into BullMQ does: the payload inline. */
async function addInlineJob(api: ApiHarness, taskId: number, subtaskId: number): Promise<string> {
  const queue = api.app.get<Queue<TaskJobData>>(getQueueToken(TASK_QUEUE_NAME));
  const payload = examplePayload(taskId, subtaskId) as TaskJobData['payload'];
  const jobId = jobIdFor(taskId, subtaskId);
  await queue.add(jobId, { task_id: taskId, subtask_id: subtaskId, payload, enqueuedAt: new Date().toISOString() }, { jobId });
  return jobId;
}

describe('Bull Board at /admin/queues', () => {
  describe('without BOARD_USER/BOARD_PASSWORD, in an api-only process on loopback (loopback clients only)', () => {
    let api: ApiHarness;
    beforeAll(async () => {
      api = await startApi({}, { workerInProcess: false });
    });
    afterAll(async () => {
      await api?.close();
    });

    it('serves the board UI and its API to a loopback client', async () => {
      const page = await fetch(`${api.baseUrl}/admin/queues`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await page.text();
      expect(html).toContain('<title>wegent-codex</title>');
      const stylesheet = /href="(static\/css\/[^"]+\.css)"/.exec(html)![1];
      expect((await fetch(`${api.baseUrl}/admin/queues/${stylesheet}`)).status).toBe(200);

      const queues = await fetch(`${api.baseUrl}/admin/queues/api/queues`);
      expect(queues.status).toBe(200);
      const body = (await queues.json()) as { queues: { name: string; allowRetries: boolean }[] };
      expect(body.queues.map((q) => q.name)).toEqual([TASK_QUEUE_NAME]);
      expect(body.queues[0].allowRetries).toBe(false);
      expect((body.queues[0] as { readOnlyMode?: boolean }).readOnlyMode).toBe(true);
      expect(api.logs.join('')).toContain('"access":"loopback only","msg":"Bull Board served read-only"');
    });

    it('shows no secret of an inline payload, in the job view or the job list', async () => {
      const jobId = await addInlineJob(api, 801, 1);

      const view = await fetch(`${api.baseUrl}/admin/queues/api/queues/${TASK_QUEUE_NAME}/${jobId}`);
      expect(view.status).toBe(200);
      const text = await view.text();
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      const { job } = JSON.parse(text) as { job: { data: { task_id: number; payload: Record<string, any> } } };
      expect(job.data.task_id).toBe(801);
      expect(job.data.payload.bot[0].agent_config.env.api_key).toBe('********');
      expect(job.data.payload.user.git_token).toBe('********');
      expect(job.data.payload.auth_token).toBe('********');
      expect(job.data.payload.prompt).toBe('Please fix the login bug shown in [attachment:55]');

      const list = await fetch(
        `${api.baseUrl}/admin/queues/api/queues?activeQueue=${TASK_QUEUE_NAME}&status=waiting&page=1&jobsPerPage=10`,
      );
      expect(list.status).toBe(200);
      const listed = await list.text();
      expect(listed).toContain(jobId);
      for (const secret of SECRETS) expect(listed).not.toContain(secret);
    });

    it('shows the ids and payloadRef of a job the API enqueued', async () => {
      expect((await postJson(`${api.baseUrl}/v1/tasks`, examplePayload(802, 1))).status).toBe(202);
      const view = await fetch(`${api.baseUrl}/admin/queues/api/queues/${TASK_QUEUE_NAME}/${jobIdFor(802, 1)}`);
      const { job } = (await view.json()) as { job: { data: Record<string, unknown> } };
      expect(job.data).toMatchObject({ task_id: 802, subtask_id: 1, payloadRef: `${api.prefix}:payload:802:1` });
    });
  });

  describe('with BOARD_USER/BOARD_PASSWORD', () => {
    let api: ApiHarness;
    beforeAll(async () => {
      api = await startApi({ BOARD_USER: 'ops', BOARD_PASSWORD: 'board-pass-123', API_TOKEN: 'api-token-456' }, { workerInProcess: true });
    });
    afterAll(async () => {
      await api?.close();
    });

    it('asks for Basic auth, even on loopback, and takes only the right pair', async () => {
      const none = await fetch(`${api.baseUrl}/admin/queues`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Basic realm="Bull Board", charset="UTF-8"');
      expect(await none.json()).toEqual({ error: 'Bull Board needs Basic auth with BOARD_USER and BOARD_PASSWORD' });

      for (const headers of [
        basic('ops', 'wrong'),
        basic('admin', 'board-pass-123'),
        basic('ops', ''),
        { authorization: 'Bearer api-token-456' },
        { authorization: 'Basic !!!' },
      ]) {
        expect((await fetch(`${api.baseUrl}/admin/queues/api/queues`, { headers })).status).toBe(401);
      }

      expect((await fetch(`${api.baseUrl}/admin/queues`, { headers: basic('ops', 'board-pass-123') })).status).toBe(200);
      expect((await fetch(`${api.baseUrl}/admin/queues/api/queues`, { headers: basic('ops', 'board-pass-123') })).status).toBe(200);
    });

    it('is not opened by the API token, and does not open /api or /v1', async () => {
      expect((await fetch(`${api.baseUrl}/v1/tasks/1/subtasks/1`, { headers: basic('ops', 'board-pass-123') })).status).toBe(401);
    });
  });

  describe('access rules', () => {
    const NO_CREDENTIALS = { BOARD_USER: undefined, BOARD_PASSWORD: undefined, HOST: '127.0.0.1' };
    const API_ONLY = { workerInProcess: false };
    const call = (policy: BoardPolicy, remoteAddress: string, headers: Record<string, string> = {}) => {
      const reply: { status?: number; body?: unknown; next: boolean } = { next: false };
      const req = { headers, socket: { remoteAddress } } as unknown as HttpRequest;
      const res = {
        setHeader: () => undefined,
        status(code: number) {
          reply.status = code;
          return this;
        },
        json(body: unknown) {
          reply.body = body;
          return this;
        },
      } as unknown as HttpResponse;
      boardAccess(policy)(req, res, () => {
        reply.next = true;
      });
      return reply;
    };

    it('is open without credentials only in an api-only process listening on loopback', () => {
      expect(boardPolicy(NO_CREDENTIALS, API_ONLY)).toEqual({ kind: 'loopback' });
      expect(boardPolicy({ ...NO_CREDENTIALS, HOST: 'localhost' }, API_ONLY)).toEqual({ kind: 'loopback' });
      expect(boardPolicy({ ...NO_CREDENTIALS, HOST: '::1' }, API_ONLY)).toEqual({ kind: 'loopback' });
      expect(boardPolicy(NO_CREDENTIALS, { workerInProcess: true })).toEqual({
        kind: 'off',
        reason:
          'this process runs a worker, whose task commands are loopback clients: set BOARD_USER and BOARD_PASSWORD to serve Bull Board',
      });
      for (const HOST of ['0.0.0.0', '::', '10.0.0.7']) {
        expect(boardPolicy({ ...NO_CREDENTIALS, HOST }, API_ONLY)).toEqual({
          kind: 'off',
          reason: `HOST ${HOST} is not loopback-only: set BOARD_USER and BOARD_PASSWORD to serve Bull Board`,
        });
      }
      expect(boardPolicy({ BOARD_USER: 'ops', BOARD_PASSWORD: 'pw', HOST: '0.0.0.0' }, { workerInProcess: true })).toEqual({
        kind: 'basic',
        user: 'ops',
        password: 'pw',
      });
    });

    it('serves only loopback clients in loopback mode: 403 otherwise', () => {
      const loopback = boardPolicy(NO_CREDENTIALS, API_ONLY);
      for (const address of ['127.0.0.1', '127.8.0.1', '::1', '::ffff:127.0.0.1']) expect(call(loopback, address)).toEqual({ next: true });
      for (const address of ['10.0.0.7', '192.168.1.2', '::ffff:10.0.0.7', 'fe80::1', ''])
        expect(call(loopback, address)).toMatchObject({ status: 403, next: false });
      expect(isLoopback(undefined)).toBe(false);
    });

    it('serves nobody when off, loopback included', () => {
      const off = boardPolicy(NO_CREDENTIALS, { workerInProcess: true });
      expect(call(off, '127.0.0.1')).toEqual({
        status: 403,
        next: false,
        body: {
          error:
            'Bull Board is off: this process runs a worker, whose task commands are loopback clients: set BOARD_USER and BOARD_PASSWORD to serve Bull Board',
        },
      });
    });

    it('asks every client for the credentials when they are configured', () => {
      const basicPolicy = boardPolicy({ BOARD_USER: 'ops', BOARD_PASSWORD: 'p:a:ss', HOST: '127.0.0.1' }, API_ONLY);
      expect(call(basicPolicy, '127.0.0.1')).toMatchObject({ status: 401, next: false });
      expect(call(basicPolicy, '10.0.0.7', basic('ops', 'p:a:ss'))).toEqual({ next: true });
      expect(call(basicPolicy, '10.0.0.7', basic('ops', 'p:a:s'))).toMatchObject({ status: 401, next: false });
    });
  });

  describe('in a process with a worker and no credentials', () => {
    let api: ApiHarness;
    beforeAll(async () => {
      api = await startApi({}, { workerInProcess: true });
    });
    afterAll(async () => {
      await api?.close();
    });

    it('is off, for loopback clients too, and says so once at boot', async () => {
      for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
        const res = await fetch(`${api.baseUrl}${path}`);
        expect(res.status).toBe(403);
        expect(await res.json()).toEqual({
          error:
            'Bull Board is off: this process runs a worker, whose task commands are loopback clients: set BOARD_USER and BOARD_PASSWORD to serve Bull Board',
        });
      }
      const bootLines = api.logs.filter((line) => line.includes('Bull Board is off'));
      expect(bootLines).toHaveLength(1);
      expect(JSON.parse(bootLines[0])).toMatchObject({ level: 40, route: '/admin/queues' });
    });
  });

  describe('is read-only', () => {
    let api: ApiHarness;
    let queue: Queue<TaskJobData>;
    const auth = basic('ops', 'board-pass-123');
    beforeAll(async () => {
      api = await startApi({ BOARD_USER: 'ops', BOARD_PASSWORD: 'board-pass-123' }, { workerInProcess: true });
      queue = api.app.get<Queue<TaskJobData>>(getQueueToken(TASK_QUEUE_NAME));
    });
    afterAll(async () => {
      await api?.close();
    });

    /** Every key under the test's prefix with its serialized value: any write changes it. */
    async function redisSnapshot(): Promise<Map<string, string>> {
      const snapshot = new Map<string, string>();
      for (const key of (await api.keys()).sort())
        snapshot.set(key, ((await api.redis.dumpBuffer(key)) ?? Buffer.alloc(0)).toString('base64'));
      return snapshot;
    }

    it('refuses every write, whatever the method, case or override trick, and Redis stays as it was', async () => {
      const waiting = await addInlineJob(api, 811, 1);
      const failedId = jobIdFor(811, 2);
      const failed = await queue.add(
        failedId,
        { task_id: 811, subtask_id: 2, payloadRef: `${api.prefix}:payload:811:2` },
        { jobId: failedId, delay: 60_000 },
      );
      const q = `/admin/queues/api/queues/${TASK_QUEUE_NAME}`;
      const body = (value: unknown) => ({ headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(value) });
      const attempts: { method: string; path: string; init?: { headers?: Record<string, string>; body?: string } }[] = [
        { method: 'PUT', path: '/admin/queues/api/queues/pause' },
        { method: 'PUT', path: '/admin/queues/api/queues/resume' },
        { method: 'PUT', path: `${q}/pause` },
        { method: 'PUT', path: `${q}/Pause` },
        { method: 'PUT', path: `${q}/resume` },
        { method: 'PUT', path: `${q}/clean/completed` },
        { method: 'PUT', path: `${q}/clean/delayed` },
        { method: 'PUT', path: `${q}/empty` },
        { method: 'PUT', path: `${q}/obliterate` },
        { method: 'PUT', path: `${q}/concurrency`, init: body({ concurrency: 50 }) },
        { method: 'PUT', path: `${q}/Concurrency`, init: body({ concurrency: 50 }) },
        { method: 'PUT', path: `${q}/rate-limit`, init: body({ max: 1, duration: 60_000 }) },
        { method: 'PUT', path: `${q}/retry/failed` },
        { method: 'PUT', path: `${q}/promote` },
        {
          method: 'POST',
          path: `${q}/add`,
          init: body({ name: 'x', data: { task_id: 900, subtask_id: 1, payload: examplePayload(900, 1) } }),
        },
        { method: 'POST', path: `${q}/ADD`, init: body({ name: 'x', data: null }) },
        { method: 'PUT', path: `${q}/${waiting}/retry` },
        { method: 'PUT', path: `${q}/${failedId}/promote` },
        { method: 'PUT', path: `${q}/${failedId}/PROMOTE` },
        { method: 'PUT', path: `${q}/${waiting}/clean` },
        { method: 'DELETE', path: `${q}/${waiting}` },
        { method: 'PATCH', path: `${q}/${waiting}/update-data`, init: body({ jobData: { task_id: 811, subtask_id: 1, payloadRef: 'x' } }) },
        { method: 'PATCH', path: `${q}/${waiting}/Update-Data`, init: body({ jobData: { task_id: 811, subtask_id: 1, payloadRef: 'x' } }) },
        { method: 'PATCH', path: `${q}/${waiting}/UPDATE-DATA`, init: body({ jobData: null }) },
        { method: 'PUT', path: `${q}/${waiting}/update-data`, init: body({ jobData: null }) },
        { method: 'PATCH', path: `${q}/${failedId}/delay`, init: body({ delay: 0 }) },
        { method: 'PATCH', path: `${q}/${waiting}/priority`, init: body({ priority: 1 }) },
        { method: 'PUT', path: `/ADMIN/QUEUES/API/QUEUES/${TASK_QUEUE_NAME.toUpperCase()}/PAUSE` },
        {
          method: 'POST',
          path: `${q}/${waiting}/update-data`,
          init: { headers: { ...auth, 'x-http-method-override': 'PATCH', 'content-type': 'application/json' }, body: '{"jobData":null}' },
        },
        { method: 'GET', path: `${q}/pause`, init: { headers: { ...auth, 'X-HTTP-Method-Override': 'PUT' } } },
        { method: 'GET', path: `${q}/pause`, init: { headers: { ...auth, 'X-HTTP-Method': 'PUT' } } },
        { method: 'GET', path: `${q}/pause`, init: { headers: { ...auth, 'X-Method-Override': 'PUT' } } },
        { method: 'GET', path: `${q}/pause?_method=PUT` },
        { method: 'POST', path: `${q}/pause?_METHOD=put` },
      ];
      const before = await redisSnapshot();
      expect(before.size).toBeGreaterThan(3);
      const statuses: string[] = [];
      for (const { method, path, init } of attempts) {
        const res = await fetch(`${api.baseUrl}${path}`, { method, headers: init?.headers ?? auth, body: init?.body });
        statuses.push(`${method} ${path} ${res.status}`);
        if (res.status === 405) {
          expect(res.headers.get('allow')).toBe('GET, HEAD');
          expect(await res.json()).toEqual({
            error: 'Bull Board is read-only here: jobs and queues are changed through the API and the operator CLI only',
          });
        }
      }
      // Every attempt is refused by the board itself; none reaches a handler.
      expect(statuses).toEqual(attempts.map(({ method, path }) => `${method} ${path} 405`));
      expect(await redisSnapshot()).toEqual(before);
      expect(await queue.isPaused()).toBe(false);
      expect(await queue.getGlobalConcurrency()).toBeNull();
      expect((await queue.getJob(waiting))!.data.payload?.auth_token).toBe(EXAMPLE_SECRETS.authToken);
      expect(await (await queue.getJob(failedId))!.getState()).toBe('delayed');
      expect(await queue.getJob(jobIdFor(900, 1))).toBeUndefined();
      expect(failed.id).toBe(failedId);
    });

    it('refuses writes without credentials before anything else (401)', async () => {
      const res = await fetch(`${api.baseUrl}/admin/queues/api/queues/${TASK_QUEUE_NAME}/pause`, { method: 'PUT' });
      expect(res.status).toBe(401);
      expect(await queue.isPaused()).toBe(false);
    });

    it('still serves reads: the job view, its progress and its log lines', async () => {
      const jobId = await addInlineJob(api, 812, 1);
      const job = (await queue.getJob(jobId))!;
      await job.updateProgress({ phase: 'running', last_step: 'Run command' });
      await job.log('status: started');
      const view = await fetch(`${api.baseUrl}/admin/queues/api/queues/${TASK_QUEUE_NAME}/${jobId}`, { headers: auth });
      expect(view.status).toBe(200);
      const shown = (await view.json()) as { job: { progress: unknown } };
      expect(shown.job.progress).toEqual({ phase: 'running', last_step: 'Run command' });
      const logs = await fetch(`${api.baseUrl}/admin/queues/api/queues/${TASK_QUEUE_NAME}/${jobId}/logs`, { headers: auth });
      expect(logs.status).toBe(200);
      expect(await logs.json()).toEqual(['status: started']);
      expect(
        (await fetch(`${api.baseUrl}/admin/queues/api/queues/${TASK_QUEUE_NAME}/${jobId}`, { method: 'HEAD', headers: auth })).status,
      ).toBe(200);
    });
  });

  it('redacts secret-looking values of data that is not a valid payload, by key and by shape', () => {
    const data = {
      task_id: 1,
      payload: {
        bot: 'not a list',
        api_key: 'sk-loose-0123456789',
        nested: { GITHUB_TOKEN: 'ghp_x1', note: `key ${EXAMPLE_SECRETS.authToken}` },
      },
    };
    const shown = JSON.stringify(redactJobData(data));
    for (const secret of ['sk-loose-0123456789', 'ghp_x1', EXAMPLE_SECRETS.authToken]) expect(shown).not.toContain(secret);
    expect(redactJobData('plain')).toBe('plain');
  });
});
