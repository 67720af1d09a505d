import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '@wegent-codex/contracts';

/** A config for one test file: its own Redis key prefix, so runs never collide. */
export function testConfig(name: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `test-${name}-${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: 'silent',
    EXECUTOR_NAME: 'codex-test',
    // `npm run test:e2e:warm`: the same suites with warm Codex processes (issue 12).
    ...(process.env.TEST_CODEX_WARM_POOL ? { CODEX_WARM_POOL: process.env.TEST_CODEX_WARM_POOL } : {}),
    ...env,
  });
}

/** Deletes every key under the config's prefix (bounded SCAN). */
export async function dropPrefix(config: Pick<Config, 'REDIS_URL' | 'REDIS_PREFIX'>): Promise<void> {
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.REDIS_PREFIX}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

type Check<T> = () => Promise<T | undefined | null | false> | T | undefined | null | false;

/**
 * Polls `check` until it returns a value, for at most `timeoutMs` (every wait in tests is bounded).
 * Given `what` (what is awaited), a timeout says so: `eventually(check, 'the scan to record it', 10_000)`.
 */
export async function eventually<T>(check: Check<T>, what: string, timeoutMs?: number): Promise<T>;
export async function eventually<T>(check: Check<T>, timeoutMs?: number, intervalMs?: number): Promise<T>;
export async function eventually<T>(check: Check<T>, whatOrTimeout?: string | number, timeoutOrInterval?: number): Promise<T> {
  const what = typeof whatOrTimeout === 'string' ? whatOrTimeout : 'a condition';
  const timeoutMs = (typeof whatOrTimeout === 'string' ? timeoutOrInterval : whatOrTimeout) ?? 10_000;
  const intervalMs = (typeof whatOrTimeout === 'string' ? undefined : timeoutOrInterval) ?? 25;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as T;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
