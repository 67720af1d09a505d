import { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { memoryLogger } from '../../../test/support/memory-logger';
import { dropPrefix, eventually, testConfig } from '../../../test/support/test-config';
import { DeliveryScheduler } from './delivery-scheduler';
import { OutboxRepository } from './outbox.repository';
import type { PassHooks, PassResult, SubtaskDelivery } from './subtask-delivery';

const config = testConfig('delivery-scheduler');
const keys = new RedisKeys(config.REDIS_PREFIX);
let redis: Redis;

/** A lingering pass would wait this long: far beyond any test's timeout, so only an explicit end can end it. */
const LONG_LINGER_MS = 600_000;

/**
 * Passes played from a script: each subtask's pass calls `play(subtask, hooks, signal)`, and every
 * step is written to `log` in the order it happened.
 */
class ScriptedDelivery {
  readonly log: string[] = [];
  constructor(private readonly play: (subtaskId: number, hooks: PassHooks, signal: AbortSignal, log: string[]) => Promise<void>) {}
  async pass(_taskId: number, subtaskId: number, signal: AbortSignal, hooks: PassHooks = {}): Promise<PassResult> {
    this.log.push(`${subtaskId}: pass`);
    await this.play(subtaskId, hooks, signal, this.log);
    return { outcome: 'delivered', finished: true, foldedUpTo: '0' };
  }
}

/** Lingers until told to stop: each "read again" is followed by a read, as SubtaskDelivery does. */
async function lingerUntilEnded(subtaskId: number, hooks: PassHooks, signal: AbortSignal, log: string[]): Promise<void> {
  for (;;) {
    log.push(`${subtaskId}: lingers`);
    const readAgain = await hooks.linger!(signal);
    log.push(`${subtaskId}: linger ${readAgain ? 'read again' : 'ended'}`);
    if (!readAgain) return;
    hooks.beforeRead!();
    log.push(`${subtaskId}: read`);
  }
}

function scheduler(delivery: ScriptedDelivery, maxInFlight: number, abort: AbortController): DeliveryScheduler {
  return new DeliveryScheduler(
    delivery as unknown as SubtaskDelivery,
    new OutboxRepository(redis, keys),
    memoryLogger('info').logger,
    { maxInFlight, gather: { busyPasses: 8, ms: 5 }, retryBaseMs: 10, retryMaxMs: 100, lingerMs: LONG_LINGER_MS },
    abort.signal,
  );
}

const entry = (subtaskId: number, entryId: string) => ({ entryId, taskId: 7, subtaskId, eventId: entryId });

beforeAll(() => {
  redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
});
afterAll(async () => {
  redis.disconnect();
  await dropPrefix(config);
});

describe('DeliveryScheduler: a pass lingers for its subtask’s next entry (real Redis for the acknowledgements)', () => {
  it('an entry for the lingering subtask ends the wait with "read again", in the same pass; stop() ends the wait at once', async () => {
    const abort = new AbortController();
    const delivery = new ScriptedDelivery(lingerUntilEnded);
    const passes = scheduler(delivery, 4, abort);

    passes.add(entry(1, '1-0'));
    await eventually(() => delivery.log.includes('1: lingers') || undefined, 'the pass lingering');
    expect(passes.running).toBe(0); // lingering is not work: the outbox is read without a gathering pause

    passes.add(entry(1, '2-0'));
    await eventually(() => delivery.log.filter((line) => line === '1: lingers').length === 2 || undefined, 'the pass lingering again');
    expect(passes.entryIds()).toEqual(['1-0', '2-0']); // both covered by the pass, still pending

    passes.stop();
    await passes.drain();
    expect(delivery.log).toEqual(['1: pass', '1: lingers', '1: linger read again', '1: read', '1: lingers', '1: linger ended']);
  });

  it('a lingering pass gives its slot up as soon as another subtask waits for one', async () => {
    const abort = new AbortController();
    const delivery = new ScriptedDelivery(async (subtaskId, hooks, signal, log) => {
      if (subtaskId === 1) return lingerUntilEnded(subtaskId, hooks, signal, log);
      log.push(`${subtaskId}: delivered`);
    });
    const passes = scheduler(delivery, 1, abort);

    passes.add(entry(1, '1-0'));
    await eventually(() => delivery.log.includes('1: lingers') || undefined, 'subtask 1 lingering');
    passes.add(entry(2, '2-0'));
    await eventually(() => delivery.log.includes('2: delivered') || undefined, 'subtask 2 delivered');
    await passes.drain();

    expect(delivery.log).toEqual(['1: pass', '1: lingers', '1: linger ended', '2: pass', '2: delivered']);
  });

  it('does not linger while another subtask waits for a slot, nor once the relay stops', async () => {
    const abort = new AbortController();
    const lingered: boolean[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const delivery = new ScriptedDelivery(async (subtaskId, hooks, signal, log) => {
      if (subtaskId === 1) await held; // busy while subtask 2 queues behind it
      lingered.push(await hooks.linger!(signal));
      log.push(`${subtaskId}: done`);
    });
    const passes = scheduler(delivery, 1, abort);

    passes.add(entry(1, '1-0'));
    passes.add(entry(2, '2-0'));
    await eventually(() => delivery.log.includes('1: pass') || undefined, 'subtask 1 in its pass');
    release();
    // Subtask 1 ends at once (2 waits); subtask 2 lingers, alone, until the relay stops.
    await eventually(() => delivery.log.includes('2: pass') || undefined, 'subtask 2 in its pass');
    expect(lingered).toEqual([false]);
    passes.stop();
    await passes.drain();
    expect(lingered).toEqual([false, false]);
    expect(delivery.log).toEqual(['1: pass', '1: done', '2: pass', '2: done']);
  });
});
