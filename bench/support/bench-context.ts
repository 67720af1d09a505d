import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '@wegent-codex/contracts';
import { createLogger, type Logger } from '@wegent-codex/runtime';

/** The repository root: the nearest folder above this file with a package.json (src or dist). */
export const REPO_ROOT = (() => {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

/**
 * Everything of one bench run lives under here (outside /tmp: Codex refuses helpers there).
 * BENCH_DATA_DIR moves it, e.g. out of this git checkout: Codex started outside a sandbox walks up
 * from its cwd and inspects the enclosing repository, which a production WORKSPACE_ROOT has not.
 */
export const BENCH_DATA_ROOT = process.env.BENCH_DATA_DIR ? resolve(process.env.BENCH_DATA_DIR) : join(REPO_ROOT, '.data', 'bench');

type Closer = { what: string; close: () => Promise<unknown> | unknown };

/**
 * One bench run's own corner of the machine: a temp directory under .data/bench/<id>, a Redis key
 * prefix `bench-<id>`, and a stack of closers that `cleanup()` runs last-in-first-out — each one
 * bounded, so a stuck closer cannot keep the run (or CI) alive.
 */
export class BenchContext {
  readonly id = randomBytes(4).toString('hex');
  readonly root = join(BENCH_DATA_ROOT, this.id);
  readonly redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  readonly prefix = `bench-${this.id}`;
  private readonly closers: Closer[] = [];
  private cleaned?: Promise<string[]>;

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    this.defer('Redis keys', () => deletePrefix(this.redisUrl, this.prefix));
    this.defer('temp directory', () => rm(this.root, { recursive: true, force: true }));
  }

  /** A directory of its own for one scenario part. */
  async dir(name: string): Promise<string> {
    const path = join(this.root, name);
    await mkdir(path, { recursive: true, mode: 0o700 });
    return path;
  }

  /** A service config under this run's prefix (each part gets its own sub-prefix, so queues never mix). */
  config(part: string, env: Record<string, string>): Config {
    return loadConfig({
      REDIS_URL: this.redisUrl,
      REDIS_PREFIX: `${this.prefix}.${part}`,
      EXECUTOR_NAME: 'wegent-codex-bench',
      LOG_LEVEL: 'info',
      EMBEDDED_REDIS: 'never',
      ...env,
    });
  }

  /** Registers a closer; returns a function that runs it now (and unregisters it). */
  defer(what: string, close: () => Promise<unknown> | unknown): () => Promise<void> {
    const closer: Closer = { what, close };
    this.closers.push(closer);
    return async () => {
      const index = this.closers.indexOf(closer);
      if (index < 0) return;
      this.closers.splice(index, 1);
      await bounded(Promise.resolve().then(close), 30_000, `closing ${what}`);
    };
  }

  /** Runs every closer (LIFO); returns the problems instead of throwing. Idempotent. */
  cleanup(): Promise<string[]> {
    this.cleaned ??= (async () => {
      const problems: string[] = [];
      while (this.closers.length) {
        const { what, close } = this.closers.pop()!;
        try {
          await bounded(Promise.resolve().then(close), 30_000, `closing ${what}`);
        } catch (error) {
          problems.push(`${what}: ${(error as Error).message}`);
        }
      }
      return problems;
    })();
    return this.cleaned;
  }
}

/** The production logger writing nowhere: its cost (serialisation, redaction) stays in the numbers. */
export function discardingLogger(config: Pick<Config, 'LOG_LEVEL'>): Logger {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  return createLogger(config, {}, sink);
}

/** Rejects when `promise` does not settle within `ms` (every wait of the bench is bounded). */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `intervalMs` until it returns something truthy; throws after `timeoutMs`. */
export async function until<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number,
  what: string,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as T;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/** Deletes every key starting with `prefix` (bounded SCAN). */
export async function deletePrefix(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3, lazyConnect: true });
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) deleted += await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
