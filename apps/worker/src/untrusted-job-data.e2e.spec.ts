import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { jobIdFor, TASK_QUEUE_NAME, type StoredEvent } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { redisOptionsFromUrl } from '@wegent-codex/runtime';
import { examplePayload } from '../../../test/support/wegent-payload';
import { ServiceProcess } from '../../../test/support/service-process';
import { dropPrefix, eventually, testConfig } from '../../../test/support/test-config';

/**
 * Job data is read from Redis, and anyone who can write to Redis can put anything there. A worker
 * process (the real built service, real Redis, real BullMQ) is given jobs whose data is null, not
 * JSON, of the wrong shape, naming another subtask, or pointing at another key: each job fails
 * with its reason and (when its id names a subtask) that subtask's one terminal event — and the
 * process keeps running and taking jobs.
 */
jest.setTimeout(40_000);

describe('a worker given untrusted job data', () => {
  const config = testConfig('untrusted-jobs');
  const keys = new RedisKeys(config.REDIS_PREFIX);
  let redis: Redis;
  let queue: Queue;
  let events: EventLogRepository;
  let worker: ServiceProcess;

  beforeAll(async () => {
    redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
    events = new EventLogRepository(redis, keys);
    queue = new Queue(TASK_QUEUE_NAME, { connection: redisOptionsFromUrl(config.REDIS_URL), prefix: config.REDIS_PREFIX });
    // JOB_LOCK_MS well above every wait below: a job must fail through the processor, not by stalling.
    worker = await ServiceProcess.start('worker', ['worker'], {
      REDIS_URL: config.REDIS_URL,
      REDIS_PREFIX: config.REDIS_PREFIX,
      JOB_LOCK_MS: '120000',
      WORKSPACE_ROOT: `/tmp/${config.REDIS_PREFIX}`,
    });
  }, 60_000);

  afterAll(async () => {
    await worker?.kill();
    await queue?.close();
    redis?.disconnect();
    await dropPrefix(config);
  });

  afterEach(() => {
    if (!worker.running) throw new Error(`the worker process died\n${worker.tail()}`);
  });

  /** Read from Redis itself: BullMQ's own getJob throws on data that is not JSON. */
  async function failedReason(jobId: string): Promise<string> {
    const queueKey = `${config.REDIS_PREFIX}:${TASK_QUEUE_NAME}`;
    return eventually(async () => {
      if ((await redis.zscore(`${queueKey}:failed`, jobId)) === null) return undefined;
      return (await redis.hget(`${queueKey}:${jobId}`, 'failedReason')) ?? undefined;
    }, 15_000);
  }

  /** The subtask's events as (type, kind, message, error). */
  async function eventsOf(taskId: number, subtaskId: number): Promise<Record<string, unknown>[]> {
    return (await events.read(taskId, subtaskId)).map(({ event }: StoredEvent) => {
      const { type, kind, message, error, phase } = event as StoredEvent['event'] & Record<string, unknown>;
      return Object.fromEntries(Object.entries({ type, phase, kind, message, error }).filter(([, v]) => v !== undefined));
    });
  }

  const refusedEvents = (taskId: number, subtaskId: number, reason: string) => [
    { type: 'status', phase: 'started' },
    {
      type: 'error',
      kind: 'init',
      message: `[task_id: ${taskId}.${subtaskId}] Unable to get or create agent`,
      error: `invalid job: ${reason}`,
    },
  ];

  it('null data: the job fails with the reason, its subtask ends once, the process lives on', async () => {
    const jobId = jobIdFor(9001, 1);
    await queue.add(jobId, null, { jobId });
    expect(await failedReason(jobId)).toBe('invalid job: job data is null');
    expect(await eventsOf(9001, 1)).toEqual(refusedEvents(9001, 1, 'job data is null'));
    expect(worker.logs('job refused: its data cannot be trusted').map((l) => l.reason)).toContain('job data is null');
  });

  it('data that is not JSON: failed at once instead of staying active', async () => {
    const jobId = jobIdFor(9002, 1);
    // Paused while the stored data is broken, so the worker takes the job only afterwards.
    await queue.pause();
    await queue.add(jobId, { task_id: 9002, subtask_id: 1, payloadRef: keys.payload(9002, 1) }, { jobId });
    await redis.hset(`${config.REDIS_PREFIX}:${TASK_QUEUE_NAME}:${jobId}`, 'data', '{"task_id": 9002, not json');
    await queue.resume();
    expect(await failedReason(jobId)).toBe('invalid job: job data is not JSON (not valid JSON)');
    expect(await eventsOf(9002, 1)).toEqual(refusedEvents(9002, 1, 'job data is not JSON (not valid JSON)'));
    expect(await queue.getActiveCount()).toBe(0);
  });

  it('data of the wrong shape', async () => {
    for (const [subtask, data, reason] of [
      [1, { task_id: 'x', subtask_id: 1, payloadRef: 'r' }, 'job data is not task job data (invalid: task_id)'],
      [2, 'just a string', 'job data is a string, not an object'],
      [3, [1, 2], 'job data is an array, not an object'],
      [4, { task_id: 9003, subtask_id: 4 }, 'job data is not task job data (invalid: (root))'],
    ] as const) {
      const jobId = jobIdFor(9003, subtask);
      await queue.add(jobId, data, { jobId });
      expect(await failedReason(jobId)).toBe(`invalid job: ${reason}`);
      expect(await eventsOf(9003, subtask)).toEqual(refusedEvents(9003, subtask, reason));
    }
  });

  it('ids that do not match the job: nothing is appended to the subtask the data names', async () => {
    const jobId = jobIdFor(9004, 1);
    await queue.add(jobId, { task_id: 9005, subtask_id: 1, payload: examplePayload(9005, 1) }, { jobId });
    expect(await failedReason(jobId)).toBe('invalid job: job data names subtask 9005.1, but the job is task-9004-sub-1');
    expect(await eventsOf(9005, 1)).toEqual([]);
    expect(await eventsOf(9004, 1)).toEqual(refusedEvents(9004, 1, 'job data names subtask 9005.1, but the job is task-9004-sub-1'));

    const inline = jobIdFor(9004, 2);
    await queue.add(inline, { task_id: 9004, subtask_id: 2, payload: examplePayload(9006, 7) }, { jobId: inline });
    expect(await failedReason(inline)).toBe('invalid job: the inline payload names subtask 9006.7, but the job is task-9004-sub-2');
    expect(await eventsOf(9006, 7)).toEqual([]);
  });

  it('a stored payload that names another subtask is not run', async () => {
    const jobId = jobIdFor(9007, 1);
    await redis.set(keys.payload(9007, 1), `plain:${JSON.stringify(examplePayload(9008, 1))}`);
    await queue.add(jobId, { task_id: 9007, subtask_id: 1, payloadRef: keys.payload(9007, 1) }, { jobId });
    await eventually(async () => (await events.terminalOf(9007, 1)) ?? undefined, 15_000);
    expect(await eventsOf(9007, 1)).toEqual([
      { type: 'status', phase: 'started' },
      {
        type: 'error',
        kind: 'init',
        message: '[task_id: 9007.1] Unable to get or create agent',
        error: 'stored payload names subtask 9008.1, not 9007.1',
      },
    ]);
    // Dropped when the job is released, right after its terminal event.
    await eventually(async () => (await redis.exists(keys.payload(9007, 1))) === 0 || undefined, 15_000);
  });

  it('a payloadRef naming another key: that key is neither read nor deleted', async () => {
    const victim = keys.payload(9010, 1);
    const canary = `${config.REDIS_PREFIX}:canary`;
    await redis.set(victim, `plain:${JSON.stringify(examplePayload(9010, 1))}`);
    await redis.set(canary, 'still here');
    for (const [subtask, ref] of [
      [1, victim],
      [2, canary],
    ] as const) {
      const jobId = jobIdFor(9009, subtask);
      await queue.add(jobId, { task_id: 9009, subtask_id: subtask, payloadRef: ref }, { jobId });
      expect(await failedReason(jobId)).toBe(`invalid job: payloadRef is not this job's payload key (${keys.payload(9009, subtask)})`);
    }
    expect(await redis.get(canary)).toBe('still here');
    expect(await redis.get(victim)).toBe(`plain:${JSON.stringify(examplePayload(9010, 1))}`);
    expect(await eventsOf(9010, 1)).toEqual([]);
  });

  it('a job id that names no subtask: failed, no event anywhere', async () => {
    await queue.add('evil', null, { jobId: 'evil' });
    expect(await failedReason('evil')).toBe('invalid job: job id "evil" is not task-<task_id>-sub-<subtask_id>');
  });

  it('still takes jobs after all of that (the same process)', async () => {
    const jobId = jobIdFor(9011, 1);
    await queue.add(jobId, { task_id: 9011, subtask_id: 1, payloadRef: keys.payload(9011, 1) }, { jobId });
    // No stored payload: the run ends the ClaudeCode way, through the normal path.
    await eventually(async () => (await events.terminalOf(9011, 1)) ?? undefined, 15_000);
    expect(await eventsOf(9011, 1)).toEqual([
      { type: 'status', phase: 'started' },
      { type: 'error', kind: 'init', message: '[task_id: 9011.1] Unable to get or create agent', error: 'task payload expired or missing' },
    ]);
    await eventually(async () => (await (await queue.getJob(jobId))!.getState()) === 'completed' || undefined, 15_000);
    expect(worker.running).toBe(true);
    expect(worker.logs('unhandled').length + worker.logs('uncaught').length).toBe(0);
  });
});
