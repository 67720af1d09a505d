import { Redis } from 'ioredis';
import { Pool } from 'undici';

/**
 * The relay's floor, as a process of its own (bench/support/relay-floor.ts starts it): what one
 * callback cannot avoid — one keep-alive POST of a callback-sized body, answered by the fake
 * executor_manager, then one Redis write (the cursor move) — with as many in flight as a relay
 * runs passes, and nothing else: no event read, no fold, no outbox. The same machine's speed at the
 * same moment, so the relay's CPU per callback ÷ this one's is a ratio the machine's drift does not
 * move (docs/benchmarks-notes.md, eighth and ninth rounds).
 *
 * Input (env): FLOOR_URL, REDIS_URL, FLOOR_KEY_PREFIX, FLOOR_BODY_BYTES, FLOOR_IN_FLIGHT,
 * FLOOR_WARMUP, FLOOR_CALLBACKS. Output: one JSON line on stdout, {callbacks, cpuMs}.
 */
const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const count = (name: string): number => {
  const value = Number(env(name));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
};

async function main(): Promise<void> {
  const url = new URL(env('FLOOR_URL'));
  const prefix = env('FLOOR_KEY_PREFIX');
  const inFlight = count('FLOOR_IN_FLIGHT');
  const warmup = count('FLOOR_WARMUP');
  const measured = count('FLOOR_CALLBACKS');
  // A body of the measured callbacks' mean size: JSON, so the fake parses it as it does theirs.
  const body = JSON.stringify({ task_id: 1, subtask_id: 1, pad: 'x'.repeat(Math.max(0, count('FLOOR_BODY_BYTES') - 40)) });
  const pool = new Pool(url.origin, { connections: inFlight, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 4_000 });
  const redis = new Redis(env('REDIS_URL'), { maxRetriesPerRequest: 3, enableAutoPipelining: true });
  const headers = { 'content-type': 'application/json' };
  const one = async (n: number): Promise<void> => {
    const response = await pool.request({ path: url.pathname, method: 'POST', headers, body });
    await response.body.text();
    if (response.statusCode !== 200) throw new Error(`the fake executor_manager answered ${response.statusCode}`);
    await redis.set(`${prefix}:cursor:${n % 2_000}`, String(n), 'PX', 60_000);
  };
  const run = async (total: number): Promise<void> => {
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < total) await one((next += 1));
      }),
    );
  };
  try {
    await run(warmup); // connections made, V8's compiler done with the hot paths
    const before = process.cpuUsage();
    await run(measured);
    const used = process.cpuUsage(before);
    process.stdout.write(`${JSON.stringify({ callbacks: measured, cpuMs: (used.user + used.system) / 1_000 })}\n`);
  } finally {
    await pool.close();
    redis.disconnect();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
