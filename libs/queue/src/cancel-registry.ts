import type { Redis } from 'ioredis';
import type { RedisKeys } from '@wegent-codex/event-log';

export interface CancelNotice {
  task_id: number;
  subtask_id: number;
}

/**
 * Durable cancel requests. A request is a field per subtask in a hash per task (so a stale cancel
 * never hits a later follow-up), plus a broadcast so the worker running that subtask reacts at once.
 * The worker checks the durable flag when it picks a job up and before starting the turn, so a
 * cancel racing the job's start is never lost.
 */
export class CancelRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds = 24 * 3600,
  ) {}

  async request(taskId: number, subtaskId: number, now = Date.now()): Promise<void> {
    const key = this.keys.cancel(taskId);
    await this.redis
      .multi()
      .hset(key, String(subtaskId), String(now))
      .expire(key, this.ttlSeconds)
      .publish(this.keys.cancelChannel, JSON.stringify({ task_id: taskId, subtask_id: subtaskId } satisfies CancelNotice))
      .exec();
  }

  async isRequested(taskId: number, subtaskId: number): Promise<boolean> {
    return (await this.redis.hexists(this.keys.cancel(taskId), String(subtaskId))) === 1;
  }

  /**
   * Listens for cancel broadcasts on a dedicated subscriber connection (pub/sub blocks it).
   * Returns a function that stops listening.
   */
  async subscribe(subscriber: Redis, onCancel: (notice: CancelNotice) => void): Promise<() => Promise<void>> {
    const channel = this.keys.cancelChannel;
    const listener = (ch: string, message: string) => {
      if (ch !== channel) return;
      try {
        const notice = JSON.parse(message) as CancelNotice;
        if (Number.isInteger(notice.task_id) && Number.isInteger(notice.subtask_id)) onCancel(notice);
      } catch {
        /* not ours */
      }
    };
    subscriber.on('message', listener);
    await subscriber.subscribe(channel);
    return async () => {
      subscriber.off('message', listener);
      await subscriber.unsubscribe(channel).catch(() => undefined);
    };
  }
}
