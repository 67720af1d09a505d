import type { Redis } from 'ioredis';
import type { RedisKeys } from '@wegent-codex/event-log';

/** A 2026 subtask this deployment has taken and not finished. */
export interface HeartbeatRun {
  taskId: number;
  subtaskId: number;
  /** The worker process running it; undefined while it waits in the queue. */
  workerId?: string;
}

/** KEYS: runs hash. ARGV: field, worker id. Claims only a registered run (a finished one stays gone). */
const CLAIM = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end
return 0
`;

type RedisWithClaim = Redis & { wegentHeartbeatClaim(runs: string, field: string, workerId: string): Promise<number> };

/**
 * Which 2026 tasks this deployment is running, for their heartbeats (docs/protocol/wegent-protocol-2026.md §5),
 * and which worker process runs each: the intake registers a subtask, the worker that takes it
 * claims it and keeps a liveness key alive, and whoever sees a subtask finished or its worker
 * dead drops it. Shared by every process through Redis, so there is one registry however many
 * workers and relays run.
 */
export class HeartbeatRegistry {
  private readonly redis: RedisWithClaim;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.redis = redis as RedisWithClaim;
    if (!this.redis.wegentHeartbeatClaim) redis.defineCommand('wegentHeartbeatClaim', { numberOfKeys: 1, lua: CLAIM });
  }

  async register(taskId: number, subtaskId: number): Promise<void> {
    await this.redis.hsetnx(this.keys.heartbeatRuns, field(taskId, subtaskId), '');
  }

  /** The worker took the subtask; false when it is not (or no longer) registered. */
  async claim(taskId: number, subtaskId: number, workerId: string): Promise<boolean> {
    return Number(await this.redis.wegentHeartbeatClaim(this.keys.heartbeatRuns, field(taskId, subtaskId), workerId)) === 1;
  }

  async remove(taskId: number, subtaskId: number): Promise<void> {
    await this.redis.hdel(this.keys.heartbeatRuns, field(taskId, subtaskId));
  }

  async list(): Promise<HeartbeatRun[]> {
    const all = await this.redis.hgetall(this.keys.heartbeatRuns);
    return Object.entries(all).flatMap(([key, worker]) => {
      const match = /^(\d+):(\d+)$/.exec(key);
      if (!match) return [];
      return [{ taskId: Number(match[1]), subtaskId: Number(match[2]), ...(worker ? { workerId: worker } : {}) }];
    });
  }

  /** A worker process says it is alive for `ttlMs` more. */
  async keepAlive(workerId: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.workerAlive(workerId), '1', 'PX', ttlMs);
  }

  async isAlive(workerId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.workerAlive(workerId))) === 1;
  }

  async forget(workerId: string): Promise<void> {
    await this.redis.del(this.keys.workerAlive(workerId));
  }

  /**
   * True for exactly one caller per task and interval, across every process: the one that sends
   * this beat. The slot expires after `intervalMs`, opening the next beat.
   */
  async takeBeat(taskId: number, owner: string, intervalMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.heartbeatSlot(taskId), owner, 'PX', intervalMs, 'NX')) === 'OK';
  }
}

const field = (taskId: number, subtaskId: number): string => `${taskId}:${subtaskId}`;
