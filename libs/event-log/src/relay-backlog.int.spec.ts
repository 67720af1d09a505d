import { Redis } from 'ioredis';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { RedisKeys } from './redis-keys';
import { readRelayBacklog } from './relay-backlog';

describe('readRelayBacklog (real Redis)', () => {
  const config = testConfig('relay-backlog');
  const keys = new RedisKeys(config.REDIS_PREFIX);
  let redis: Redis;
  /** Redis's clock (ms): event ids are stamped by it. */
  let now: number;

  /** Outbox entries to write, in time order, once the events are in place. */
  const outbox: [ms: number, fields: string[]][] = [];

  /** An event of task/subtask `ageS` seconds old (by Redis's clock), and its outbox entry to come. */
  async function event(task: number, subtask: number, ageS: number, seq: number): Promise<string> {
    const id = `${now - ageS * 1000}-${seq}`;
    await redis.xadd(keys.events(task, subtask), id, 'seq', String(seq), 'type', 'chunk');
    outbox.push([now - ageS * 1000, ['task', String(task), 'subtask', String(subtask), 'id', id]]);
    return id;
  }

  async function writeOutbox(): Promise<void> {
    outbox.sort((a, b) => a[0] - b[0]);
    for (const [ms, fields] of outbox) await redis.xadd(keys.outbox, `${ms}-*`, ...fields);
  }

  beforeAll(async () => {
    redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
    const [s, us] = await redis.time();
    now = Number(s) * 1000 + Math.floor(Number(us) / 1000);
  });
  afterAll(async () => {
    await dropPrefix(config);
    await redis.quit();
  });

  it('is 0 with an empty outbox', async () => {
    expect(await readRelayBacklog(redis, keys)).toEqual({ oldestUndeliveredMs: 0, outboxEntries: 0 });
  });

  it('finds the first event after each subtask cursor, and ignores delivered subtasks and malformed entries', async () => {
    // 1/1: delivered up to its 90 s old event; 60 s and 30 s old ones are not.
    const delivered = await event(1, 1, 90, 1);
    await event(1, 1, 60, 2);
    await event(1, 1, 30, 3);
    await redis.set(keys.relayCursor(1, 1), delivered);
    // 2/2: everything delivered, though its (guard) entry is the oldest in the outbox.
    const guard = await event(2, 2, 120, 1);
    await redis.set(keys.relayCursor(2, 2), guard);
    // 3/3: no cursor yet, one event 20 s old.
    await event(3, 3, 20, 1);
    outbox.push([now - 200_000, ['junk', 'x']]);
    await writeOutbox();

    const backlog = await readRelayBacklog(redis, keys);
    expect(backlog.outboxEntries).toBe(6);
    // The 60 s old event of 1/1, measured by Redis's clock a moment after `now`.
    expect(backlog.oldestUndeliveredMs).toBeGreaterThanOrEqual(60_000);
    expect(backlog.oldestUndeliveredMs).toBeLessThan(65_000);

    await redis.set(keys.relayCursor(1, 1), `${now - 30_000}-3`);
    const later = await readRelayBacklog(redis, keys);
    expect(later.oldestUndeliveredMs).toBeGreaterThanOrEqual(20_000);
    expect(later.oldestUndeliveredMs).toBeLessThan(25_000);
  });

  it('reads only the oldest `limit` entries', async () => {
    // In time order: junk, 2/2's guard, three entries of 1/1 (delivered by now), then 3/3's.
    expect((await readRelayBacklog(redis, keys, 5)).oldestUndeliveredMs).toBe(0);
    expect((await readRelayBacklog(redis, keys, 6)).oldestUndeliveredMs).toBeGreaterThanOrEqual(20_000);
  });
});
