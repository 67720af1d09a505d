import { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { dropPrefix, eventually, testConfig } from '../../../test/support/test-config';
import { CancelRegistry, type CancelNotice } from '.';

/** Durable cancels are per subtask: a cancelled subtask never cancels the task's later follow-ups. */
const config = testConfig('cancel-registry');
let redis: Redis;
let subscriber: Redis;
let cancels: CancelRegistry;

beforeEach(() => {
  redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  subscriber = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  cancels = new CancelRegistry(redis, new RedisKeys(config.REDIS_PREFIX));
});
afterEach(async () => {
  redis.disconnect();
  subscriber.disconnect();
  await dropPrefix(config);
});

describe('CancelRegistry (real Redis)', () => {
  it('flags exactly the cancelled subtask: not its follow-up, not another task', async () => {
    await cancels.request(51, 1);
    expect(await cancels.isRequested(51, 1)).toBe(true);
    expect(await cancels.isRequested(51, 2)).toBe(false);
    expect(await cancels.isRequested(52, 1)).toBe(false);
  });

  it('a follow-up enqueued after a cancelled subtask completed is not cancelled', async () => {
    await cancels.request(53, 1, 1_700_000_000_000);
    // 53.1 ended (cancelled); the user sends the next message: subtask 2 of the same task.
    expect(await cancels.isRequested(53, 2)).toBe(false);
    await cancels.request(53, 3);
    expect([await cancels.isRequested(53, 1), await cancels.isRequested(53, 2), await cancels.isRequested(53, 3)]).toEqual([
      true,
      false,
      true,
    ]);
  });

  it('the flag is durable (survives without a listener) and expires with its task', async () => {
    await cancels.request(54, 1, 1_700_000_000_000);
    const key = new RedisKeys(config.REDIS_PREFIX).cancel(54);
    expect(await redis.hgetall(key)).toEqual({ '1': '1700000000000' });
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(24 * 3600 - 60);
    expect(ttl).toBeLessThanOrEqual(24 * 3600);
  });

  it('broadcasts the notice to subscribers, and stops when unsubscribed', async () => {
    const heard: CancelNotice[] = [];
    const stop = await cancels.subscribe(subscriber, (notice) => heard.push(notice));
    await cancels.request(55, 2);
    await eventually(() => heard.length === 1, 5_000);
    expect(heard).toEqual([{ task_id: 55, subtask_id: 2 }]);
    await redis.publish(new RedisKeys(config.REDIS_PREFIX).cancelChannel, 'not json');
    await redis.publish(new RedisKeys(config.REDIS_PREFIX).cancelChannel, '{"task_id":"55","subtask_id":2}');
    await stop();
    await cancels.request(55, 3);
    await redis.ping(); // the publish above has been processed by Redis
    expect(heard).toEqual([{ task_id: 55, subtask_id: 2 }]);
  });
});
