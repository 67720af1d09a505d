import { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { TaskLane } from '.';

/** A task's lane: arrival order, one head, joining twice is a no-op, leaving names the next head. */
const config = testConfig('task-lane');
let redis: Redis;
let lane: TaskLane;

beforeEach(() => {
  redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  lane = new TaskLane(redis, new RedisKeys(config.REDIS_PREFIX));
});
afterEach(async () => {
  redis.disconnect();
  await dropPrefix(config);
});

describe('TaskLane (real Redis)', () => {
  it('gives positions in arrival order; only position 0 may run', async () => {
    expect(await lane.join(61, 'codex-61-1')).toBe(0);
    expect(await lane.join(61, 'codex-61-2')).toBe(1);
    expect(await lane.join(61, 'codex-61-3')).toBe(2);
    expect(await lane.join(62, 'codex-62-1')).toBe(0); // lanes are per task
    expect(await lane.members(61)).toEqual(['codex-61-1', 'codex-61-2', 'codex-61-3']);
    expect(await lane.head(61)).toBe('codex-61-1');
  });

  it('joining again keeps the place (a re-delivered job does not jump or duplicate)', async () => {
    await lane.join(63, 'a');
    await lane.join(63, 'b');
    expect(await lane.join(63, 'b')).toBe(1);
    expect(await lane.join(63, 'a')).toBe(0);
    expect(await lane.members(63)).toEqual(['a', 'b']);
  });

  it('the head stays the head while it runs, however long: followers keep their places', async () => {
    await lane.join(64, 'head');
    await lane.join(64, 'next');
    for (let check = 0; check < 3; check++) expect(await lane.join(64, 'next')).toBe(1);
    expect(await lane.head(64)).toBe('head');
  });

  it('leaving returns the new head; a follower leaving does not change it; the last leaves an empty lane', async () => {
    for (const id of ['a', 'b', 'c']) await lane.join(65, id);
    expect(await lane.leave(65, 'b')).toBe('a');
    expect(await lane.leave(65, 'a')).toBe('c');
    expect(await lane.leave(65, 'c')).toBeNull();
    expect(await lane.members(65)).toEqual([]);
    expect(await lane.head(65)).toBeNull();
    expect(await lane.leave(65, 'never-joined')).toBeNull();
  });

  it('the lane key expires (a week) so an abandoned lane does not stay forever', async () => {
    await lane.join(66, 'a');
    const ttl = await redis.ttl(new RedisKeys(config.REDIS_PREFIX).taskLane(66));
    expect(ttl).toBeGreaterThan(7 * 24 * 3600 - 60);
    expect(ttl).toBeLessThanOrEqual(7 * 24 * 3600);
  });
});
