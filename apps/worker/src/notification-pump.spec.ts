import type { NewTaskEvent, RpcNotification } from '@wegent-codex/contracts';
import type { TurnOutcome } from '@wegent-codex/codex';
import { memoryLogger } from '../../../test/support/memory-logger';
import type { RunEvent } from './run-event';
import { NotificationPump, type PumpSink, type TurnMapper } from './notification-pump';

const ids = { task_id: 7, subtask_id: 1, attempt: 0 };
const chunk = (text: string): RunEvent => ({ type: 'chunk', item_id: 'm1', text });
const done = (value: string): RunEvent => ({ type: 'done', value });
const failed = (message: string): RunEvent => ({ type: 'error', kind: 'agent', message, error: message });

/** A notification whose params are the events the fake mapper returns for it (and the outcome it sets). */
const note = (events: RunEvent[], outcome?: TurnOutcome): RpcNotification => ({ method: 'item', params: { events, outcome } });

/** A mapper that returns what each notification carries, stamped with the run's ids, and records every call. */
class ScriptedMapper implements TurnMapper {
  outcome: TurnOutcome | undefined;
  turnId: string | undefined = 'turn-1';
  readonly handled: unknown[] = [];

  handle(_method: string, params: unknown): NewTaskEvent[] {
    const { events, outcome } = params as { events: RunEvent[]; outcome?: TurnOutcome };
    this.handled.push(params);
    if (outcome) this.outcome = outcome;
    return events.map((event) => ({ ...event, ...ids }) as NewTaskEvent);
  }
}

/**
 * A sink whose appends finish only when the test lets them (in any order it likes), recording every
 * append and the most appends ever in flight at once — a pump that does not wait shows as 2.
 */
class SlowSink implements PumpSink {
  readonly appended: RunEvent[] = [];
  readonly calls: string[] = [];
  limit = false as boolean | Error;
  refresh: Error | undefined;
  maxInFlight = 0;
  private inFlight = 0;
  private readonly pending: (() => void)[] = [];

  emit = (event: RunEvent): Promise<unknown> => {
    this.calls.push(`emit ${event.type}`);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve) =>
      this.pending.push(() => {
        this.inFlight -= 1;
        this.appended.push(event);
        resolve();
      }),
    );
  };

  limitHit = () => {
    this.calls.push('limit?');
    return this.limit instanceof Error ? Promise.reject(this.limit) : Promise.resolve(this.limit);
  };

  beforeTerminal = () => {
    this.calls.push('before terminal');
    return this.refresh ? Promise.reject(this.refresh) : Promise.resolve();
  };

  /** Lets every append through, as they come, until the pump is idle (bounded). */
  async drain(pump: NotificationPump): Promise<void> {
    let settled = false;
    void pump.settled().then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let round = 0; round < 1_000 && !settled; round++) {
      this.pending.splice(0).forEach((finish) => finish());
      await new Promise((r) => setImmediate(r));
    }
    if (!settled) throw new Error('the pump did not settle');
  }
}

function setUp() {
  const sink = new SlowSink();
  const { logger, lines } = memoryLogger();
  const pump = new NotificationPump(sink, logger);
  const mapper = new ScriptedMapper();
  const state = { finished: false, interrupted: false };
  void pump.finished.then(() => (state.finished = true));
  void pump.interrupted.then(() => (state.interrupted = true));
  return { sink, pump, mapper, lines, state };
}

describe('NotificationPump', () => {
  it('holds notifications until the turn is known, then appends them first, in arrival order', async () => {
    const { sink, pump, mapper } = setUp();
    pump.receive(note([chunk('a')]));
    pump.receive(note([chunk('b')]));
    expect(mapper.handled).toEqual([]);
    pump.start(mapper);
    pump.receive(note([chunk('c')]));
    await sink.drain(pump);
    expect(sink.appended).toEqual([chunk('a'), chunk('b'), chunk('c')]);
  });

  it('appends one event at a time, however slow the log is', async () => {
    const { sink, pump, mapper } = setUp();
    pump.start(mapper);
    pump.receive(note([chunk('a'), chunk('b')]));
    pump.receive(note([chunk('c')]));
    await sink.drain(pump);
    expect(sink.maxInFlight).toBe(1);
    expect(sink.appended).toEqual([chunk('a'), chunk('b'), chunk('c')]);
  });

  it('appends events without the run ids (the emitter stamps them)', async () => {
    const { sink, pump, mapper } = setUp();
    pump.start(mapper);
    pump.receive(note([chunk('a')]));
    await sink.drain(pump);
    expect(sink.appended[0]).toStrictEqual({ type: 'chunk', item_id: 'm1', text: 'a' });
  });

  it('the terminal event: limit asked, workbench refreshed, then appended, and finished resolves', async () => {
    const { sink, pump, mapper, state } = setUp();
    pump.start(mapper);
    pump.receive(note([chunk('a'), done('answer')], 'completed'));
    await sink.drain(pump);
    expect(sink.calls).toEqual(['emit chunk', 'limit?', 'before terminal', 'emit done']);
    expect(state.finished).toBe(true);
    expect(pump.ended).toBe(true);
  });

  it('latches the first terminal: a duplicate completion, a late failure and anything after are dropped', async () => {
    const { sink, pump, mapper } = setUp();
    pump.start(mapper);
    pump.receive(note([done('answer'), chunk('same batch')], 'completed'));
    pump.receive(note([done('answer')], 'completed'));
    pump.receive(note([failed('late')], 'failed'));
    pump.receive(note([chunk('later')]));
    await sink.drain(pump);
    expect(sink.appended).toEqual([done('answer')]);
    expect(sink.calls.filter((c) => c === 'before terminal')).toHaveLength(1);
  });

  it('a limit that fired keeps the terminal out (the limit ends the run), and nothing follows', async () => {
    const { sink, pump, mapper, state } = setUp();
    sink.limit = true;
    pump.start(mapper);
    pump.receive(note([chunk('a'), done('answer')], 'completed'));
    pump.receive(note([done('again')], 'completed'));
    await sink.drain(pump);
    expect(sink.appended).toEqual([chunk('a')]);
    expect(sink.calls).toEqual(['emit chunk', 'limit?']);
    expect(state.finished).toBe(false);
    expect(pump.ended).toBe(false);
  });

  it('a limit check that fails counts as no limit; a failed workbench refresh is logged, the terminal still lands', async () => {
    const { sink, pump, mapper, lines } = setUp();
    sink.limit = new Error('cgroup gone');
    sink.refresh = new Error('git: not a repository');
    pump.start(mapper);
    pump.receive(note([failed('boom')], 'failed'));
    await sink.drain(pump);
    expect(sink.appended).toEqual([failed('boom')]);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; err?: string });
    expect(logged.map((l) => [l.msg, l.err])).toEqual([['workbench refresh failed', 'Error: git: not a repository']]);
  });

  it('an interrupted turn resolves interrupted (nothing is appended for it)', async () => {
    const { sink, pump, mapper, state } = setUp();
    pump.start(mapper);
    pump.receive(note([], 'interrupted'));
    await sink.drain(pump);
    expect(state.interrupted).toBe(true);
    expect(state.finished).toBe(false);
    expect(sink.appended).toEqual([]);
  });

  it('after stop nothing more is appended, also what was already queued', async () => {
    const { sink, pump, mapper, state } = setUp();
    pump.start(mapper);
    pump.receive(note([chunk('a'), chunk('b')]));
    pump.receive(note([done('answer')], 'completed'));
    await new Promise((r) => setImmediate(r));
    expect(sink.calls).toEqual(['emit chunk']);
    pump.stop();
    await sink.drain(pump);
    // The append in flight when stop() came finishes; nothing after it starts.
    expect(sink.appended).toEqual([chunk('a')]);
    expect(state.finished).toBe(false);
  });

  it('a failed append stops the stream and settled() rejects with it', async () => {
    const mapper = new ScriptedMapper();
    const appended: RunEvent[] = [];
    const failing = new NotificationPump(
      {
        emit: (event) =>
          event.type === 'chunk' && event.text === 'b' ? Promise.reject(new Error('OOM')) : (appended.push(event), Promise.resolve()),
        limitHit: () => Promise.resolve(false),
        beforeTerminal: () => Promise.resolve(),
      },
      memoryLogger().logger,
    );
    failing.start(mapper);
    failing.receive(note([chunk('a'), chunk('b')]));
    failing.receive(note([chunk('c')]));
    await expect(failing.settled()).rejects.toThrow('OOM');
    expect(appended).toEqual([chunk('a')]);
  });

  it('names the turn as the mapper last saw it', () => {
    const { pump, mapper } = setUp();
    expect(pump.turnId).toBeUndefined();
    pump.start(mapper);
    mapper.turnId = 'turn-2';
    expect(pump.turnId).toBe('turn-2');
  });
});
