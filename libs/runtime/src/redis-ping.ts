import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';

// Shared by the service (which starts the embedded Redis) and the CLI (which only connects to it).
export const EMBEDDED_REDIS_DATA_DIR = '.data/redis';
export const EMBEDDED_REDIS_PASSWORD_FILE = 'password';

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

/**
 * The URL of the embedded Redis with its password (kept in `<data>/password`, 0600, created on
 * first use) — the default URL when there is no such file. Task commands are loopback clients
 * too: an embedded Redis without a password would hand them every queue and payload.
 */
export function embeddedRedisUrl(url: string, dataDir = resolve(EMBEDDED_REDIS_DATA_DIR)): string {
  let password: string;
  try {
    password = readFileSync(join(dataDir, EMBEDDED_REDIS_PASSWORD_FILE), 'utf8').trim();
  } catch {
    return url;
  }
  const u = new URL(url);
  if (!password || u.password) return url;
  u.password = encodeURIComponent(password);
  return u.toString();
}
