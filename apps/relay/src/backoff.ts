/**
 * "Full jitter" exponential back-off: a uniformly random delay in [0, min(max, base·2^attempt)).
 * Spreads the retries of many relays and subtasks instead of synchronising them on an outage.
 * `attempt` counts failures so far, from 0.
 */
export function fullJitterDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 40));
  return Math.floor(random() * cap);
}

/** Waits `ms`, or less when `signal` aborts first; resolves to false when it was cut short. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
