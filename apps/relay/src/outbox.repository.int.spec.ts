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

  it('at the end of a pass: acknowledges all when the log holds nothing after the id, else keeps the guard pending', async () => {
    await outbox.ensureGroup();
    const events = keys.events(7, 1);
    await redis.xadd(events, '100-1', 'seq', '1');
    await redis.xadd(events, '100-2', 'seq', '2');
    const [a, b, c] = [await announce(7, 1, '100-1'), await announce(7, 1, '100-2'), await announce(7, 1, '100-3')];
    await outbox.readNew(blocking, 'me', 10, 100);

    // 100-2 is after 100-1: more to deliver, so c (the guard) stays pending, a and b go.
    expect(await outbox.ackUnlessEventsAfter(7, 1, '100-1', [a, b, c], c)).toBe(true);
    expect(await outbox.pendingCount('me')).toBe(1);
    expect(await redis.xrange(keys.outbox, '-', '+')).toEqual([[c, ['task', '7', 'subtask', '1', 'id', '100-3']]]);

    // Nothing after 100-2: the guard goes as well.
    expect(await outbox.ackUnlessEventsAfter(7, 1, '100-2', [c], c)).toBe(false);
    expect(await outbox.pendingCount('me')).toBe(0);
    expect(await redis.xlen(keys.outbox)).toBe(0);
    await redis.del(events);
  });

  it('at the end of a pass: "0" re-checks from the start of the log; more than 500 ids go in chunks', async () => {
    await outbox.ensureGroup();
    const ids: string[] = [];
    for (let i = 0; i < 501; i += 1) ids.push(await announce(8, 1, `1-${i}`));
    await outbox.readNew(blocking, 'me', 1000, 100);
    const guard = ids[500];

    // An empty log: caught up.
    expect(await outbox.ackUnlessEventsAfter(8, 1, '0', ids.slice(0, 2), undefined)).toBe(false);
    expect(await outbox.pendingCount('me')).toBe(499);

    await redis.xadd(keys.events(8, 1), '1-1', 'seq', '1');
    expect(await outbox.ackUnlessEventsAfter(8, 1, '0', ids.slice(2), guard)).toBe(true);
    expect(await outbox.pendingCount('me')).toBe(1);
    expect((await redis.xrange(keys.outbox, '-', '+')).map(([id]) => id)).toEqual([guard]);
    await redis.del(keys.events(8, 1));
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
