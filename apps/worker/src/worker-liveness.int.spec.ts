import { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { memoryLogger } from '../../../test/support/memory-logger';
import { dropPrefix, eventually, testConfig } from '../../../test/support/test-config';
import { WorkerLiveness } from './worker-liveness';

jest.setTimeout(30_000);

/** TTL 1000 ms: renewed every 200 ms. */
const config = testConfig('worker-liveness', { WORKER_LIVENESS_TTL_MS: '1000' });
const keys = new RedisKeys(config.REDIS_PREFIX);
let redis: Redis;
let liveness: WorkerLiveness | undefined;

beforeEach(() => {
  redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
});

afterEach(async () => {
  await liveness?.onApplicationShutdown();
  liveness = undefined;
  redis.disconnect();
  await dropPrefix(config);
});

/** Blocks this thread's event loop, as a run flooding the worker with synchronous work would. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: no timer, no I/O callback of the main thread runs meanwhile
  }
}

describe('WorkerLiveness: the key that says a worker process is alive', () => {
  it('exists from start, holds the worst delays, and is deleted at a clean shutdown', async () => {
    const { logger, lines } = memoryLogger('info');
    liveness = new WorkerLiveness(config, logger, keys);
    await liveness.start();
    const key = keys.workerAlive(liveness.id);

    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_000);
    expect(JSON.parse((await redis.get(key))!)).toEqual({
      pid: process.pid,
      loop_stall_max_ms: expect.any(Number),
      renew_gap_max_ms: expect.any(Number),
    });

    await liveness.onApplicationShutdown();
    liveness = undefined;
    expect(await redis.exists(key)).toBe(0);
    expect(lines.filter((l) => l.includes('worker liveness: worst stalls of this process'))).toHaveLength(1);
  });

  it('keeps being renewed while the main event loop is blocked for more than the TTL, and measures the stall', async () => {
    const { logger, lines } = memoryLogger('info');
    liveness = new WorkerLiveness(config, logger, keys);
    await liveness.start();
    const key = keys.workerAlive(liveness.id);
    await eventually(() => liveness!.stats().renewGapMaxMs > 0, 5_000); // a second renewal arrived

    blockEventLoop(2_500);
    expect(await redis.exists(key)).toBe(1); // renewed from the main thread, it would have expired 1.5 s ago
    // The renewals that happened during the block reach this thread now.
    await eventually(() => liveness!.stats().loopStallMaxMs >= 2_000, 5_000);
    await eventually(
      async () => (JSON.parse((await redis.get(key)) ?? '{}') as { loop_stall_max_ms?: number }).loop_stall_max_ms! >= 2_000,
      5_000,
    );

    // Never lapsed: no renewal came later than the TTL.
    expect(lines.filter((l) => l.includes('expired before it was renewed'))).toEqual([]);
  });

  it('says so when its key had expired before a renewal (its jobs may have been ended as lost)', async () => {
    const { logger, lines } = memoryLogger('info');
    liveness = new WorkerLiveness(config, logger, keys);
    let lapses = 0;
    liveness.onLapse(() => (lapses += 1));
    await liveness.start();
    await eventually(() => liveness!.stats().renewGapMaxMs > 0, 5_000);
    expect(lapses).toBe(0);

    await redis.del(keys.workerAlive(liveness.id)); // as if it had expired

    await eventually(() => lines.some((l) => l.includes('the liveness key of this worker expired before it was renewed')), 5_000);
    expect(lapses).toBe(1); // what stops the runs that were ended elsewhere (LostRunStopper)
    expect(await redis.exists(keys.workerAlive(liveness.id))).toBe(1);
  });
});
