import { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { dropPrefix, eventually, testConfig } from '../../../test/support/test-config';
import { OutboxRepository } from './outbox.repository';

const config = testConfig('relay-outbox');
const keys = new RedisKeys(config.REDIS_PREFIX);
let redis: Redis;
let blocking: Redis;
let outbox: OutboxRepository;

beforeAll(() => {
  redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  blocking = redis.duplicate();
  outbox = new OutboxRepository(redis, keys);
});

afterEach(async () => {
  await redis.del(keys.outbox);
});

afterAll(async () => {
  redis.disconnect();
  blocking.disconnect();
  await dropPrefix(config);
});

const announce = async (task: number, subtask: number, id: string): Promise<string> =>
  String(await redis.xadd(keys.outbox, '*', 'task', task, 'subtask', subtask, 'id', id));
const consumers = async () => ((await redis.xinfo('CONSUMERS', keys.outbox, 'relay')) as unknown[][]).map((c) => String(c[1]));

describe('OutboxRepository', () => {
  it('creates the group from the start of the outbox, once', async () => {
    const first = await announce(1, 2, '5-0');
    await outbox.ensureGroup();
    await outbox.ensureGroup(); // BUSYGROUP tolerated
    await redis.xadd(keys.outbox, '*', 'garbage', 'x');

    const batch = await outbox.readNew(blocking, 'me', 10, 100);

    expect(batch.entries).toEqual([{ entryId: first, taskId: 1, subtaskId: 2, eventId: '5-0' }]);
    expect(batch.malformed).toHaveLength(1);
    expect(await outbox.pendingCount('me')).toBe(2);
  });

  it('recreates the group when the outbox was deleted under it', async () => {
    await outbox.ensureGroup();
    await redis.del(keys.outbox);

    expect(await outbox.readNew(blocking, 'me', 10, 100)).toEqual({ entries: [], malformed: [] });
    await announce(3, 1, '1-0');
    expect((await outbox.readNew(blocking, 'me', 10, 100)).entries).toHaveLength(1);
  });

  it('claims only entries idle for long enough; touching keeps them with their owner', async () => {
    await outbox.ensureGroup();
    const touched = await announce(1, 1, '1-0');
    const abandoned = await announce(1, 2, '1-0');
    await outbox.readNew(blocking, 'owner', 10, 100);
    await new Promise((r) => setTimeout(r, 150));
    expect(await outbox.touch('owner', [touched])).toEqual([touched]);

    const claimed = await outbox.claimIdle('rescuer', 100, 100);

    expect(claimed.entries.map((e) => e.entryId)).toEqual([abandoned]);
    expect(await outbox.pendingCount('owner')).toBe(1);
  });

  it('acknowledges and deletes entries', async () => {
    await outbox.ensureGroup();
    const id = await announce(1, 1, '1-0');
    await outbox.readNew(blocking, 'me', 10, 100);

    await outbox.ack([id]);

    expect(await outbox.pendingCount('me')).toBe(0);
    expect(await redis.xlen(keys.outbox)).toBe(0);
  });

  it('removes consumers that own nothing, never one with pending entries', async () => {
    await outbox.ensureGroup();
    await announce(1, 1, '1-0');
    await outbox.readNew(blocking, 'busy', 10, 100);
    await redis.xgroup('CREATECONSUMER', keys.outbox, 'relay', 'gone');
    await redis.xgroup('CREATECONSUMER', keys.outbox, 'relay', 'me');

    await eventually(async () => (await outbox.pruneConsumers('me', 20)) === 1, 5_000);
    expect((await consumers()).sort()).toEqual(['busy', 'me']);

    expect(await outbox.removeConsumerIfIdle('busy')).toBe(false);
    expect(await outbox.removeConsumerIfIdle('me')).toBe(true);
    expect(await consumers()).toEqual(['busy']);
  });
});
