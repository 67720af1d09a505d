import type { Redis } from 'ioredis';
import type { RedisKeys } from './redis-keys';

/** The outbox entries one look reads at most: the cost of a scrape stays bounded however long it grows. */
export const BACKLOG_SCAN_LIMIT = 500;

export interface RelayBacklog {
  /** Age (ms, by the Redis clock) of the oldest event whose callback is not delivered yet; 0 when none. */
  oldestUndeliveredMs: number;
  /** Outbox entries (announced events not yet acknowledged by a relay). */
  outboxEntries: number;
}

/**
 * How far the relay is behind, read from Redis alone (so any process can report it, and it still
 * reports while every relay is down). Each appended event puts an entry into the outbox; an entry
 * stays until a relay has delivered past it. For the subtasks named by the oldest outbox entries,
 * the first event after the subtask's relay cursor is its oldest undelivered one; its stream id
 * carries its append time. Only the first `limit` entries are read: when the outbox is longer, the
 * answer covers the oldest part of it, which is where the oldest undelivered event is (entries are
 * appended in time order with their events).
 */
export async function readRelayBacklog(redis: Redis, keys: RedisKeys, limit = BACKLOG_SCAN_LIMIT): Promise<RelayBacklog> {
  const [[, length], [, entries], [, time]] = (await redis
    .multi()
    .xlen(keys.outbox)
    .xrange(keys.outbox, '-', '+', 'COUNT', limit)
    .time()
    .exec()) as [[unknown, number], [unknown, [string, string[]][]], [unknown, [string, string]]];
  const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);

  const subtasks = new Map<string, { taskId: number; subtaskId: number }>();
  for (const [, fields] of entries) {
    const map: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i]] = fields[i + 1];
    const taskId = Number(map.task);
    const subtaskId = Number(map.subtask);
    // Malformed entries name no subtask; the relay drops them.
    if (map.task && map.subtask && Number.isInteger(taskId) && Number.isInteger(subtaskId))
      subtasks.set(`${taskId}:${subtaskId}`, { taskId, subtaskId });
  }
  if (subtasks.size === 0) return { oldestUndeliveredMs: 0, outboxEntries: Number(length) };

  const list = [...subtasks.values()];
  const cursors = (await redis.mget(...list.map((s) => keys.relayCursor(s.taskId, s.subtaskId)))) as (string | null)[];
  const firsts = cursors.reduce((pipeline, cursor, i) => {
    const { taskId, subtaskId } = list[i];
    return pipeline.xrange(keys.events(taskId, subtaskId), cursor ? `(${cursor}` : '-', '+', 'COUNT', 1);
  }, redis.pipeline());
  let oldest = Number.POSITIVE_INFINITY;
  for (const [error, reply] of (await firsts.exec()) ?? []) {
    const id = !error && Array.isArray(reply) && reply.length > 0 ? String((reply[0] as [string])[0]) : undefined;
    if (id) oldest = Math.min(oldest, Number(id.slice(0, id.indexOf('-'))));
  }
  return {
    oldestUndeliveredMs: Number.isFinite(oldest) ? Math.max(0, nowMs - oldest) : 0,
    outboxEntries: Number(length),
  };
}
