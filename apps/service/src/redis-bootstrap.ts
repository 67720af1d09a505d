import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EMBEDDED_REDIS_DATA_DIR, EMBEDDED_REDIS_PASSWORD_FILE, embeddedRedisUrl, redisAnswers } from '@wegent-codex/runtime';

const DEFAULT_DATA_DIR = EMBEDDED_REDIS_DATA_DIR;
const PASSWORD_FILE = EMBEDDED_REDIS_PASSWORD_FILE;

// Also used by the CLI, so they live with the other Redis helpers of libs/runtime.
export { embeddedRedisUrl, redisAnswers };

function ensurePassword(dataDir: string): string {
  const file = join(dataDir, PASSWORD_FILE);
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing) return existing;
  } catch {
    /* first start */
  }
  const password = randomBytes(24).toString('hex');
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/** Finds an executable on PATH. */
export function onPath(binary: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const candidate = resolve(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  return null;
}

export interface EmbeddedRedis {
  process: ChildProcess;
  /** The URL to use: with the generated password. */
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` from PATH for a one-machine install: data under .data/redis, append-only
 * file on (a restart loses nothing), loopback only, a generated password (in a 0600 config file,
 * never in argv). Waits (bounded) until it answers.
 */
export async function startEmbeddedRedis(binary: string, url: string, dataDir = resolve(DEFAULT_DATA_DIR)): Promise<EmbeddedRedis> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const password = ensurePassword(dataDir);
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  url = u.toString();
  const confFile = join(dataDir, 'redis.conf');
  writeFileSync(
    confFile,
    [
      `port ${u.port || '6379'}`,
      'bind 127.0.0.1',
      `dir ${JSON.stringify(dataDir)}`,
      'appendonly yes',
      'save ""',
      'daemonize no',
      'loglevel warning',
      `requirepass ${password}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const child = spawn(binary, [confFile], { stdio: ['ignore', 'ignore', 'inherit'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await redisAnswers(url, 300)) {
      return {
        process: child,
        url,
        dataDir,
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
          if (child.exitCode === null) child.kill('SIGKILL');
        },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server from ${binary} did not start`);
}
