import { Redis } from 'ioredis';
import type { Config } from '@wegent-codex/contracts';
import { RedisKeys } from '@wegent-codex/event-log';
import { eventually } from './test-config';

/**
 * Waits until the relay is through with a subtask: its cursor stands on the subtask's last event
 * and no outbox entry names the subtask any more (a relay acknowledges them once its pass has
 * delivered the terminal). From then on no relay has anything of the subtask left to send, so a
 * test checks "nothing follows the terminal callback" at a known point instead of after a pause.
 */
export async function waitRelayDone(
  config: Pick<Config, 'REDIS_URL' | 'REDIS_PREFIX'>,
  taskId: number,
  subtaskId: number,
  timeoutMs = 30_000,
): Promise<void> {
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  try {
    await eventually(
      () => relayDoneWith(redis, new RedisKeys(config.REDIS_PREFIX), taskId, subtaskId),
      `the relay to finish task ${taskId} subtask ${subtaskId} (cursor at its last event, no outbox entry left)`,
      timeoutMs,
    );
  } finally {
    redis.disconnect();
  }
}

async function relayDoneWith(redis: Redis, keys: RedisKeys, taskId: number, subtaskId: number): Promise<boolean> {
  const cursor = await redis.get(keys.relayCursor(taskId, subtaskId));
  if (!cursor) return false;
  if ((await redis.xrange(keys.events(taskId, subtaskId), `(${cursor}`, '+', 'COUNT', 1)).length > 0) return false;
  const entries = await redis.xrange(keys.outbox, '-', '+');
  return !entries.some(([, fields]) => {
    const named: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) named[fields[i]] = fields[i + 1];
    return named.task === String(taskId) && named.subtask === String(subtaskId);
  });
}
