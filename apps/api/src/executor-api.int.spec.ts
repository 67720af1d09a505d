import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { jobIdFor, TASK_QUEUE_NAME } from '@wegent-codex/contracts';
import { EventLogRepository } from '@wegent-codex/event-log';
import { EXAMPLE_SECRETS, examplePayload, postJson, startApi, type ApiHarness } from '../../../test/support/api-harness';

/** The Wegent executor drop-in: what executor_manager posts, byte for byte what it gets back. */
describe('executor-compatible API (/api/tasks)', () => {
  let api: ApiHarness;
  let queue: Queue;
  /** Every response body of this file, searched for secrets at the end. */
  const bodies: string[] = [];
  const call = async (response: Promise<Response>) => {
    const res = await response;
    const text = await res.text();
    bodies.push(text);
    return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : undefined };
  };
  const execute = (body: unknown, headers: Record<string, string> = {}) =>
    call(postJson(`${api.baseUrl}/api/tasks/execute`, body, headers));
  const cancel = (query: string) => call(fetch(`${api.baseUrl}/api/tasks/cancel${query}`, { method: 'POST' }));

  beforeAll(async () => {
    api = await startApi();
    queue = api.app.get<Queue>(getQueueToken(TASK_QUEUE_NAME));
  });
  afterAll(async () => {
    await api?.close();
  });

  it('enqueues the full example payload and answers exactly like the executor', async () => {
    const res = await execute(examplePayload(305, 812));

    expect(res.status).toBe(200);
    expect(res.text).toBe('{"task_id":305,"subtask_id":812,"status":"RUNNING","message":"Task execution status  : RUNNING","progress":50}');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}$/);

    const job = await queue.getJob(jobIdFor(305, 812));
    expect(job).toBeDefined();
    expect(job!.data).toMatchObject({ task_id: 305, subtask_id: 812, title: 'Fix login bug - Assistant' });
    const data = JSON.stringify(job!.data);
    for (const secret of Object.values(EXAMPLE_SECRETS)) expect(data).not.toContain(secret);
  });

  it('answers a repeated post of the same subtask the same way, without a second job', async () => {
    const first = await execute(examplePayload(306, 1));
    const again = await execute(examplePayload(306, 1));

    expect(again.status).toBe(200);
    expect(again.json).toEqual(first.json);
    const jobs = await queue.getJobs(['waiting', 'delayed', 'active']);
    expect(jobs.filter((j) => j.data.task_id === 306)).toHaveLength(1);
  });

  it('accepts the validation payload executor_manager builds (no shell_type, user with a name only)', async () => {
    const res = await execute({
      task_id: 734512,
      subtask_id: 1,
      task_title: 'Image Validation: my-codex-shell',
      subtask_title: 'Validating Codex dependencies',
      type: 'validation',
      bot: [{ agent_name: 'ImageValidator', base_image: 'registry.example.com/wegent-codex:1.0' }],
      user: { name: 'alice' },
      validation_params: {
        shell_type: 'Codex',
        image: 'registry.example.com/wegent-codex:1.0',
        shell_name: 'my-codex-shell',
        validation_id: '5f0c',
      },
      executor_image: 'registry.example.com/wegent-codex:1.0',
    });

    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ task_id: 734512, subtask_id: 1, status: 'RUNNING' });
    expect(await queue.getJob(jobIdFor(734512, 1))).toBeDefined();
  });

  it('passes a W3C traceparent header to the job and echoes X-Request-ID', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await execute(examplePayload(307, 1), { traceparent, 'x-request-id': 'em-req-42' });

    expect(res.headers.get('x-request-id')).toBe('em-req-42');
    expect((await queue.getJob(jobIdFor(307, 1)))!.data.traceparent).toBe(traceparent);
  });

  it('cancels a waiting job: 200, the job removed, one cancelled event in its log', async () => {
    await execute(examplePayload(310, 5));

    const res = await cancel('?task_id=310');

    expect(res.status).toBe(200);
    expect(res.text).toBe('{"message":"[task_id: 310.-1] Task cancelled"}');
    expect(await queue.getJob(jobIdFor(310, 5))).toBeUndefined();
    const log = await api.app.get(EventLogRepository).read(310, 5);
    expect(log.map((e) => e.event)).toEqual([expect.objectContaining({ type: 'cancelled', stage: 'queued', task_id: 310, subtask_id: 5 })]);
  });

  it('answers 400 "No session found" to a second cancel and to a task it never saw', async () => {
    await execute(examplePayload(311, 1));
    expect((await cancel('?task_id=311')).status).toBe(200);

    const second = await cancel('?task_id=311');
    expect(second.status).toBe(400);
    expect(second.text).toBe('{"detail":"[task_id: 311.-1] No session found"}');

    const unknown = await cancel('?task_id=999001');
    expect(unknown.status).toBe(400);
    expect(unknown.text).toBe('{"detail":"[task_id: 999001.-1] No session found"}');
  });

  it.each([
    ['', 'required'],
    ['?task_id=abc', 'must be a non-negative integer'],
    ['?task_id=-3', 'must be a non-negative integer'],
    ['?task_id=1&task_id=2', 'must be a non-negative integer'],
  ])('refuses cancel%s with 400 and the issue', async (query, message) => {
    const res = await cancel(query);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid query parameter', issues: [{ path: 'task_id', message }] });
  });

  it('never shows a payload secret in an answer or a log line', () => {
    const everything = [...bodies, ...api.logs].join('\n');
    expect(bodies.length).toBeGreaterThan(5);
    expect(api.logs.some((line) => line.includes('task enqueued'))).toBe(true);
    for (const secret of Object.values(EXAMPLE_SECRETS)) expect(everything).not.toContain(secret);
  });
});
