import { Worker } from 'node:worker_threads';

/** What a worker's liveness key holds: the worst delays seen so far, for whoever finds it lost (and the bench). */
export interface LivenessStats {
  pid: number;
  /** Worst stall of the worker's main event loop (where the jobs run), ms. */
  loop_stall_max_ms: number;
  /** Worst time between two renewals of the key, ms: what must stay below WORKER_LIVENESS_TTL_MS. */
  renew_gap_max_ms: number;
}

export type BeaconMessage = { type: 'renewed'; gapMs: number; lapsed: boolean } | { type: 'failed'; error: string } | { type: 'stopped' };

/**
 * Runs in a thread of its own, with its own Redis connection, so that the key says "this process
 * exists and reaches Redis" however busy the main event loop is. `lapsed`: the key had expired
 * before this renewal (the process looked lost for a moment, and its runs may have been ended).
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Redis = require(workerData.ioredisPath);
const { redisUrl, key, ttlMs, everyMs, connectionName, pid } = workerData;
const redis = new Redis(redisUrl, { connectionName, maxRetriesPerRequest: 1, retryStrategy: () => 200 });
redis.on('error', () => undefined);
let loopStallMaxMs = 0;
let renewGapMaxMs = 0;
let last = 0;
let stopping = false;
let timer;
async function renew() {
  const value = JSON.stringify({ pid, loop_stall_max_ms: loopStallMaxMs, renew_gap_max_ms: renewGapMaxMs });
  try {
    const previous = await redis.set(key, value, 'PX', ttlMs, 'GET');
    const now = performance.now();
    const gapMs = last ? now - last : 0;
    renewGapMaxMs = Math.max(renewGapMaxMs, Math.round(gapMs));
    if (!stopping) parentPort.postMessage({ type: 'renewed', gapMs, lapsed: last > 0 && previous === null });
    last = now;
  } catch (error) {
    if (!stopping) parentPort.postMessage({ type: 'failed', error: error && error.message ? error.message : String(error) });
  }
  if (!stopping) timer = setTimeout(renew, everyMs);
}
parentPort.on('message', (message) => {
  if (typeof message.loopStallMaxMs === 'number') loopStallMaxMs = message.loopStallMaxMs;
  if (message.stop) {
    stopping = true;
    clearTimeout(timer);
    const done = () => { redis.disconnect(); parentPort.postMessage({ type: 'stopped' }); };
    (message.forget ? redis.del(key) : Promise.resolve()).then(done, done);
  }
});
renew();
`;

/** The thread that keeps a worker's liveness key alive. */
export class LivenessBeacon {
  private readonly thread: Worker;

  constructor(
    options: { redisUrl: string; key: string; ttlMs: number; everyMs: number; connectionName: string },
    onMessage: (message: BeaconMessage) => void,
  ) {
    this.thread = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { ...options, pid: process.pid, ioredisPath: require.resolve('ioredis') },
    });
    this.thread.on('message', onMessage);
    this.thread.on('error', (error) => onMessage({ type: 'failed', error: error.message }));
    this.thread.unref();
  }

  /** The main loop's worst stall since the worker took jobs, written into the key from the next renewal on. */
  report(loopStallMaxMs: number): void {
    this.thread.postMessage({ loopStallMaxMs });
  }

  /** Stops renewing; `forget` deletes the key (a clean shutdown). Bounded: the thread is terminated after 2 s. */
  async stop(forget: boolean): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      this.thread.on('message', (m: BeaconMessage) => m.type === 'stopped' && resolve());
      this.thread.once('exit', () => resolve());
    });
    this.thread.postMessage({ stop: true, forget });
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 2_000).unref())]);
    await this.thread.terminate();
  }
}
