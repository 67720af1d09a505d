import { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { RelayLockRepository } from './relay-lock.repository';

const config = testConfig('relay-lock');
const keys = new RedisKeys(config.REDIS_PREFIX);
let redis: Redis;
let locks: RelayLockRepository;

beforeAll(() => {
  redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  locks = new RelayLockRepository(redis, keys);
});

afterAll(async () => {
  redis.disconnect();
  await dropPrefix(config);
});

describe('RelayLockRepository', () => {
  it('gives the lock to one holder at a time; only the holder refreshes or releases it', async () => {
    expect(await locks.tryLock(1, 1, 'a', 10_000)).toBe(true);
    expect(await locks.tryLock(1, 1, 'b', 10_000)).toBe(false);
    expect(await locks.refresh(1, 1, 'b', 10_000)).toBe(false);
    await locks.unlock(1, 1, 'b');
    expect(await redis.get(keys.relayLock(1, 1))).toBe('a');

    expect(await locks.refresh(1, 1, 'a', 20_000)).toBe(true);
    expect(await locks.ttl(1, 1)).toBeGreaterThan(10_000);
    await locks.unlock(1, 1, 'a');
    expect(await locks.ttl(1, 1)).toBe(-2);
    expect(await locks.tryLock(1, 1, 'b', 10_000)).toBe(true);
  });

  it('moves the cursor only forward and only for the lock holder', async () => {
    expect(await locks.cursor(2, 1)).toBe('0');
    expect(await locks.advance(2, 1, 'a', '5-0')).toBe(false); // not locked
    await locks.tryLock(2, 1, 'a', 10_000);

    expect(await locks.advance(2, 1, 'a', '5-0')).toBe(true);
    expect(await locks.advance(2, 1, 'a', '4-9')).toBe(true); // no-op, still holding
    expect(await locks.cursor(2, 1)).toBe('5-0');
    expect(await locks.advance(2, 1, 'a', '10-0')).toBe(true);
    expect(await locks.cursor(2, 1)).toBe('10-0');

    await locks.unlock(2, 1, 'a');
    await locks.tryLock(2, 1, 'b', 10_000);
    expect(await locks.advance(2, 1, 'a', '11-0')).toBe(false); // lost the lock: fenced off
    expect(await locks.cursor(2, 1)).toBe('10-0');
  });

  it('takes the lock and reads the cursor in one round trip', async () => {
    expect(await locks.tryLockWithCursor(4, 1, 'a', 10_000)).toEqual({ locked: true, cursor: '0' });
    expect(await locks.advance(4, 1, 'a', '7-3')).toBe(true);
    expect(await locks.tryLockWithCursor(4, 1, 'b', 10_000)).toEqual({ locked: false, cursor: '7-3' });
    await locks.unlock(4, 1, 'a');
    expect(await locks.tryLockWithCursor(4, 1, 'b', 10_000)).toEqual({ locked: true, cursor: '7-3' });
    expect(await locks.advance(4, 1, 'a', '8-0')).toBe(false); // 'b' holds it now
  });

  it('expires the cursor with the event log', async () => {
    await redis.xadd(keys.events(3, 1), '1-1', 'seq', 1);
    await locks.tryLock(3, 1, 'a', 10_000);
    await locks.advance(3, 1, 'a', '1-1');
    expect(await redis.pttl(keys.relayCursor(3, 1))).toBe(-1); // running: the log has no TTL either

    await redis.pexpire(keys.events(3, 1), 60_000);
    await locks.advance(3, 1, 'a', '1-2');
    const ttl = await redis.pttl(keys.relayCursor(3, 1));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});
