import { Gauge, type Registry } from 'prom-client';
import type { Redis } from 'ioredis';
import { readRelayBacklog, type RedisKeys } from '@wegent-codex/event-log';
import { withDeadline } from './deadline';

/** A scrape never waits longer than this for Redis. */
const PING_DEADLINE_MS = 1_000;
const BACKLOG_DEADLINE_MS = 2_000;

/**
 * Series read from Redis at scrape time by every process, whatever its roles:
 * - whether this process reaches Redis (its own PING, answered within a second);
 * - the relay backlog (oldest undelivered event, outbox length) — read from Redis, so it is
 *   reported even while no relay runs; NaN when Redis cannot be read. The same in every process:
 *   aggregate with max.
 */
export function registerRedisMetrics(
  registry: Registry,
  redis: Redis,
  keys: RedisKeys,
  onError: (what: string, error: unknown) => void,
): void {
  const registers = [registry];
  new Gauge({
    name: 'wegent_codex_redis_up',
    help: "1 when this process's Redis connection is ready and answered PING within 1 s at scrape time, else 0",
    registers,
    async collect() {
      this.set((await pingOk(redis)) ? 1 : 0);
    },
  });
  // Both gauges come from one read per scrape (prom-client collects concurrently).
  let reading: ReturnType<typeof readRelayBacklog> | undefined;
  const backlog = () => {
    reading ??= withDeadline(readRelayBacklog(redis, keys), BACKLOG_DEADLINE_MS).finally(() => {
      reading = undefined;
    });
    return reading;
  };
  const collectBacklog = async (gauge: Gauge, pick: (b: Awaited<ReturnType<typeof readRelayBacklog>>) => number, report: boolean) => {
    // Unknown is NaN, not 0 ("no backlog"): an unlabelled gauge cannot be left out.
    if (redis.status !== 'ready') return gauge.set(Number.NaN); // commands would queue until Redis is back
    try {
      gauge.set(pick(await backlog()));
    } catch (error) {
      gauge.set(Number.NaN);
      if (report) onError('relay backlog', error);
    }
  };
  new Gauge({
    name: 'wegent_codex_relay_oldest_undelivered_seconds',
    help: 'Age of the oldest event whose callback is not delivered yet (0: none), read from Redis at scrape time (use max)',
    registers,
    async collect() {
      await collectBacklog(this, (b) => b.oldestUndeliveredMs / 1000, true);
    },
  });
  new Gauge({
    name: 'wegent_codex_relay_outbox_entries',
    help: 'Entries in the relay outbox (events announced and not yet acknowledged by a relay), read at scrape time (use max)',
    registers,
    async collect() {
      await collectBacklog(this, (b) => b.outboxEntries, false);
    },
  });
}

/** While the connection is down ioredis would queue the PING until Redis is back: answer 0 at once. */
async function pingOk(redis: Redis): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  try {
    return (await withDeadline(redis.ping(), PING_DEADLINE_MS)) === 'PONG';
  } catch {
    return false;
  }
}
