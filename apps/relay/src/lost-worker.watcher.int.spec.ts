import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { jobIdFor, TASK_QUEUE_NAME, type Config, type TaskJobData } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { HeartbeatRegistry, PARK_DELAY_MS, TaskQueueService } from '@wegent-codex/queue';
import { createLogger, redisOptionsFromUrl } from '@wegent-codex/runtime';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { LostWorkerWatcher } from './lost-worker.watcher';

jest.setTimeout(30_000);

/** WORKER_LIVENESS_TTL_MS 5000: renewal every 1000 ms, a worker is lost after 2000 ms of passes seeing its key missing. */
const CONFIRM_MS = 2_000;
const LOST_2025 =
  'Error processing response: the worker running this task was lost (process died or lost its Redis lock); the run was not repeated';
const LOST_2026 =
  'The worker running this task stopped unexpectedly (its process died or lost its connection to Redis), so the run did not finish. Send the message again to retry.';

let config: Config;
let redis: Redis;
let keys: RedisKeys;
let log: EventLogRepository;
let queue: Queue<TaskJobData>;
let tasks: TaskQueueService;
let heartbeats: HeartbeatRegistry;

beforeEach(() => {
  config = testConfig('lost-worker', { WORKER_LIVENESS_TTL_MS: '5000' });
  redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  keys = new RedisKeys(config.REDIS_PREFIX);
  log = new EventLogRepository(redis, keys);
  queue = new Queue<TaskJobData>(TASK_QUEUE_NAME, { connection: redisOptionsFromUrl(config.REDIS_URL), prefix: config.REDIS_PREFIX });
  tasks = new TaskQueueService(queue, redis, config, createLogger(config), keys, log);
  heartbeats = new HeartbeatRegistry(redis, keys);
});

afterEach(async () => {
  await queue.close();
  redis.disconnect();
  await dropPrefix(config);
});

const watcher = () => new LostWorkerWatcher(config, createLogger(config), redis, keys, log, tasks);

/** Queues the subtasks (in their task's lane), then a BullMQ worker named `workerId` takes them and dies holding their locks. */
async function takenBy(workerId: string, subtasks: [number, number][], data: Partial<TaskJobData> = {}): Promise<string[]> {
  for (const [taskId, subtaskId] of subtasks) {
    const jobId = jobIdFor(taskId, subtaskId);
    await tasks.lane.join(taskId, jobId);
    await queue.add(jobId, { task_id: taskId, subtask_id: subtaskId, payloadRef: 'v1', ...data }, { jobId, attempts: 1 });
  }
  const doomed = new Worker(TASK_QUEUE_NAME, null, {
    connection: redisOptionsFromUrl(config.REDIS_URL),
    prefix: config.REDIS_PREFIX,
    lockDuration: 60_000,
    autorun: false,
    ...(workerId && { name: workerId }),
  });
  const taken: string[] = [];
  for (let i = 0; i < subtasks.length; i += 1) taken.push((await doomed.getNextJob(randomUUID()))!.id!);
  await doomed.close(true);
  return taken;
}

async function started(taskId: number, subtaskId: number): Promise<void> {
  await log.append({ type: 'status', phase: 'started', task_id: taskId, subtask_id: subtaskId, attempt: 1 });
}

async function eventsOf(taskId: number, subtaskId: number) {
  return (await log.read(taskId, subtaskId)).map((e) => e.event);
}

describe('LostWorkerWatcher: the running jobs of a worker whose liveness key expired', () => {
  it('end with one FAILED "worker lost" once the key has been missing for two renewal periods; the job fails and its lane moves on', async () => {
    await takenBy('worker-a', [[31, 1]]);
    await started(31, 1);
    const followUp = jobIdFor(31, 2);
    await tasks.lane.join(31, followUp);
    await queue.add(followUp, { task_id: 31, subtask_id: 2, payloadRef: 'v1' }, { jobId: followUp, delay: PARK_DELAY_MS });
    const w = watcher();

    expect(await w.pass(0)).toEqual([]); // first seen missing
    expect(await w.pass(CONFIRM_MS - 1)).toEqual([]);
    expect((await eventsOf(31, 1)).map((e) => e.type)).toEqual(['status']);
    const ended = await w.pass(CONFIRM_MS);

    expect(ended).toEqual([{ jobId: 'task-31-sub-1', ids: { task_id: 31, subtask_id: 1 }, workerId: 'worker-a', attempt: 1 }]);
    const events = await eventsOf(31, 1);
    expect(events.map((e) => e.type)).toEqual(['status', 'error']);
    expect(events[1]).toMatchObject({ kind: 'stream', message: LOST_2025, error: 'worker lost', code: 'executor_crash' });
    expect(events[1]).not.toHaveProperty('protocol');
    const job = await queue.getJob('task-31-sub-1');
    expect(await job!.getState()).toBe('failed');
    expect(job!.failedReason).toBe('worker lost');
    expect(await tasks.lane.members(31)).toEqual(['task-31-sub-2']);
    expect(await (await queue.getJob(followUp))!.getState()).toBe('waiting'); // woken, not left parked
    // Nothing more to do on later passes.
    expect(await w.pass(CONFIRM_MS * 5)).toEqual([]);
    expect(await eventsOf(31, 1)).toHaveLength(2);
  });

  it('a 2026 run ends with one `error` executor_crash in the 2026 words', async () => {
    await takenBy('worker-a', [[32, 7]], { protocol: '2026' });
    await started(32, 7);
    const w = watcher();
    await w.pass(0);
    expect(await w.pass(CONFIRM_MS)).toHaveLength(1);
    const events = await eventsOf(32, 7);
    expect(events.map((e) => e.type)).toEqual(['status', 'error']);
    expect(events[1]).toMatchObject({ kind: 'stream', message: LOST_2026, error: 'worker lost', code: 'executor_crash', protocol: '2026' });
  });

  it('a live worker is never declared lost, and one whose key comes back within the confirmation is not either', async () => {
    await takenBy('worker-b', [[33, 1]]);
    await takenBy('worker-c', [[34, 1]]);
    await started(33, 1);
    await started(34, 1);
    await heartbeats.keepAlive('worker-b', 60_000);
    const w = watcher();

    expect(await w.pass(0)).toEqual([]); // worker-c's key is missing: suspected only
    await heartbeats.keepAlive('worker-c', 60_000); // renewed late (a Redis restart, a reconnect)
    expect(await w.pass(CONFIRM_MS)).toEqual([]);
    expect(await w.pass(100 * CONFIRM_MS)).toEqual([]);

    expect((await eventsOf(33, 1)).map((e) => e.type)).toEqual(['status']);
    expect((await eventsOf(34, 1)).map((e) => e.type)).toEqual(['status']);
    expect(await queue.getActiveCount()).toBe(2);
  });

  it('two watchers that both see the worker lost end its job exactly once', async () => {
    await takenBy('worker-a', [
      [35, 1],
      [36, 1],
    ]);
    await started(35, 1);
    await started(36, 1);
    const [a, b] = [watcher(), watcher()];
    await Promise.all([a.pass(0), b.pass(0)]);

    const [byA, byB] = await Promise.all([a.pass(CONFIRM_MS), b.pass(CONFIRM_MS)]);

    expect([...byA, ...byB].map((j) => j.jobId).sort()).toEqual(['task-35-sub-1', 'task-36-sub-1']);
    for (const taskId of [35, 36]) expect((await eventsOf(taskId, 1)).map((e) => e.type)).toEqual(['status', 'error']);
    expect(await queue.getJobCounts('active', 'failed')).toEqual({ active: 0, failed: 2 });
  });

  it('a run that finishes at the moment its worker is declared lost has exactly one terminal event, whichever wins', async () => {
    const subtasks: [number, number][] = Array.from({ length: 8 }, (_, i) => [40 + i, 1]);
    await takenBy('worker-a', subtasks);
    for (const [t, s] of subtasks) await started(t, s);
    const w = watcher();
    await w.pass(0);

    const [ended] = await Promise.all([
      w.pass(CONFIRM_MS),
      ...subtasks.map(([t, s]) => log.append({ type: 'done', task_id: t, subtask_id: s, attempt: 1, value: 'finished' })),
    ]);

    let lost = 0;
    for (const [t, s] of subtasks) {
      const types = (await eventsOf(t, s)).map((e) => e.type);
      expect(types.length).toBe(2);
      expect(['done', 'error']).toContain(types[1]);
      if (types[1] === 'error') lost += 1;
    }
    expect(ended).toHaveLength(lost); // the watcher reports exactly the runs its own terminal ended
    expect(await queue.getActiveCount()).toBe(0);
  });

  it('a run that finished just before keeps its ending; its job (left active by the dying worker) is failed and leaves its lane', async () => {
    await takenBy('worker-a', [[50, 1]]);
    await started(50, 1);
    await log.append({ type: 'done', task_id: 50, subtask_id: 1, attempt: 1, value: 'finished' });
    const w = watcher();
    await w.pass(0);

    expect(await w.pass(CONFIRM_MS)).toEqual([]);

    expect((await eventsOf(50, 1)).map((e) => e.type)).toEqual(['status', 'done']);
    expect(await (await queue.getJob('task-50-sub-1'))!.getState()).toBe('failed');
    expect(await tasks.lane.members(50)).toEqual([]);
  });

  it("a job whose stored data is unreadable does not keep the worker's other jobs from ending", async () => {
    await takenBy('worker-a', [
      [53, 1],
      [54, 1],
    ]);
    await started(53, 1);
    await started(54, 1);
    await redis.hset(queue.toKey('task-53-sub-1'), 'data', '{not json');
    const w = watcher();
    await w.pass(0);

    expect((await w.pass(CONFIRM_MS)).map((j) => j.jobId)).toEqual(['task-54-sub-1']);
    expect((await eventsOf(54, 1)).map((e) => e.type)).toEqual(['status', 'error']);
  });

  it('leaves alone a job taken but not started (BullMQ re-runs it) and a job of a worker without a liveness id', async () => {
    await takenBy('worker-a', [[51, 1]]);
    await takenBy('', [[52, 1]]);
    await started(52, 1);
    const w = watcher();
    await w.pass(0);

    expect(await w.pass(CONFIRM_MS)).toEqual([]);

    expect(await eventsOf(51, 1)).toEqual([]);
    expect((await eventsOf(52, 1)).map((e) => e.type)).toEqual(['status']);
    expect(await queue.getActiveCount()).toBe(2);
  });
});
