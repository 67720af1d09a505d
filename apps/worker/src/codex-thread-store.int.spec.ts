import { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { CodexThreadStore } from './codex-thread-store';

/** The thread store against a real Redis: the key, the value and its expiry as Redis holds them. */
const config = testConfig('thread-store');
const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
const keys = new RedisKeys(config.REDIS_PREFIX);
const store = new CodexThreadStore(redis, keys);

afterAll(async () => {
  await dropPrefix(config);
  redis.disconnect();
});

it('writes the thread id under the task key with a 30-day expiry, and reads it back', async () => {
  await store.remember(41, 'thread-41');
  expect(await redis.get(`${config.REDIS_PREFIX}:task:41:thread`)).toBe('thread-41');
  const ttl = await redis.ttl(`${config.REDIS_PREFIX}:task:41:thread`);
  expect(ttl).toBeLessThanOrEqual(2_592_000);
  expect(ttl).toBeGreaterThan(2_592_000 - 60);
  expect(await store.storedFor({ task_id: 41 })).toBe('thread-41');
});

it('a task without a stored thread starts a new one', async () => {
  expect(await store.storedFor({ task_id: 42 })).toBeNull();
});
