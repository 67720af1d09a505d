import { getEventListeners } from 'node:events';

import { fullJitterDelay, sleep } from './backoff';
import { compareStreamIds, isAfter, newestStreamId } from './stream-id';

describe('fullJitterDelay', () => {
  it('stays within [0, min(max, base·2^attempt))', () => {
    for (let attempt = 0; attempt < 30; attempt += 1) {
      const cap = Math.min(60_000, 1_000 * 2 ** attempt);
      expect(fullJitterDelay(attempt, 1_000, 60_000, () => 0)).toBe(0);
      expect(fullJitterDelay(attempt, 1_000, 60_000, () => 0.999999)).toBe(Math.floor(0.999999 * cap));
    }
  });

  it('does not overflow for huge attempt numbers', () => {
    expect(fullJitterDelay(10_000, 1_000, 60_000, () => 0.5)).toBe(30_000);
  });
});

describe('sleep', () => {
  it('resolves false at once when aborted', async () => {
    const controller = new AbortController();
    const slept = sleep(3_600_000, controller.signal);
    controller.abort();
    await expect(slept).resolves.toBe(false);
    await expect(sleep(10, controller.signal)).resolves.toBe(false);
  });

  it('resolves true after the delay', async () => {
    await expect(sleep(1, new AbortController().signal)).resolves.toBe(true);
  });
});

describe('sleep, on fake timers', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it.each([
    ['without a signal', undefined],
    ['with a signal', new AbortController().signal],
  ])('resolves true once the whole delay has passed, %s', async (_, signal) => {
    let result: boolean | undefined;
    void sleep(1_000, signal).then((slept) => {
      result = slept;
    });
    await jest.advanceTimersByTimeAsync(999);
    expect(result).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(result).toBe(true);
  });

  it('leaves no listener and no timer behind, whether the sleep ends or is cut short', async () => {
    const controller = new AbortController();
    const ended = sleep(1_000, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1_000);
    await expect(ended).resolves.toBe(true);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);

    const cut = sleep(1_000, controller.signal);
    controller.abort();
    await expect(cut).resolves.toBe(false);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('stream ids', () => {
  it.each([
    ['1-0', '0', 1],
    ['0', '-', 0],
    ['1700000000000-2', '1700000000000-10', -1],
    ['1700000000001-0', '1700000000000-99', 1],
    ['5-5', '5-5', 0],
  ])('compare(%s, %s) = %d', (a, b, expected) => {
    expect(compareStreamIds(a, b)).toBe(expected);
  });

  it('finds the newest id', () => {
    expect(newestStreamId(['3-1', '10-0', '9-99'])).toBe('10-0');
    expect(newestStreamId([])).toBeUndefined();
    expect(isAfter('2-0', '1-5')).toBe(true);
  });
});
