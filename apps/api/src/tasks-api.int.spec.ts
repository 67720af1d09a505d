import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { jobIdFor, TASK_QUEUE_NAME, type TaskJobData, type TaskPayload } from '@wegent-codex/contracts';
import { EventLogRepository } from '@wegent-codex/event-log';
import { TASK_JOB_OPTIONS } from '@wegent-codex/queue';
import { examplePayload, exampleRun, postJson, startApi, type ApiHarness } from '../../../test/support/api-harness';

/** A parsed JSON answer, read field by field in the assertions. */
type Json = any;

describe('native API (/v1/tasks)', () => {
  let api: ApiHarness;
  let queue: Queue;
  let events: EventLogRepository;
  const get = async (path: string) => {
    const res = await fetch(`${api.baseUrl}${path}`);
    return { status: res.status, json: (await res.json()) as Json };
  };

  beforeAll(async () => {
    api = await startApi();
    queue = api.app.get<Queue>(getQueueToken(TASK_QUEUE_NAME));
    events = api.app.get(EventLogRepository);
  });
  afterAll(async () => {
    await api?.close();
  });

  it('enqueues with 202 and is idempotent for the same (task_id, subtask_id)', async () => {
    const first = await postJson(`${api.baseUrl}/v1/tasks`, examplePayload(601, 1));
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ job_id: 'task-601-sub-1', task_id: 601, subtask_id: 1, state: 'waiting', created: true });

    const again = await postJson(`${api.baseUrl}/v1/tasks`, examplePayload(601, 1));
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ job_id: 'task-601-sub-1', task_id: 601, subtask_id: 1, state: 'waiting', created: false });
    expect(await queue.getJobCounts('waiting', 'delayed')).toMatchObject({ waiting: 1, delayed: 0 });
  });

  it('parks a follow-up of the same task behind the first subtask', async () => {
    const follow = await postJson(`${api.baseUrl}/v1/tasks`, examplePayload(601, 2));
    expect(await follow.json()).toMatchObject({ job_id: 'task-601-sub-2', state: 'delayed', created: true });
  });

  it('shows a subtask with a job but no event yet as queued', async () => {
    const res = await get('/v1/tasks/601/subtasks/1');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      task_id: 601,
      subtask_id: 1,
      state: 'queued',
      status: 'PENDING',
      events: 0,
      result: { thinking: [] },
    });
  });

  it('cancels every waiting subtask of a task, then answers 404 when nothing is left', async () => {
    const res = await fetch(`${api.baseUrl}/v1/tasks/601/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.task_id).toBe(601);
    expect(body.cancelled).toEqual(
      expect.arrayContaining([
        { subtask_id: 1, stage: 'queued' },
        { subtask_id: 2, stage: 'queued' },
      ]),
    );
    expect(await queue.getJob(jobIdFor(601, 1))).toBeUndefined();

    const again = await fetch(`${api.baseUrl}/v1/tasks/601/cancel`, { method: 'POST' });
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ error: 'nothing of task 601 is waiting or running', task_id: 601, cancelled: [] });

    expect((await get('/v1/tasks/601/subtasks/1')).json).toMatchObject({ state: 'cancelled', status: 'CANCELLED', progress: 100 });
  });

  it('rebuilds a subtask from its events', async () => {
    for (const event of exampleRun(602, 7)) await events.append(event);

    const res = await get('/v1/tasks/602/subtasks/7');

    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      task_id: 602,
      subtask_id: 7,
      state: 'completed',
      status: 'COMPLETED',
      progress: 100,
      events: 4,
      result: { value: 'Fixed it.' },
    });
  });

  it('answers 404 for a subtask with neither job nor events', async () => {
    expect(await get('/v1/tasks/603/subtasks/1')).toEqual({ status: 404, json: { error: 'no job and no events for task 603 subtask 1' } });
    expect((await get('/v1/tasks/603/subtasks/1/events')).status).toBe(404);
  });

  it('lists the event log as JSON, after a cursor and in pages', async () => {
    const all = await get('/v1/tasks/602/subtasks/7/events');
    expect(all.status).toBe(200);
    expect(all.json.events.map((e: { type: string }) => e.type)).toEqual(['status', 'chunk', 'chunk', 'done']);
    expect(all.json.events[1]).toEqual({
      id: expect.stringMatching(/^\d+-\d+$/),
      type: 'chunk',
      item_id: 'msg-1',
      text: 'Fixed ',
      task_id: 602,
      subtask_id: 7,
      attempt: 1,
      seq: 2,
      timestamp: expect.any(String),
    });
    expect(all.json.last_id).toBe(all.json.events[3].id);

    const page = await get(`/v1/tasks/602/subtasks/7/events?after=${all.json.events[0].id}&limit=2`);
    expect(page.json.events.map((e: { seq: number }) => e.seq)).toEqual([2, 3]);
    expect(page.json.last_id).toBe(all.json.events[2].id);

    const end = await get(`/v1/tasks/602/subtasks/7/events?after=${all.json.last_id}`);
    expect(end).toEqual({ status: 200, json: { events: [], last_id: all.json.last_id } });
  });

  it('refuses a malformed cursor or limit with 400', async () => {
    for (const query of ['after=abc', 'after=1-x', 'limit=0', 'limit=100000']) {
      const res = await get(`/v1/tasks/602/subtasks/7/events?${query}`);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: 'invalid query parameter', issues: [{ path: query.split('=')[0], message: expect.any(String) }] });
    }
  });

  it('reads and cancels a job that a producer put straight into BullMQ, as apps/api/README.md shows', async () => {
    // The README's example, with this test's prefix.
    const payload = examplePayload(604, 3) as TaskPayload;
    const jobId = jobIdFor(payload.task_id, payload.subtask_id);
    const data: TaskJobData = {
      task_id: payload.task_id,
      subtask_id: payload.subtask_id,
      title: payload.subtask_title ?? undefined,
      payload,
      enqueuedAt: new Date().toISOString(),
    };
    await queue.add(jobId, data, { ...TASK_JOB_OPTIONS, jobId });
    const lane = `${api.prefix}:task:${payload.task_id}:lane`;
    const redis = api.redis;
    if ((await redis.lpos(lane, jobId)) === null) {
      await redis.rpush(lane, jobId);
      await redis.expire(lane, 7 * 24 * 3600);
    }

    expect((await get('/v1/tasks/604/subtasks/3')).json).toMatchObject({ state: 'queued' });
    const cancel = await fetch(`${api.baseUrl}/api/tasks/cancel?task_id=604`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    expect((await get('/v1/tasks/604/subtasks/3')).json).toMatchObject({ state: 'cancelled' });
  });
});
