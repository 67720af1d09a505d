import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { jobIdFor, TASK_QUEUE_NAME, taskPayloadSchema, type TaskJobData } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { TaskQueueService } from '@wegent-codex/queue';
import { createLogger, redisOptionsFromUrl } from '@wegent-codex/runtime';
import { examplePayload } from '../../../test/support/wegent-payload';
import { dropPrefix, eventually, testConfig } from '../../../test/support/test-config';
import { CodexRunProcessor } from './codex-run.processor';
import { RunRegistry } from './run-registry';
import { WorkerLiveness } from './worker-liveness';
import type { RunRequest, TaskRunner } from './task-runner';

/**
 * The task lane as the processor enforces it, with a real Redis and a real BullMQ worker (two slots)
 * and a scripted runner in place of Codex:
 * - a first subtask that runs longer than the park delay still holds its follow-up (the follow-up's
 *   delay ending does not let it run beside the head);
 * - the follow-up after a cancelled subtask runs, and is not itself cancelled.
 */
jest.setTimeout(30_000);

const config = testConfig('lane-admission', { WORKER_CONCURRENCY: '2' });
const connection = redisOptionsFromUrl(config.REDIS_URL);
const logger = createLogger({ LOG_LEVEL: 'silent' });

/** A runner whose runs end when the test says so; it records starts and ends in one timeline. */
class ScriptedRunner {
  readonly timeline: string[] = [];
  private readonly endings = new Map<string, (result: string) => void>();

  run(request: RunRequest): Promise<string> {
    const name = `${request.payload.task_id}.${request.payload.subtask_id}`;
    this.timeline.push(`start ${name}`);
    return new Promise<string>((resolve) => this.endings.set(name, resolve)).then((result) => {
      this.timeline.push(`end ${name}`);
      return result;
    });
  }

  running(name: string): boolean {
    return this.endings.has(name) && !this.timeline.includes(`end ${name}`);
  }

  end(name: string, result = 'completed'): void {
    const resolve = this.endings.get(name);
    if (!resolve) throw new Error(`${name} never started`);
    resolve(result);
  }
}

let redis: Redis;
let queue: Queue<TaskJobData>;
let worker: Worker<TaskJobData>;
let tasks: TaskQueueService;
let runner: ScriptedRunner;
let results: Map<string, string>;

beforeEach(async () => {
  redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  const keys = new RedisKeys(config.REDIS_PREFIX);
  const events = new EventLogRepository(redis, keys);
  queue = new Queue<TaskJobData>(TASK_QUEUE_NAME, { connection, prefix: config.REDIS_PREFIX });
  tasks = new TaskQueueService(queue, redis, config, logger, keys, events);
  runner = new ScriptedRunner();
  results = new Map();
  const liveness = new WorkerLiveness(config, logger, keys); // only its id is read here
  const processor = new CodexRunProcessor(queue, tasks, events, runner as unknown as TaskRunner, liveness, new RunRegistry(), logger);
  worker = new Worker<TaskJobData>(TASK_QUEUE_NAME, (job: Job<TaskJobData>, token?: string) => processor.process(job, token), {
    connection,
    prefix: config.REDIS_PREFIX,
    concurrency: 2,
  });
  worker.on('completed', (job, result: string) => results.set(job.id!, result));
});

afterEach(async () => {
  await worker.close(true);
  await queue.close();
  redis.disconnect();
  await dropPrefix(config);
});

const enqueue = (taskId: number, subtaskId: number) => tasks.enqueue(taskPayloadSchema.parse(examplePayload(taskId, subtaskId)));
const stateOf = async (jobId: string) => (await queue.getJob(jobId))?.getState();

describe('task lane admission (real Redis, real BullMQ worker)', () => {
  it('a head running longer than the park delay holds its follow-up until it ends', async () => {
    await enqueue(41, 1);
    await eventually(() => runner.running('41.1'), 10_000);
    const followUp = await enqueue(41, 2);
    expect(followUp).toMatchObject({ jobId: jobIdFor(41, 2), state: 'delayed', created: true });

    // The park delay (30 s) is over while 41.1 still runs: the follow-up becomes waiting and a free
    // worker slot takes it. It must go back to its lane's parking, not run beside 41.1.
    await (await queue.getJob(jobIdFor(41, 2)))!.promote();
    await eventually(async () => {
      const job = await queue.getJob(jobIdFor(41, 2));
      return job!.attemptsStarted >= 1 && (await job!.getState()) === 'delayed';
    }, 10_000);
    expect(runner.timeline).toEqual(['start 41.1']);

    runner.end('41.1');
    await eventually(() => runner.running('41.2'), 10_000); // promoted when the head left
    runner.end('41.2');
    await eventually(() => results.get(jobIdFor(41, 2)), 10_000);
    expect(runner.timeline).toEqual(['start 41.1', 'end 41.1', 'start 41.2', 'end 41.2']);
    expect(Object.fromEntries(results)).toEqual({ [jobIdFor(41, 1)]: 'completed', [jobIdFor(41, 2)]: 'completed' });
    expect(await tasks.lane.members(41)).toEqual([]);
  });

  it('the follow-up after a cancelled subtask runs (a cancel is per subtask, not per task)', async () => {
    await enqueue(42, 1);
    await eventually(() => runner.running('42.1'), 10_000);
    expect(await tasks.cancelTask(42)).toEqual({ task_id: 42, cancelled: [{ subtask_id: 1, stage: 'running' }] });
    expect(await tasks.cancels.isRequested(42, 1)).toBe(true);
    runner.end('42.1', 'cancelled');
    await eventually(() => results.get(jobIdFor(42, 1)), 10_000);

    await enqueue(42, 2);
    await eventually(() => runner.running('42.2'), 10_000);
    runner.end('42.2');
    await eventually(() => results.get(jobIdFor(42, 2)), 10_000);
    expect(runner.timeline).toEqual(['start 42.1', 'end 42.1', 'start 42.2', 'end 42.2']);
    expect(Object.fromEntries(results)).toEqual({ [jobIdFor(42, 1)]: 'cancelled', [jobIdFor(42, 2)]: 'completed' });
    expect(await stateOf(jobIdFor(42, 2))).toBe('completed');
  });
});
