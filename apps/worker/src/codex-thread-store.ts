import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { TaskPayload } from '@wegent-codex/contracts';
import { RedisKeys } from '@wegent-codex/event-log';
import { REDIS } from '@wegent-codex/runtime';

/** How long a task's thread id is kept after its last run: follow-ups within it resume the conversation. */
export const THREAD_TTL_SECONDS = 30 * 24 * 3600;

/** The part of Redis the store uses (a hand-written fake in unit specs). */
export type ThreadRedis = Pick<Redis, 'get' | 'set'>;

/**
 * The Codex thread of each task, in Redis: a follow-up subtask resumes the thread its task's last
 * run used. The only code that reads or writes the thread key.
 */
@Injectable()
export class CodexThreadStore {
  constructor(
    @Inject(REDIS) private readonly redis: ThreadRedis,
    private readonly keys: RedisKeys,
  ) {}

  /** The thread this run should resume, or null for a new one (none stored, or a 2026 `new_session`). */
  async storedFor(payload: Pick<TaskPayload, 'task_id' | 'new_session'>): Promise<string | null> {
    // 2026 `new_session` (a pipeline stage changed): a fresh thread, which then becomes the task's.
    if (payload.new_session) return null;
    return (await this.redis.get(this.keys.thread(payload.task_id))) || null;
  }

  /** `threadId` is now the task's thread (kept THREAD_TTL_SECONDS from this run). */
  async remember(taskId: number, threadId: string): Promise<void> {
    await this.redis.set(this.keys.thread(taskId), threadId, 'EX', THREAD_TTL_SECONDS);
  }
}
