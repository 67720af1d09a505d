import { RedisKeys } from '@wegent-codex/event-log';
import { exec, message, pause, turn } from '../fixtures/fake-responses';
import { eventually } from '../support/test-config';
import { processesUnder, ReliabilityScene, sleep } from './reliability-scene';

/**
 * Concurrency caps across worker processes (GLOBAL_CONCURRENCY, WORKER_CONCURRENCY) and the limits
 * of a run (MAX_RUN_MS) and of a request (MAX_PAYLOAD_BYTES), against the built service.
 */

/** Samples BullMQ's active count until `until` resolves; returns the largest value seen. */
async function maxActiveWhile(s: ReliabilityScene, until: Promise<unknown>): Promise<number> {
  let done = false;
  void until.finally(() => (done = true)).catch(() => undefined);
  let max = 0;
  while (!done) {
    max = Math.max(max, await s.queue.getActiveCount());
    await sleep(25); // the sampling interval
  }
  await until;
  return max;
}

/** Largest number of runs in progress at one moment, from each log's first and last event time. */
async function maxOverlap(s: ReliabilityScene, taskIds: number[]): Promise<number> {
  const edges: [number, number][] = [];
  for (const taskId of taskIds) {
    const log = await s.eventLog(taskId, 1);
    edges.push([Date.parse(log[0].event.timestamp), 1], [Date.parse(log[log.length - 1].event.timestamp), -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // an end and a start at the same instant do not overlap
  let now = 0;
  let max = 0;
  for (const [, delta] of edges) max = Math.max(max, (now += delta));
  return max;
}

/** Jobs that hold their slot for a while: the model pauses before answering. */
async function runSlowJobs(s: ReliabilityScene, taskIds: number[], holdMs: number): Promise<void> {
  for (const taskId of taskIds) {
    s.router.script(taskId, turn([pause(holdMs), message(`Task ${taskId} done.`, { phase: 'final_answer' })]));
    await s.execute(taskId, 1, 'Take your time.');
  }
  for (const taskId of taskIds) {
    expect(await s.waitTerminal(taskId, 1, 60_000)).toMatchObject({ status: 'COMPLETED', error_message: `Task ${taskId} done.` });
  }
}

describe('reliability: concurrency across processes and run limits', () => {
  let s: ReliabilityScene;

  afterEach(async () => {
    await s?.close();
  }, 30_000);

  it('GLOBAL_CONCURRENCY=1 with two worker processes: never more than one job active at once', async () => {
    s = await ReliabilityScene.create('global-cap');
    await s.start(['api', 'relay']);
    const workers = [
      await s.start(['worker'], { WORKER_CONCURRENCY: '2', GLOBAL_CONCURRENCY: '1' }, 'worker-1'),
      await s.start(['worker'], { WORKER_CONCURRENCY: '2', GLOBAL_CONCURRENCY: '1' }, 'worker-2'),
    ];
    const tasks = [901, 902, 903, 904];
    const max = await maxActiveWhile(s, runSlowJobs(s, tasks, 1_000));
    expect(max).toBe(1);
    expect(await maxOverlap(s, tasks)).toBe(1);
    expect(workers.every((w) => w.running)).toBe(true);
  }, 120_000);

  it('WORKER_CONCURRENCY=2 in one worker process: two jobs run side by side, never a third', async () => {
    s = await ReliabilityScene.create('worker-cap');
    await s.start(['api', 'relay']);
    await s.start(['worker'], { WORKER_CONCURRENCY: '2' });
    const tasks = [911, 912, 913, 914];
    const max = await maxActiveWhile(s, runSlowJobs(s, tasks, 2_000));
    expect(max).toBe(2);
    expect(await maxOverlap(s, tasks)).toBe(2);
  }, 120_000);

  describe('limits', () => {
    beforeEach(async () => {
      s = await ReliabilityScene.create('limits');
      await s.start(['api', 'worker', 'relay'], { MAX_RUN_MS: '3000', MAX_PAYLOAD_BYTES: '4096' });
    }, 30_000);

    it('a run longer than MAX_RUN_MS ends with one FAILED and its command is killed', async () => {
      s.router.script(921, turn([exec('sleep 300', { yieldTimeMs: 600_000 })]));
      await s.execute(921, 1, 'Sleep for too long.');
      const terminal = await s.waitTerminal(921, 1, 60_000);
      expect(terminal).toMatchObject({
        status: 'FAILED',
        progress: 100,
        error_message: 'Error processing response: the run exceeded the maximum run time of 3 s',
      });
      await s.waitRelayDone(921, 1); // nothing may follow the terminal callback
      await s.expectCompleteDelivery(921, 1);
      await eventually(async () => (await processesUnder(s.taskDir(921))).length === 0, 10_000, 100);
    }, 90_000);

    it('a payload over MAX_PAYLOAD_BYTES is answered 413 and nothing is enqueued', async () => {
      const body = JSON.stringify(s.payload(931, 1, `Too long: ${'x'.repeat(8_000)}`));
      for (const path of ['/api/tasks/execute', '/v1/tasks']) {
        const res = await fetch(`${s.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        expect(res.status).toBe(413);
        expect(await res.json()).toEqual({ error: 'request body is larger than 4096 bytes (MAX_PAYLOAD_BYTES)' });
      }
      const counts = await s.queue.getJobCounts('wait', 'active', 'delayed', 'completed', 'failed', 'prioritized');
      expect(Object.values(counts).every((n) => n === 0)).toBe(true);
      expect(await s.events.lastSeq(931, 1)).toBe(0);
      expect(await s.redis.exists(`${s.env.REDIS_PREFIX}:payload:931:1`, `${s.env.REDIS_PREFIX}:task:931:lane`)).toBe(0);
      // Nothing was announced to the relay, so no callback can come.
      expect(await s.redis.xlen(new RedisKeys(s.env.REDIS_PREFIX).outbox)).toBe(0);
      expect(s.em.requests).toEqual([]);
    }, 30_000);
  });
});
