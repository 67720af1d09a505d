import type { Redis } from 'ioredis';
import type { RedisKeys } from '@wegent-codex/event-log';

/** KEYS: lock. ARGV: token. Deletes the lock only if this holder still owns it. */
const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS: lock. ARGV: token, ttlMs. */
const REFRESH = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

/**
 * KEYS: lock, cursor, events stream. ARGV: token, eventId, fallbackTtlMs.
 * Moves the cursor forward (never back) only while the token holds the lock — a relay that lost
 * its lock cannot overwrite the progress of the one that took over. The cursor expires with the
 * event log: it copies the stream's TTL (set when the subtask finished); a running subtask's
 * stream and cursor have none.
 */
const ADVANCE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if not ms then return tonumber(id) or 0, 0 end
  return tonumber(ms), tonumber(seq)
end
local current = redis.call('GET', KEYS[2])
if current then
  local cm, cs = parse(current)
  local nm, ns = parse(ARGV[2])
  if nm < cm or (nm == cm and ns <= cs) then return 1 end
end
local ttl = redis.call('PTTL', KEYS[3])
if ttl == -2 then ttl = tonumber(ARGV[3]) end
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
else
  redis.call('SET', KEYS[2], ARGV[2])
end
return 1
`;

type RedisWithRelayLock = Redis & {
  wegentRelayUnlock(lock: string, token: string): Promise<number>;
  wegentRelayRefresh(lock: string, token: string, ttlMs: number): Promise<number>;
  wegentRelayAdvance(lock: string, cursor: string, stream: string, token: string, eventId: string, fallbackTtlMs: number): Promise<number>;
};

/** Used when the stream is already gone: the event log's default retention (7 days). */
const FALLBACK_CURSOR_TTL_MS = 7 * 24 * 3_600_000;

/**
 * The per-subtask delivery lock and cursor (keys.relayLock / keys.relayCursor). One relay at a time
 * delivers a subtask's callbacks, so they go out in order; the cursor is the stream id up to which
 * every callback has been answered by executor_manager (or given up), so a restarted or other relay
 * resumes right after it.
 */
export class RelayLockRepository {
  private readonly redis: RedisWithRelayLock;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.redis = redis as RedisWithRelayLock;
    if (!this.redis.wegentRelayUnlock) {
      redis.defineCommand('wegentRelayUnlock', { numberOfKeys: 1, lua: UNLOCK });
      redis.defineCommand('wegentRelayRefresh', { numberOfKeys: 1, lua: REFRESH });
      redis.defineCommand('wegentRelayAdvance', { numberOfKeys: 3, lua: ADVANCE });
    }
  }

  /** SET NX PX: true when this token now holds the subtask's lock. */
  async tryLock(taskId: number, subtaskId: number, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.relayLock(taskId, subtaskId), token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /**
   * tryLock and cursor in one round trip: both commands are issued in the same tick, so on an
   * auto-pipelined connection they share one write with whatever else is going out (an explicit
   * pipeline would be a write of its own). The lock decides; the cursor is only used when it was
   * taken (reading it under someone else's lock is harmless).
   */
  async tryLockWithCursor(taskId: number, subtaskId: number, token: string, ttlMs: number): Promise<{ locked: boolean; cursor: string }> {
    const [lock, cursor] = await Promise.all([
      this.redis.set(this.keys.relayLock(taskId, subtaskId), token, 'PX', ttlMs, 'NX'),
      this.redis.get(this.keys.relayCursor(taskId, subtaskId)),
    ]);
    return { locked: lock === 'OK', cursor: cursor ?? '0' };
  }

  /** Milliseconds the lock still lives (-2: free). */
  async ttl(taskId: number, subtaskId: number): Promise<number> {
    return this.redis.pttl(this.keys.relayLock(taskId, subtaskId));
  }

  /** Extends the lock; false when it expired or another relay holds it now. */
  async refresh(taskId: number, subtaskId: number, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.redis.wegentRelayRefresh(this.keys.relayLock(taskId, subtaskId), token, ttlMs)) === 1;
  }

  async unlock(taskId: number, subtaskId: number, token: string): Promise<void> {
    await this.redis.wegentRelayUnlock(this.keys.relayLock(taskId, subtaskId), token);
  }

  /** The last delivered event id, or "0" before the first delivery. */
  async cursor(taskId: number, subtaskId: number): Promise<string> {
    return (await this.redis.get(this.keys.relayCursor(taskId, subtaskId))) ?? '0';
  }

  /** Moves the cursor to `eventId` if later; false when the lock was lost (stop delivering). */
  async advance(taskId: number, subtaskId: number, token: string, eventId: string): Promise<boolean> {
    const reply = await this.redis.wegentRelayAdvance(
      this.keys.relayLock(taskId, subtaskId),
      this.keys.relayCursor(taskId, subtaskId),
      this.keys.events(taskId, subtaskId),
      token,
      eventId,
      FALLBACK_CURSOR_TTL_MS,
    );
    return Number(reply) === 1;
  }
}
