import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '@wegent-codex/contracts';

/**
 * A Redis connection for one purpose. `maxRetriesPerRequest: null` is what BullMQ workers need and
 * what long-lived blocking readers want: commands wait through a Redis restart instead of failing.
 * Reconnects back off up to 2 s, forever — every wait above it is bounded by its own timeout.
 */
export function createRedis(config: Pick<Config, 'REDIS_URL'>, name: string, overrides: RedisOptions = {}): Redis {
  return new Redis(config.REDIS_URL, {
    connectionName: `wegent-codex:${name}`,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
    ...overrides,
  });
}

/** ioredis options parsed from a redis:// or rediss:// URL, for libraries that own their connection (BullMQ). */
export function redisOptionsFromUrl(url: string): RedisOptions {
  const u = new URL(url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2_000),
  };
}
