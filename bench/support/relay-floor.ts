import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FakeExecutorManager } from '../../test/fixtures/fake-executor-manager';
import { REPO_ROOT, type BenchContext } from './bench-context';
import { EM_KEEP_ALIVE_MS } from './service-harness';

const run = promisify(execFile);

export interface RelayFloor {
  callbacks: number;
  /** CPU (user + system) of the floor process per callback, warm-up left out. */
  cpuMsPerCallback: number;
}

/**
 * Runs bench/support/relay-floor.main.ts once, in a process of its own, against a fake
 * executor_manager of its own: `callbacks` POSTs of `bodyBytes` each plus a Redis write per POST,
 * `inFlight` at once, after `warmup` of the same. Bounded: a floor that does not finish in two
 * minutes fails the scenario.
 */
export async function measureRelayFloor(
  ctx: BenchContext,
  part: string,
  options: { bodyBytes: number; inFlight: number; warmup: number; callbacks: number },
): Promise<RelayFloor> {
  const em = await FakeExecutorManager.start({ keepAliveTimeoutMs: EM_KEEP_ALIVE_MS });
  const closeEm = ctx.defer(`fake executor_manager (${part})`, () => em.close());
  try {
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'dist', 'bench', 'support', 'relay-floor.main.js')], {
      cwd: REPO_ROOT,
      timeout: 120_000,
      killSignal: 'SIGKILL',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        FLOOR_URL: em.url,
        REDIS_URL: ctx.redisUrl,
        FLOOR_KEY_PREFIX: `${ctx.prefix}.${part}`,
        FLOOR_BODY_BYTES: String(Math.round(options.bodyBytes)),
        FLOOR_IN_FLIGHT: String(options.inFlight),
        FLOOR_WARMUP: String(options.warmup),
        FLOOR_CALLBACKS: String(options.callbacks),
      },
    });
    const result = JSON.parse(stdout.trim()) as { callbacks: number; cpuMs: number };
    const received = em.requests.length;
    if (received !== options.warmup + options.callbacks)
      throw new Error(`the relay floor sent ${received} callbacks, not ${options.warmup + options.callbacks}`);
    return { callbacks: result.callbacks, cpuMsPerCallback: result.cpuMs / result.callbacks };
  } finally {
    await closeEm();
  }
}
