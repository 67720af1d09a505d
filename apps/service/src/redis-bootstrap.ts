import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';

/** True when something answers PING at the URL's host and port within `timeoutMs`. */
export function redisAnswers(url: string, timeoutMs = 1_500): Promise<boolean> {
  const u = new URL(url);
  return new Promise((done) => {
    const socket = createConnection({ host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) });
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      done(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => finish(/^(\+PONG|-NOAUTH|-ERR)/.test(data.toString())));
    socket.once('error', () => finish(false));
  });
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
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` from PATH for a one-machine install: data under .data/redis, append-only
 * file on (a restart loses nothing), loopback only. Waits (bounded) until it answers.
 */
export async function startEmbeddedRedis(binary: string, url: string, dataDir = resolve('.data/redis')): Promise<EmbeddedRedis> {
  mkdirSync(dataDir, { recursive: true });
  const u = new URL(url);
  const child = spawn(
    binary,
    ['--port', u.port || '6379', '--bind', '127.0.0.1', '--dir', dataDir, '--appendonly', 'yes', '--save', '', '--daemonize', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await redisAnswers(url, 300)) {
      return {
        process: child,
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
