import type { Config } from '@wegent-codex/contracts';

/** Intervals of the relay, all derived from RELAY_CLAIM_IDLE_MS so they keep their order. */
export interface RelayTimings {
  /** XREADGROUP BLOCK: bounded so that shutdown is prompt. */
  blockMs: number;
  /** Entries read per XREADGROUP. */
  readCount: number;
  /**
   * With at least `busyPasses` passes running, the next XREADGROUP and a subtask's next pass wait
   * `ms` for more entries and events to gather (fewer round trips per callback under load).
   */
  gather: { busyPasses: number; ms: number };
  /** Subtask lock TTL; refreshed every `lockRefreshMs` while a delivery pass runs. */
  lockTtlMs: number;
  lockRefreshMs: number;
  /** How often this relay resets the idle time of the outbox entries it still works on. */
  entryTouchMs: number;
  /** How often idle entries of other (dead) relays are claimed. */
  claimEveryMs: number;
  /** Consumers owning nothing and unseen this long are removed from the group. */
  consumerPruneIdleMs: number;
  consumerPruneEveryMs: number;
  /** Subtasks delivered at once (one subtask is always strictly sequential). */
  maxInFlight: number;
  /** Subtasks tracked in memory before reading the outbox pauses (backpressure). */
  maxTracked: number;
  /** Events read per XRANGE page while folding. */
  pageSize: number;
  /** Folders kept in memory for subtasks between passes (LRU); a miss rebuilds from the log. */
  maxCachedFolds: number;
  /**
   * How long a pass that delivered everything keeps its lock, waiting for the subtask's next event
   * (a streaming model's next delta), before it ends: a pass per burst instead of per event.
   */
  lingerMs: number;
}

/**
 * Crash safety needs `lockTtlMs + entryTouchMs < RELAY_CLAIM_IDLE_MS`: when a relay dies, its
 * entries become claimable only after its lock has expired, so the claiming relay takes the lock
 * and delivers, instead of finding it still held and acknowledging the entries to the dead holder.
 */
export function relayTimings(config: Pick<Config, 'RELAY_CLAIM_IDLE_MS'>): RelayTimings {
  const claimIdle = config.RELAY_CLAIM_IDLE_MS;
  const lockTtlMs = Math.max(40, Math.floor(claimIdle / 2));
  return {
    blockMs: 1_000,
    readCount: 256,
    gather: { busyPasses: 8, ms: 5 },
    lockTtlMs,
    lockRefreshMs: Math.max(10, Math.floor(lockTtlMs / 3)),
    entryTouchMs: Math.max(10, Math.floor(claimIdle / 4)),
    claimEveryMs: Math.min(5_000, Math.max(50, Math.floor(claimIdle / 2))),
    consumerPruneIdleMs: Math.max(3_600_000, claimIdle * 10),
    consumerPruneEveryMs: 600_000,
    maxInFlight: 64,
    maxTracked: 10_000,
    pageSize: 500,
    maxCachedFolds: 2_048,
    lingerMs: 25,
  };
}
