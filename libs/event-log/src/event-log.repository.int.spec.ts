import { Redis } from 'ioredis';
import type { StoredEvent } from '@wegent-codex/contracts';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { EventLogRepository } from './event-log.repository';
import { RedisKeys } from './redis-keys';

describe('EventLogRepository observers (real Redis)', () => {
  const config = testConfig('event-log');
  let redis: Redis;
  let events: EventLogRepository;

  beforeAll(() => {
    redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
    events = new EventLogRepository(redis, new RedisKeys(config.REDIS_PREFIX));
  });
  afterAll(async () => {
    await dropPrefix(config);
    await redis.quit();
  });

  it('tells observers about each appended event as it is stored, not about refused ones', async () => {
    const seen: StoredEvent[] = [];
    const stop = events.observe({ appended: (stored) => seen.push(stored) });
    const now = new Date('2025-12-30T10:00:00.000Z');

    const first = await events.append({ type: 'chunk', item_id: 'm', text: 'hi', task_id: 1, subtask_id: 2, attempt: 1 }, now);
    await events.append({ type: 'done', value: 'hi', task_id: 1, subtask_id: 2, attempt: 1 }, now);
    expect(await events.append({ type: 'chunk', item_id: 'm', text: 'late', task_id: 1, subtask_id: 2, attempt: 1 })).toEqual({
      appended: false,
      terminal: 'done',
    });

    expect(seen).toEqual(await events.read(1, 2));
    expect(seen[0]).toEqual({
      id: (first as { id: string }).id,
      event: { type: 'chunk', item_id: 'm', text: 'hi', task_id: 1, subtask_id: 2, attempt: 1, seq: 1, timestamp: now.toISOString() },
    });

    stop();
    await events.append({ type: 'chunk', item_id: 'm', text: 'x', task_id: 1, subtask_id: 3, attempt: 1 });
    expect(seen).toHaveLength(2);
  });

  it('an observer that throws does not fail the append', async () => {
    const stop = events.observe({
      appended: () => {
        throw new Error('observer bug');
      },
    });
    try {
      await expect(events.append({ type: 'chunk', item_id: 'm', text: 'x', task_id: 1, subtask_id: 4, attempt: 1 })).resolves.toMatchObject(
        { appended: true, seq: 1 },
      );
    } finally {
      stop();
    }
  });
});
