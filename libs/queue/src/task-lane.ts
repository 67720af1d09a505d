import type { Redis } from 'ioredis';
import type { RedisKeys } from '@wegent-codex/event-log';

/**
 * Per-task serialisation: the job ids of one task in arrival order. Only the head of a task's lane
 * may run; the others wait as delayed ("parked") BullMQ jobs and are promoted when the head ends,
 * so a waiting follow-up never occupies a worker slot.
 */
const JOIN_SCRIPT = `
local pos = redis.call('LPOS', KEYS[1], ARGV[1])
if pos then return pos end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return redis.call('LLEN', KEYS[1]) - 1
`;
const LEAVE_SCRIPT = `
redis.call('LREM', KEYS[1], 0, ARGV[1])
return redis.call('LINDEX', KEYS[1], 0)
`;

type LaneRedis = Redis & {
  wegentLaneJoin(key: string, jobId: string, ttl: number): Promise<number>;
  wegentLaneLeave(key: string, jobId: string): Promise<string | null>;
};

export class TaskLane {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds = 7 * 24 * 3600,
  ) {
    const r = redis as unknown as Partial<LaneRedis>;
    if (!r.wegentLaneJoin) redis.defineCommand('wegentLaneJoin', { numberOfKeys: 1, lua: JOIN_SCRIPT });
    if (!r.wegentLaneLeave) redis.defineCommand('wegentLaneLeave', { numberOfKeys: 1, lua: LEAVE_SCRIPT });
  }

  /** Adds the job (once) and returns its position: 0 = it may run now. */
  async join(taskId: number, jobId: string): Promise<number> {
    return Number(await (this.redis as unknown as LaneRedis).wegentLaneJoin(this.keys.taskLane(taskId), jobId, this.ttlSeconds));
  }

  /** Removes the job and returns the new head (the job to promote), if any. */
  async leave(taskId: number, jobId: string): Promise<string | null> {
    return (await (this.redis as unknown as LaneRedis).wegentLaneLeave(this.keys.taskLane(taskId), jobId)) ?? null;
  }

  async head(taskId: number): Promise<string | null> {
    return this.redis.lindex(this.keys.taskLane(taskId), 0);
  }

  async members(taskId: number): Promise<string[]> {
    return this.redis.lrange(this.keys.taskLane(taskId), 0, -1);
  }
}
