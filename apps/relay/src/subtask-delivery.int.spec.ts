import { Redis } from 'ioredis';
import type { NewTaskEvent, ResponsesCallback } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys, type AnyPlannedCallback } from '@wegent-codex/event-log';
import { runContext } from '../../../test/fixtures/run-context';
import { silentLogger } from '../../../test/support/memory-logger';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import type { CallbackSender, SendOutcome } from './callback-sender';
import { RelayLockRepository } from './relay-lock.repository';
import { RelayCounters } from './relay-metrics';
import { SubtaskDelivery } from './subtask-delivery';

const config = testConfig('subtask-delivery');
const keys = new RedisKeys(config.REDIS_PREFIX);
let redis: Redis;

/** A sender that records what it was asked to send and answers from a script (default: delivered). */
class ScriptedSender {
  readonly sent: { eventId: string; firstEventId?: string; body: ResponsesCallback; outcome: SendOutcome['result'] }[] = [];
  constructor(private readonly answer: (callback: AnyPlannedCallback, index: number) => SendOutcome) {}
  send(callback: AnyPlannedCallback): Promise<SendOutcome> {
    const outcome = this.answer(callback, this.sent.length);
    this.sent.push({
      eventId: callback.eventId,
      firstEventId: callback.firstEventId,
      body: callback.body as ResponsesCallback,
      outcome: outcome.result,
    });
    return Promise.resolve(outcome);
  }
}

const delivered: SendOutcome = { result: 'delivered', status: 200, attempts: 1 };

function delivery(sender: ScriptedSender, owner: string): SubtaskDelivery {
  return new SubtaskDelivery(
    new EventLogRepository(redis, keys),
    new RelayLockRepository(redis, keys),
    sender as unknown as CallbackSender,
    new RelayCounters(),
    silentLogger,
    { owner, coalesceMs: 0, lockTtlMs: 5_000, lockRefreshMs: 1_000, pageSize: 100, maxCachedFolds: 16, fold: {} },
  );
}

async function appendAll(events: NewTaskEvent[]): Promise<string[]> {
  const log = new EventLogRepository(redis, keys);
  const ids: string[] = [];
  for (const event of events) {
    const result = await log.append(event);
    if (!result.appended) throw new Error('append refused');
    ids.push(result.id);
  }
  return ids;
}

const deltas = (task: number, texts: string[]): NewTaskEvent[] => [
  { task_id: task, subtask_id: 1, attempt: 1, type: 'status', phase: 'started', context: runContext('2026') },
  ...texts.map((text): NewTaskEvent => ({ task_id: task, subtask_id: 1, attempt: 1, type: 'chunk', item_id: 'msg_1', text })),
];

beforeAll(() => {
  redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
});
afterAll(async () => {
  redis.disconnect();
  await dropPrefix(config);
});

describe('SubtaskDelivery: merged 2026 deltas and the cursor (real Redis)', () => {
  it('queued deltas go out as one callback; the cursor then stands on the last event it carries', async () => {
    const [started, , , third] = await appendAll(deltas(31, ['Looking ', 'at the ', 'parser… ']));
    const sender = new ScriptedSender(() => delivered);
    const result = await delivery(sender, 'relay-a').pass(31, 1, new AbortController().signal);

    expect(result).toEqual({ outcome: 'delivered', finished: false, foldedUpTo: third });
    expect(sender.sent.map((s) => [s.body.event_type, s.body.data])).toEqual([
      ['response.created', expect.objectContaining({ type: 'response.created' })],
      [
        'response.output_text.delta',
        {
          type: 'response.output_text.delta',
          item_id: 'msg_1',
          output_index: 0,
          content_index: 0,
          delta: 'Looking at the parser… ',
          offset: 0,
        },
      ],
    ]);
    expect(sender.sent[0].eventId).toBe(started);
    expect(await new RelayLockRepository(redis, keys).cursor(31, 1)).toBe(third);
  });

  it('a merged delta another relay delivered part of is not sent whole again: the rest is refolded from the cursor', async () => {
    const [started, first, second, third] = await appendAll(deltas(32, ['Looking ', 'at the ', 'parser… ']));
    // Relay A: the merged delta's request is cut off (lock lost), so A keeps it queued in its fold.
    const sender = new ScriptedSender((callback, index): SendOutcome =>
      callback.kind === 'delta' && index === 1 ? { result: 'aborted', attempts: 1 } : delivered,
    );
    const relayA = delivery(sender, 'relay-a');
    expect(await relayA.pass(32, 1, new AbortController().signal)).toEqual({ outcome: 'lock-lost' });
    expect(sender.sent.map((s) => [s.eventId, s.firstEventId, s.outcome])).toEqual([
      [started, undefined, 'delivered'],
      [third, first, 'aborted'],
    ]);

    // Relay B meanwhile delivered the first delta alone and moved the cursor past it.
    const locks = new RelayLockRepository(redis, keys);
    expect(await locks.tryLock(32, 1, 'relay-b:1', 5_000)).toBe(true);
    expect(await locks.advance(32, 1, 'relay-b:1', first)).toBe(true);
    await locks.unlock(32, 1, 'relay-b:1');

    // Relay A again: only what B did not deliver, offset where B's text ended.
    expect(await relayA.pass(32, 1, new AbortController().signal)).toEqual({ outcome: 'delivered', finished: false, foldedUpTo: third });
    expect(sender.sent.slice(2).map((s) => [s.eventId, s.firstEventId, s.body.data])).toEqual([
      [
        third,
        second,
        { type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'at the parser… ', offset: 8 },
      ],
    ]);
    expect(await locks.cursor(32, 1)).toBe(third);
  });
});

/** Answers every callback, noting where the subtask's cursor and lock stood as each went out. */
class WatchingSender {
  readonly seen: { eventId: string; eventType: string; cursor: string }[] = [];
  constructor(
    private readonly taskId: number,
    private readonly onSend: (index: number) => Promise<void> = () => Promise.resolve(),
  ) {}
  async send(callback: AnyPlannedCallback): Promise<SendOutcome> {
    const cursor = await new RelayLockRepository(redis, keys).cursor(this.taskId, 1);
    this.seen.push({ eventId: callback.eventId, eventType: (callback.body as ResponsesCallback).event_type, cursor });
    await this.onSend(this.seen.length - 1);
    return delivered;
  }
}

describe('SubtaskDelivery: the cursor around each callback (real Redis)', () => {
  it('passes every answered event before the next callback goes out, and unlocks at the end', async () => {
    const [started, chunk, done] = await appendAll([
      ...deltas(41, ['Hi']),
      { task_id: 41, subtask_id: 1, attempt: 1, type: 'done', value: 'Hi' },
    ]);
    const sender = new WatchingSender(41);
    const result = await delivery(sender as unknown as ScriptedSender, 'relay-a').pass(41, 1, new AbortController().signal);

    expect(result).toEqual({ outcome: 'delivered', finished: true, foldedUpTo: done });
    expect(sender.seen).toEqual([
      { eventId: started, eventType: 'response.created', cursor: '0' },
      { eventId: chunk, eventType: 'response.output_text.delta', cursor: started },
      { eventId: done, eventType: 'response.completed', cursor: chunk },
    ]);
    expect(await new RelayLockRepository(redis, keys).cursor(41, 1)).toBe(done);
    expect(await redis.exists(keys.relayLock(41, 1))).toBe(0);
  });

  it('a lock lost while a callback was out: the pass ends lost, the cursor stays, and what EM answered is not sent again', async () => {
    const [started, chunk] = await appendAll(deltas(42, ['Hi']));
    // Relay A stalled past its lock's TTL while EM answered the delta; relay B took the lock meanwhile.
    const sender = new WatchingSender(42, async (index) => {
      if (index === 1) await redis.set(keys.relayLock(42, 1), 'relay-b:1');
    });
    const relayA = delivery(sender as unknown as ScriptedSender, 'relay-a');
    expect(await relayA.pass(42, 1, new AbortController().signal)).toEqual({ outcome: 'lock-lost' });
    expect(await new RelayLockRepository(redis, keys).cursor(42, 1)).toBe(started);
    expect(await redis.get(keys.relayLock(42, 1))).toBe('relay-b:1'); // B's lock is B's to release

    // B released without delivering (or died): A's next pass moves the cursor past the delta EM
    // already took from it — a 2026 delta sent twice would show its text twice.
    await redis.del(keys.relayLock(42, 1));
    expect(await relayA.pass(42, 1, new AbortController().signal)).toEqual({ outcome: 'delivered', finished: false, foldedUpTo: chunk });
    expect(sender.seen.map((s) => [s.eventId, s.eventType, s.cursor])).toEqual([
      [started, 'response.created', '0'],
      [chunk, 'response.output_text.delta', started],
    ]);
    expect(await new RelayLockRepository(redis, keys).cursor(42, 1)).toBe(chunk);
  });
});

describe('SubtaskDelivery: a pass that lingers under its lock (real Redis)', () => {
  it('delivers events appended while it lingered in the same pass and under the same lock, each on its own', async () => {
    const [started, first] = await appendAll(deltas(51, ['Hello ']));
    const sender = new ScriptedSender(() => delivered);
    const steps: string[] = [];
    let second = '';
    const hooks = {
      beforeRead: () => steps.push('read'),
      linger: async () => {
        steps.push(`linger, lock ${await redis.get(keys.relayLock(51, 1))}`);
        if (second) return false;
        second = (await appendAll([{ task_id: 51, subtask_id: 1, attempt: 1, type: 'chunk', item_id: 'msg_1', text: 'world' }]))[0];
        return true;
      },
    };
    const result = await delivery(sender, 'relay-a').pass(51, 1, new AbortController().signal, hooks);

    expect(result).toEqual({ outcome: 'delivered', finished: false, foldedUpTo: second });
    // One pass, one lock (the token of the relay's first pass) while it lingered both times.
    expect(steps).toEqual(['linger, lock relay-a:1', 'read', 'linger, lock relay-a:1']);
    expect(sender.sent.map((s) => [s.eventId, s.body.event_type, (s.body.data as { delta?: string }).delta])).toEqual([
      [started, 'response.created', undefined],
      [first, 'response.output_text.delta', 'Hello '],
      [second, 'response.output_text.delta', 'world'],
    ]);
    expect(await new RelayLockRepository(redis, keys).cursor(51, 1)).toBe(second);
    expect(await redis.exists(keys.relayLock(51, 1))).toBe(0);
  });

  it('does not linger once the subtask has ended, nor while a text waits to be coalesced', async () => {
    await appendAll([...deltas(52, ['All done.']), { task_id: 52, subtask_id: 1, attempt: 1, type: 'done', value: 'All done.' }]);
    const lingered: string[] = [];
    const linger = (what: string) => () => {
      lingered.push(what);
      return Promise.resolve(false);
    };
    const ended = await delivery(new ScriptedSender(() => delivered), 'relay-a').pass(52, 1, new AbortController().signal, {
      linger: linger('ended'),
    });
    expect(ended).toMatchObject({ outcome: 'delivered', finished: true });

    // 2025 text snapshots wait CALLBACK_COALESCE_MS after a callback: the pass returns the wait instead of lingering.
    const chunk = (text: string): NewTaskEvent => ({ task_id: 53, subtask_id: 1, attempt: 1, type: 'chunk', item_id: 'msg_1', text });
    await appendAll([
      { task_id: 53, subtask_id: 1, attempt: 1, type: 'status', phase: 'started', context: runContext() },
      chunk('Looking'),
    ]);
    const coalescing = new SubtaskDelivery(
      new EventLogRepository(redis, keys),
      new RelayLockRepository(redis, keys),
      new ScriptedSender(() => delivered) as unknown as CallbackSender,
      new RelayCounters(),
      silentLogger,
      { owner: 'relay-c', coalesceMs: 60_000, lockTtlMs: 5_000, lockRefreshMs: 1_000, pageSize: 100, maxCachedFolds: 16, fold: {} },
    );
    expect(await coalescing.pass(53, 1, new AbortController().signal)).toMatchObject({ outcome: 'delivered', finished: false });
    await appendAll([chunk(' closer')]);
    const held = await coalescing.pass(53, 1, new AbortController().signal, { linger: linger('held') });
    expect(held).toMatchObject({ outcome: 'delivered', finished: false, holdMs: expect.any(Number) });
    expect(lingered).toEqual([]);
  });
});
