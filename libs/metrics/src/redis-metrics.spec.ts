import { Registry } from 'prom-client';
import type { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { registerRedisMetrics } from './redis-metrics';

describe('Redis series while Redis is away', () => {
  it('reports redis_up 0 and an unknown (NaN) relay backlog, without sending anything', async () => {
    const registry = new Registry();
    const sent: string[] = [];
    const redis = {
      status: 'reconnecting',
      ping: () => (sent.push('PING'), new Promise(() => undefined)),
      multi: () => {
        sent.push('MULTI');
        throw new Error('not connected');
      },
    } as unknown as Redis;
    registerRedisMetrics(registry, redis, new RedisKeys('x'), () => undefined);
    const metrics = await registry.getMetricsAsJSON();
    expect(metrics.find((m) => m.name === 'wegent_codex_redis_up')?.values).toEqual([{ value: 0, labels: {} }]);
    expect(metrics.find((m) => m.name === 'wegent_codex_relay_oldest_undelivered_seconds')?.values).toEqual([
      { value: Number.NaN, labels: {} },
    ]);
    expect(sent).toEqual([]);
  });
});
