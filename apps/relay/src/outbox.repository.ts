import type { Redis } from 'ioredis';
import type { RedisKeys } from '@wegent-codex/event-log';

/** One outbox entry: "subtask <task>/<subtask> has a new event <eventId>". */
export interface OutboxEntry {
  entryId: string;
  taskId: number;
  subtaskId: number;
  eventId: string;
}

export interface OutboxBatch {
  entries: OutboxEntry[];
  /** Entries without usable fields: nothing to deliver, acknowledge them. */
  malformed: string[];
}

export const RELAY_GROUP = 'relay';

/**
 * KEYS: outbox. ARGV: group, consumer to keep, min idle ms ("" = remove only ARGV[2] itself).
 * Deletes consumers that own no pending entry — atomically, so an entry cannot slip into a
 * consumer between the check and XGROUP DELCONSUMER (which would make it unclaimable).
 */
const PRUNE_CONSUMERS = `
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  local idle = tonumber(info['idle'])
  local pending = tonumber(info['pending'])
  local selfOnly = ARGV[3] == ''
  local match
  if selfOnly then match = info['name'] == ARGV[2] else match = info['name'] ~= ARGV[2] and idle > tonumber(ARGV[3]) end
  if match and pending == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
`;

/**
 * KEYS: outbox, events stream of one subtask. ARGV: group, afterId ("" = no re-check), guard, ids….
 * XACK and XDEL the ids — atomically, one command instead of MULTI/XACK/XDEL/EXEC. With `afterId`,
 * first checks whether the subtask's log holds events after it; if so, `guard` stays pending
 * (it is what another relay would claim to resume the subtask). Returns 1 when it does, else 0.
 */
const ACK = `
local more = false
if ARGV[2] ~= '' then
  local start = '(' .. ARGV[2]
  if ARGV[2] == '0' then start = '-' end
  more = #redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', 1) > 0
end
local ids = {}
for i = 4, #ARGV do
  if not (more and ARGV[i] == ARGV[3]) then ids[#ids + 1] = ARGV[i] end
end
for i = 1, #ids, 500 do
  local last = math.min(i + 499, #ids)
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids, i, last))
  redis.call('XDEL', KEYS[1], unpack(ids, i, last))
end
if more then return 1 end
return 0
`;

type RedisWithPrune = Redis & {
  wegentRelayPruneConsumers(outbox: string, group: string, consumer: string, minIdleMs: string): Promise<number>;
  wegentRelayAck(outbox: string, events: string, group: string, afterId: string, guard: string, ...ids: string[]): Promise<number>;
};

type StreamEntries = [id: string, fields: string[]][];

/**
 * The relay outbox (keys.outbox) read through the consumer group "relay": each entry stays pending
 * for its consumer until the subtask's delivery covering it has finished, so a dead relay's work is
 * claimed (XAUTOCLAIM) by another after RELAY_CLAIM_IDLE_MS.
 */
export class OutboxRepository {
  private readonly redis: RedisWithPrune;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
    readonly group = RELAY_GROUP,
  ) {
    this.redis = redis as RedisWithPrune;
    if (!this.redis.wegentRelayPruneConsumers) {
      redis.defineCommand('wegentRelayPruneConsumers', { numberOfKeys: 1, lua: PRUNE_CONSUMERS });
      redis.defineCommand('wegentRelayAck', { numberOfKeys: 2, lua: ACK });
    }
  }

  /** Creates the group from the start of the outbox (entries written before any relay ran count). */
  async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.keys.outbox, this.group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }

  /**
   * New entries for `consumer`, waiting up to `blockMs`. Blocks its connection: pass a dedicated
   * one. Recreates the group when the outbox was deleted under it (NOGROUP).
   */
  async readNew(blocking: Redis, consumer: string, count: number, blockMs: number): Promise<OutboxBatch> {
    let reply: [string, StreamEntries][] | null;
    try {
      reply = (await blocking.xreadgroup(
        'GROUP',
        this.group,
        consumer,
        'COUNT',
        count,
        'BLOCK',
        blockMs,
        'STREAMS',
        this.keys.outbox,
        '>',
      )) as [string, StreamEntries][] | null;
    } catch (error) {
      if (!String((error as Error).message).includes('NOGROUP')) throw error;
      await this.ensureGroup();
      return { entries: [], malformed: [] };
    }
    return parseEntries(reply?.[0]?.[1] ?? []);
  }

  /**
   * Takes over entries pending for longer than `minIdleMs` in any consumer (a dead relay's, or a
   * stalled one's), up to `limit` per call. Entries whose data is gone are dropped by Redis.
   */
  async claimIdle(consumer: string, minIdleMs: number, limit: number): Promise<OutboxBatch> {
    const claimed: StreamEntries = [];
    let start = '0-0';
    do {
      const reply = (await this.redis.xautoclaim(this.keys.outbox, this.group, consumer, minIdleMs, start, 'COUNT', 100)) as [
        string,
        StreamEntries,
        string[]?,
      ];
      start = reply[0];
      claimed.push(...reply[1].filter((entry): entry is [string, string[]] => Array.isArray(entry?.[1])));
    } while (start !== '0-0' && claimed.length < limit);
    return parseEntries(claimed);
  }

  /**
   * Resets the idle time of entries this consumer is still working on (XCLAIM … JUSTID), so no
   * other relay claims them while this one is alive. Returns the ids still pending.
   */
  async touch(consumer: string, entryIds: string[]): Promise<string[]> {
    const alive: string[] = [];
    for (let i = 0; i < entryIds.length; i += 500) {
      const chunk = entryIds.slice(i, i + 500);
      alive.push(...((await this.redis.xclaim(this.keys.outbox, this.group, consumer, 0, ...chunk, 'JUSTID')) as string[]));
    }
    return alive;
  }

  /** XACK and XDEL: the entries are done and leave the outbox. */
  async ack(entryIds: string[]): Promise<void> {
    for (let i = 0; i < entryIds.length; i += 500) {
      await this.redis.wegentRelayAck(this.keys.outbox, this.keys.outbox, this.group, '', '', ...entryIds.slice(i, i + 500));
    }
  }

  /**
   * The end of a subtask's delivery pass, in one round trip: when its log holds no events after
   * `afterId`, acknowledges every id; otherwise every id but `guard` (one of them, kept pending: the
   * subtask is not done) and returns true. The check and the acknowledgement are atomic.
   */
  async ackUnlessEventsAfter(
    taskId: number,
    subtaskId: number,
    afterId: string,
    entryIds: string[],
    guard: string | undefined,
  ): Promise<boolean> {
    let ids = guard === undefined ? entryIds : [...entryIds.filter((id) => id !== guard), guard];
    if (ids.length > 500) {
      // Rare (a relay that fell far behind): all but the guard first; the guard goes with the check.
      await this.ack(guard === undefined ? ids : ids.slice(0, -1));
      ids = guard === undefined ? [] : [guard];
    }
    const events = this.keys.events(taskId, subtaskId);
    return Number(await this.redis.wegentRelayAck(this.keys.outbox, events, this.group, afterId, guard ?? '', ...ids)) === 1;
  }

  /** Number of entries pending for `consumer`. */
  async pendingCount(consumer: string): Promise<number> {
    const [, , , owners] = (await this.redis.xpending(this.keys.outbox, this.group)) as [
      number,
      unknown,
      unknown,
      [string, string][] | null,
    ];
    return Number(owners?.find(([name]) => name === consumer)?.[1] ?? 0);
  }

  /** Removes `consumer` from the group if it owns nothing (clean shutdown). */
  async removeConsumerIfIdle(consumer: string): Promise<boolean> {
    return Number(await this.redis.wegentRelayPruneConsumers(this.keys.outbox, this.group, consumer, '')) > 0;
  }

  /**
   * Removes other consumers that own nothing and were not seen for `minIdleMs`: every relay
   * process adds one (its name is unique), so without this the group grows with every restart.
   */
  async pruneConsumers(keep: string, minIdleMs: number): Promise<number> {
    return Number(await this.redis.wegentRelayPruneConsumers(this.keys.outbox, this.group, keep, String(minIdleMs)));
  }
}

function parseEntries(raw: StreamEntries): OutboxBatch {
  const batch: OutboxBatch = { entries: [], malformed: [] };
  for (const [entryId, fields] of raw) {
    const map: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i]] = fields[i + 1];
    const taskId = Number(map.task);
    const subtaskId = Number(map.subtask);
    if (Number.isInteger(taskId) && Number.isInteger(subtaskId) && map.task !== '' && map.subtask !== '' && map.id) {
      batch.entries.push({ entryId, taskId, subtaskId, eventId: map.id });
    } else {
      batch.malformed.push(entryId);
    }
  }
  return batch;
}
