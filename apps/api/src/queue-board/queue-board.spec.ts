import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { jobIdFor, TASK_QUEUE_NAME, type Config, type TaskJobData } from '../../../../libs/contracts/src';
import { EXAMPLE_SECRETS, examplePayload, postJson, startApi, type ApiHarness } from '../../../../test/support/api-harness';
import type { HttpRequest, HttpResponse } from '../http/http-types';
import { boardAccess, isLoopback } from './board-access';
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
  describe('without BOARD_USER/BOARD_PASSWORD (loopback only)', () => {
    let api: ApiHarness;
    beforeAll(async () => {
      api = await startApi();
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

      const list = await fetch(`${api.baseUrl}/admin/queues/api/queues?activeQueue=${TASK_QUEUE_NAME}&status=waiting&page=1&jobsPerPage=10`);
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

    it('refuses to edit job data (the editor would write the masked values back)', async () => {
      const jobId = await addInlineJob(api, 803, 1);
      const res = await fetch(`${api.baseUrl}/admin/queues/api/queues/${TASK_QUEUE_NAME}/${jobId}/update-data`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jobData: { task_id: 803, subtask_id: 1 } }),
      });
      expect(res.status).toBe(403);
      const queue = api.app.get<Queue<TaskJobData>>(getQueueToken(TASK_QUEUE_NAME));
      expect((await queue.getJob(jobId))!.data.payload?.auth_token).toBe(EXAMPLE_SECRETS.authToken);
    });
  });

  describe('with BOARD_USER/BOARD_PASSWORD', () => {
    let api: ApiHarness;
    beforeAll(async () => {
      api = await startApi({ BOARD_USER: 'ops', BOARD_PASSWORD: 'board-pass-123', API_TOKEN: 'api-token-456' });
    });
    afterAll(async () => {
      await api?.close();
    });

    it('asks for Basic auth, even on loopback, and takes only the right pair', async () => {
      const none = await fetch(`${api.baseUrl}/admin/queues`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Basic realm="Bull Board", charset="UTF-8"');
      expect(await none.json()).toEqual({ error: 'Bull Board needs Basic auth with BOARD_USER and BOARD_PASSWORD' });

      for (const headers of [basic('ops', 'wrong'), basic('admin', 'board-pass-123'), basic('ops', ''), { authorization: 'Bearer api-token-456' }, { authorization: 'Basic !!!' }]) {
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
    const OPEN = { BOARD_USER: undefined, BOARD_PASSWORD: undefined };
    const call = (config: Pick<Config, 'BOARD_USER' | 'BOARD_PASSWORD'>, remoteAddress: string, headers: Record<string, string> = {}) => {
      const reply: { status?: number; next: boolean } = { next: false };
      const req = { headers, socket: { remoteAddress } } as unknown as HttpRequest;
      const res = {
        setHeader: () => undefined,
        status(code: number) {
          reply.status = code;
          return this;
        },
        json: () => undefined,
      } as unknown as HttpResponse;
      boardAccess(config)(req, res, () => {
        reply.next = true;
      });
      return reply;
    };

    it('serves only loopback clients when no credentials are configured: 403 otherwise', () => {
      for (const address of ['127.0.0.1', '127.8.0.1', '::1', '::ffff:127.0.0.1']) expect(call(OPEN, address)).toEqual({ next: true });
      for (const address of ['10.0.0.7', '192.168.1.2', '::ffff:10.0.0.7', 'fe80::1', '']) expect(call(OPEN, address)).toEqual({ status: 403, next: false });
      expect(isLoopback(undefined)).toBe(false);
    });

    it('asks every client for the credentials when they are configured', () => {
      const config = { BOARD_USER: 'ops', BOARD_PASSWORD: 'p:a:ss' };
      expect(call(config, '127.0.0.1')).toEqual({ status: 401, next: false });
      expect(call(config, '10.0.0.7', basic('ops', 'p:a:ss'))).toEqual({ next: true });
      expect(call(config, '10.0.0.7', basic('ops', 'p:a:s'))).toEqual({ status: 401, next: false });
    });
  });

  it('redacts secret-looking values of data that is not a valid payload, by key and by shape', () => {
    const data = {
      task_id: 1,
      payload: { bot: 'not a list', api_key: 'sk-loose-0123456789', nested: { GITHUB_TOKEN: 'ghp_x1', note: `key ${EXAMPLE_SECRETS.authToken}` } },
    };
    const shown = JSON.stringify(redactJobData(data));
    for (const secret of ['sk-loose-0123456789', 'ghp_x1', EXAMPLE_SECRETS.authToken]) expect(shown).not.toContain(secret);
    expect(redactJobData('plain')).toBe('plain');
  });
});
