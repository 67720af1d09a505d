import type { Redis } from 'ioredis';
import {
  isTerminalEvent,
  taskEventSchema,
  type NewTaskEvent,
  type StoredEvent,
  type TaskEvent,
  type TaskEventType,
} from '@wegent-codex/contracts';
import { RedisKeys } from './redis-keys';

/**
 * Appends the event, stamps its seq, and announces it in the relay outbox — atomically, and never
 * after a terminal event: the first terminal event wins, later appends are refused. This is what
 * makes "exactly one terminal callback, and nothing after it" hold across processes.
 *
 * KEYS: stream, meta, outbox. ARGV: type, body, isTerminal, timestamp, taskId, subtaskId, retentionSeconds.
 */
const APPEND_SCRIPT = `
local terminal = redis.call('HGET', KEYS[2], 'terminal')
if terminal then return {0, terminal} end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local id = redis.call('XADD', KEYS[1], '*', 'seq', seq, 'type', ARGV[1], 'ts', ARGV[4], 'body', ARGV[2])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[2], 'terminal', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
redis.call('XADD', KEYS[3], '*', 'task', ARGV[5], 'subtask', ARGV[6], 'id', id)
return {1, id, seq}
`;

export type AppendResult = { appended: true; id: string; seq: number } | { appended: false; terminal: TaskEventType };

export interface EventLogOptions {
  /** How long a finished subtask's log is kept (seconds). */
  retentionSeconds?: number;
}

/**
 * Told about every event this repository appended, after the append succeeded (metrics). Called
 * synchronously on the appending path, so it must be cheap and start any I/O of its own without
 * awaiting it; whatever it throws is ignored.
 */
export interface EventLogObserver {
  appended(stored: StoredEvent): void;
}

type RedisWithAppend = Redis & {
  wegentAppendEvent(stream: string, meta: string, outbox: string, ...argv: (string | number)[]): Promise<[number, string, number?]>;
};

export class EventLogRepository {
  private readonly retentionSeconds: number;
  private readonly observers = new Set<EventLogObserver>();

  constructor(
    private readonly redis: Redis,
    readonly keys: RedisKeys,
    options: EventLogOptions = {},
  ) {
    this.retentionSeconds = options.retentionSeconds ?? 7 * 24 * 3600;
    if (!(redis as unknown as Partial<RedisWithAppend>).wegentAppendEvent) {
      redis.defineCommand('wegentAppendEvent', { numberOfKeys: 3, lua: APPEND_SCRIPT });
    }
  }

  async append(event: NewTaskEvent, now: Date = new Date()): Promise<AppendResult> {
    const { task_id: taskId, subtask_id: subtaskId } = event;
    const body = JSON.stringify(event);
    const timestamp = now.toISOString();
    const reply = await (this.redis as unknown as RedisWithAppend).wegentAppendEvent(
      this.keys.events(taskId, subtaskId),
      this.keys.eventsMeta(taskId, subtaskId),
      this.keys.outbox,
      event.type,
      body,
      isTerminalEvent(event) ? '1' : '0',
      timestamp,
      taskId,
      subtaskId,
      this.retentionSeconds,
    );
    if (Number(reply[0]) !== 1) return { appended: false, terminal: String(reply[1]) as TaskEventType };
    const appended = { appended: true as const, id: String(reply[1]), seq: Number(reply[2]) };
    // Object.assign onto a fresh object: `{ ...event, seq, timestamp }` is V8's slow path on Node 20.
    if (this.observers.size > 0)
      this.notify({ id: appended.id, event: Object.assign({}, event, { seq: appended.seq, timestamp }) as TaskEvent });
    return appended;
  }

  /** Adds an observer of this repository's appends; returns a function that removes it. */
  observe(observer: EventLogObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  private notify(stored: StoredEvent): void {
    for (const observer of this.observers) {
      try {
        observer.appended(stored);
      } catch {
        // An observer never fails an append that has already happened.
      }
    }
  }

  /** Events after `afterId` (exclusive; "0" or omitted = from the start), oldest first. */
  async read(taskId: number, subtaskId: number, afterId = '0', count?: number): Promise<StoredEvent[]> {
    return (await this.readEntries(taskId, subtaskId, afterId, count)).map(([id, fields]) => decodeEntry(id, fields));
  }

  /** As `read`, not decoded yet (`decodeEntry` each): for a caller that may not need them. */
  readEntries(taskId: number, subtaskId: number, afterId = '0', count?: number): Promise<[id: string, fields: string[]][]> {
    const start = afterId === '0' || afterId === '-' ? '-' : `(${afterId}`;
    const key = this.keys.events(taskId, subtaskId);
    return count ? this.redis.xrange(key, start, '+', 'COUNT', count) : this.redis.xrange(key, start, '+');
  }

  /**
   * Waits up to `blockMs` for events after `afterId`. Blocks the connection it is given, so pass a
   * dedicated one (e.g. `redis.duplicate()`), never the shared command connection.
   */
  async waitFor(blocking: Redis, taskId: number, subtaskId: number, afterId: string, blockMs: number): Promise<StoredEvent[]> {
    const from = afterId === '-' ? '0' : afterId;
    const reply = await blocking.xread('COUNT', 500, 'BLOCK', blockMs, 'STREAMS', this.keys.events(taskId, subtaskId), from);
    if (!reply) return [];
    return reply.flatMap(([, entries]) => entries.map(([id, fields]) => decodeEntry(id, fields)));
  }

  /** The type of the subtask's terminal event, or null while it is not finished. */
  async terminalOf(taskId: number, subtaskId: number): Promise<TaskEventType | null> {
    const value = await this.redis.hget(this.keys.eventsMeta(taskId, subtaskId), 'terminal');
    return (value as TaskEventType | null) ?? null;
  }

  /** Number of events appended so far (0 for a subtask that never started). */
  async lastSeq(taskId: number, subtaskId: number): Promise<number> {
    return Number((await this.redis.hget(this.keys.eventsMeta(taskId, subtaskId), 'seq')) ?? 0);
  }
}

/**
 * An entry of a subtask's log as written by the append script (`seq`, `type`, `ts`, `body`),
 * validated: whatever is in Redis, a wrong entry throws here (and fails its job), never later.
 */
export function decodeEntry(id: string, fields: readonly string[]): StoredEvent {
  let seq: string | undefined;
  let timestamp: string | undefined;
  let body = '{}';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i];
    if (name === 'body') body = fields[i + 1]!;
    else if (name === 'seq') seq = fields[i + 1];
    else if (name === 'ts') timestamp = fields[i + 1];
  }
  // The parsed body is this call's own: stamped in place, not copied (the relay decodes every event it delivers).
  const raw = JSON.parse(body) as unknown;
  const event = isPlainObject(raw) ? Object.assign(raw, { seq: Number(seq), timestamp }) : raw;
  return { id, event: taskEventSchema.parse(event) };
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
