import { getEventListeners } from 'node:events';
import type { AppServerExit } from '@wegent-codex/codex';
import type { SessionEnd } from './session-end';
import { SessionWatchdog, type WatchedTurn } from './session-watchdog';

/** A deferred the test settles when it wants (each source of the watchdog is one). */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** One watched turn whose every source the test drives; records how often the cancel flag was read. */
function turnUnderWatch() {
  const finished = deferred();
  const interrupted = deferred();
  const exited = deferred<AppServerExit>();
  const limit = deferred<{ message: string }>();
  const cancel = new AbortController();
  const shutdown = new AbortController();
  const state = { lastActivity: 0, cancelFlag: false as boolean | Error, flagReads: 0, killedBecause: undefined as string | undefined };
  const turn: WatchedTurn = {
    finished: finished.promise,
    interrupted: interrupted.promise,
    exited: exited.promise,
    killedBecause: () => state.killedBecause,
    lastActivityAt: () => state.lastActivity,
    cancel: cancel.signal,
    shutdown: shutdown.signal,
    cancelRequested: () => {
      state.flagReads += 1;
      return state.cancelFlag instanceof Error ? Promise.reject(state.cancelFlag) : Promise.resolve(state.cancelFlag);
    },
    limitExceeded: limit.promise,
  };
  return { turn, state, finished, interrupted, exited, limit, cancel, shutdown };
}

const limits = { idleTimeoutMs: 4_000, maxRunMs: 60_000, cancelPollMs: 2_000 };

describe('SessionWatchdog', () => {
  let ends: SessionEnd[];
  let t: ReturnType<typeof turnUnderWatch>;

  beforeEach(() => {
    jest.useFakeTimers({ now: 0 });
    ends = [];
    t = turnUnderWatch();
    void new SessionWatchdog(limits, () => jest.now()).watch(t.turn).then((end) => ends.push(end));
  });

  afterEach(() => jest.useRealTimers());

  /** Nothing of the watch is left: no timer, no abort listener. */
  const expectCleared = () => {
    expect(jest.getTimerCount()).toBe(0);
    expect(getEventListeners(t.turn.cancel, 'abort')).toHaveLength(0);
    expect(getEventListeners(t.turn.shutdown, 'abort')).toHaveLength(0);
  };

  it('ends finished when the terminal event is in, and clears every timer and listener', async () => {
    expect(jest.getTimerCount()).toBe(3);
    t.finished.resolve();
    await jest.advanceTimersByTimeAsync(0);
    expect(ends).toEqual([{ kind: 'finished' }]);
    expectCleared();
  });

  it('the first cause wins: a later exit, cancel or limit changes nothing', async () => {
    t.finished.resolve();
    await jest.advanceTimersByTimeAsync(0);
    t.exited.resolve({ code: 0, signal: null, killedDescendants: [], survivors: [] });
    t.cancel.abort();
    t.limit.resolve({ message: 'memory' });
    await jest.advanceTimersByTimeAsync(120_000);
    expect(ends).toEqual([{ kind: 'finished' }]);
  });

  it('two causes at once: the first one reported wins', async () => {
    t.limit.resolve({ message: 'the task used more than 1.5 GiB of memory' });
    t.finished.resolve();
    await jest.advanceTimersByTimeAsync(0);
    expect(ends).toEqual([{ kind: 'limit', error: 'the task used more than 1.5 GiB of memory' }]);
    expectCleared();
  });

  it('a cancel signal ends it cancelled', async () => {
    t.cancel.abort();
    await jest.advanceTimersByTimeAsync(0);
    expect(ends).toEqual([{ kind: 'cancelled' }]);
    expectCleared();
  });

  it('an already aborted cancel ends it at once', async () => {
    const other = turnUnderWatch();
    other.cancel.abort();
    const end = await new SessionWatchdog(limits, () => jest.now()).watch(other.turn);
    expect(end).toEqual({ kind: 'cancelled' });
  });

  it('the durable cancel flag is polled; a failed read is ignored, the next one counts', async () => {
    t.state.lastActivity = Number.MAX_SAFE_INTEGER; // never idle
    t.state.cancelFlag = new Error('Connection is closed.');
    await jest.advanceTimersByTimeAsync(2_000);
    expect(t.state.flagReads).toBe(1);
    t.state.cancelFlag = false;
    await jest.advanceTimersByTimeAsync(2_000);
    expect(ends).toEqual([]);
    t.state.cancelFlag = true;
    await jest.advanceTimersByTimeAsync(2_000);
    expect(t.state.flagReads).toBe(3);
    expect(ends).toEqual([{ kind: 'cancelled' }]);
    expectCleared();
  });

  it('a shutdown ends it broken with the shutdown text', async () => {
    t.shutdown.abort();
    await jest.advanceTimersByTimeAsync(0);
    expect(ends).toEqual([{ kind: 'broken', error: 'the service shut down while the task was running' }]);
    expectCleared();
  });

  it('no activity for the idle timeout ends it broken; activity keeps it alive', async () => {
    await jest.advanceTimersByTimeAsync(3_000);
    t.state.lastActivity = 3_000;
    await jest.advanceTimersByTimeAsync(3_000);
    expect(ends).toEqual([]);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(ends).toEqual([{ kind: 'broken', error: 'no activity from Codex for 4 s (idle timeout)' }]);
    expectCleared();
  });

  it('the maximum run time ends it broken, however active Codex is', async () => {
    for (let at = 1_000; at < 60_000; at += 1_000) {
      t.state.lastActivity = at;
      await jest.advanceTimersByTimeAsync(1_000);
    }
    expect(ends).toEqual([]);
    t.state.lastActivity = 60_000;
    await jest.advanceTimersByTimeAsync(1_000);
    expect(ends).toEqual([{ kind: 'broken', error: 'the run exceeded the maximum run time of 60 s' }]);
    expectCleared();
  });

  it('an unasked interrupt ends it broken', async () => {
    t.interrupted.resolve();
    await jest.advanceTimersByTimeAsync(0);
    expect(ends).toEqual([{ kind: 'broken', error: 'the turn was interrupted' }]);
  });

  it('the process exiting ends it broken, naming the exit code or signal', async () => {
    t.exited.resolve({ code: 137, signal: null, killedDescendants: [], survivors: [] });
    await jest.advanceTimersByTimeAsync(0);
    expect(ends).toEqual([{ kind: 'broken', error: 'codex app-server exited (code 137) before the turn completed' }]);
    expectCleared();

    const other = turnUnderWatch();
    other.exited.resolve({ code: null, signal: 'SIGKILL', killedDescendants: [], survivors: [] });
    expect(await new SessionWatchdog(limits, () => jest.now()).watch(other.turn)).toEqual({
      kind: 'broken',
      error: 'codex app-server exited (signal SIGKILL) before the turn completed',
    });
  });

  it('a process the client killed itself ends with the client’s reason', async () => {
    t.state.killedBecause = 'codex app-server wrote more than 8 MiB of stderr';
    t.exited.resolve({ code: null, signal: 'SIGKILL', killedDescendants: [], survivors: [] });
    await jest.advanceTimersByTimeAsync(0);
    expect(ends).toEqual([{ kind: 'broken', error: 'codex app-server wrote more than 8 MiB of stderr' }]);
  });
});
