import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../../contracts/src';

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
