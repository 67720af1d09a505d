import type { StoredEvent } from '@wegent-codex/contracts';
import {
  decodeEntry,
  type EventLogRepository,
  isSupersededBy,
  mergeDeltas,
  type AnyPlannedCallback,
  type FoldOptions,
  ProtocolFold,
} from '@wegent-codex/event-log';
import type { Logger } from '@wegent-codex/runtime';
import type { CallbackSender } from './callback-sender';
import { planSends } from './coalesce';
import type { RelayLockRepository } from './relay-lock.repository';
import type { RelayMetrics } from './relay-metrics';
import { isAfter } from './stream-id';

export type PassResult =
  /** Every callback that can go now went out; `holdMs`: a text snapshot waits that long. */
  | { outcome: 'delivered'; finished: boolean; foldedUpTo: string; holdMs?: number }
  /** Another relay holds the subtask's lock, for `retryInMs` more at most. */
  | { outcome: 'locked-elsewhere'; retryInMs: number }
  /** The lock expired under us (another relay may have taken over): stop, try again. */
  | { outcome: 'lock-lost' }
  /** Shutdown. Undelivered callbacks stay after the cursor and are sent again later. */
  | { outcome: 'aborted' };

export interface SubtaskDeliveryOptions {
  /** Prefix of lock tokens: the relay's consumer name (visible in Redis when debugging). */
  owner: string;
  coalesceMs: number;
  lockTtlMs: number;
  lockRefreshMs: number;
  pageSize: number;
  maxCachedFolds: number;
  fold: FoldOptions;
}

/** How the scheduler takes part in a pass (all optional: a pass without them reads once and ends). */
export interface PassHooks {
  /** Right before each read of the log after the first: the outbox entries received so far are covered by it. */
  beforeRead?(): void;
  /**
   * Everything read so far is delivered and the lock is still held: resolves true to read the log
   * again under the same lock (new events were announced), false to end the pass.
   */
  linger?(signal: AbortSignal): Promise<boolean>;
}

type PendingCallback = AnyPlannedCallback & { eventTime: number };

/** A subtask's fold between passes, so a long stream is not refolded from its start each time. */
interface FoldState {
  folder: ProtocolFold;
  /** Id of the last event folded. */
  foldedUpTo: string;
  /** Callbacks after the cursor, not sent yet, superseded text already removed. */
  pending: PendingCallback[];
  lastSentAt?: number;
}

/**
 * One delivery pass of one subtask: under its lock, fold the events after the cursor into
 * callbacks and POST them in order, moving the cursor after each answer.
 */
export class SubtaskDelivery {
  private readonly folds = new Map<string, FoldState>();
  /** Lock tokens are `<owner>:<n>`: unique, as the owner (the relay's consumer name) is. */
  private passes = 0;

  constructor(
    private readonly events: EventLogRepository,
    private readonly locks: RelayLockRepository,
    private readonly sender: CallbackSender,
    private readonly metrics: RelayMetrics,
    private readonly logger: Logger,
    private readonly options: SubtaskDeliveryOptions,
  ) {}

  async pass(taskId: number, subtaskId: number, signal: AbortSignal, hooks: PassHooks = {}): Promise<PassResult> {
    const { lockTtlMs, lockRefreshMs } = this.options;
    this.passes += 1;
    const token = `${this.options.owner}:${this.passes}`;
    const locking = this.locks.tryLockWithCursor(taskId, subtaskId, token, lockTtlMs);
    // A cached fold's next page is asked for in the same tick, right after the lock: one round
    // trip instead of two. It is decoded only when the lock was taken (and the fold is still the
    // one it was read for); the log is append-only, so reading it is harmless either way.
    const cached = this.folds.get(key(taskId, subtaskId));
    const prefetch = cached && {
      after: cached.foldedUpTo,
      entries: this.events.readEntries(taskId, subtaskId, cached.foldedUpTo, this.options.pageSize),
    };
    prefetch?.entries.catch(() => undefined); // awaited below only when locked
    const { locked, cursor } = await locking;
    if (!locked) {
      const ttl = await this.locks.ttl(taskId, subtaskId);
      return { outcome: 'locked-elsewhere', retryInMs: Math.min(lockTtlMs, Math.max(10, ttl + 10)) };
    }

    // Aborted on shutdown or when the lock is lost (one controller: AbortSignal.any per pass was dear).
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    if (signal.aborted) stop.abort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const refresher = setInterval(() => {
      this.locks.refresh(taskId, subtaskId, token, lockTtlMs).then(
        (held) => held || stop.abort(),
        () => undefined, // a Redis error: the next tick tries again, the lock outlives a few
      );
    }, lockRefreshMs);
    try {
      const result = await this.deliver(taskId, subtaskId, token, cursor, stop.signal, hooks, prefetch);
      if (result === 'aborted') return { outcome: signal.aborted ? 'aborted' : 'lock-lost' };
      return result;
    } catch (error) {
      // The fold may be half-applied: rebuild it from the log next time.
      this.folds.delete(key(taskId, subtaskId));
      throw error;
    } finally {
      clearInterval(refresher);
      signal.removeEventListener('abort', onAbort);
      await this.locks.unlock(taskId, subtaskId, token).catch(() => undefined);
    }
  }

  /** True when the subtask's log holds events after `id` (the no-lost-wake-up re-check). */
  async hasEventsAfter(taskId: number, subtaskId: number, id: string): Promise<boolean> {
    return (await this.events.read(taskId, subtaskId, id, 1)).length > 0;
  }

  private async deliver(
    taskId: number,
    subtaskId: number,
    token: string,
    lockedCursor: string,
    signal: AbortSignal,
    hooks: PassHooks,
    prefetch?: { after: string; entries: Promise<[string, string[]][]> },
  ): Promise<Extract<PassResult, { outcome: 'delivered' }> | 'aborted'> {
    const { pageSize, coalesceMs } = this.options;
    const stateKey = key(taskId, subtaskId);
    let cursor = lockedCursor;
    let state = this.folds.get(stateKey);
    // Another relay may have delivered part of a merged delta this process still holds: its
    // pieces are after the cursor, so a fold rebuilt from the log plans exactly those.
    if (state?.pending.some((c) => c.firstEventId !== undefined && !isAfter(c.firstEventId, cursor) && isAfter(c.eventId, cursor)))
      state = undefined;
    if (!state) {
      // Nothing after the cursor: no need to rebuild the fold from the start of the log. (With no
      // cursor yet, the first page is that check: it is read from the start either way.)
      if (cursor !== '0' && !(await this.hasEventsAfter(taskId, subtaskId, cursor)))
        return { outcome: 'delivered', finished: false, foldedUpTo: cursor };
      this.logger.debug({ task_id: taskId, subtask_id: subtaskId, cursor }, 'folding the subtask log from its start');
      // The fold is a function of the log: a rebuilt one plans exactly the callbacks the lost one
      // did, and the cursor says which of them were answered — so no 2026 delta goes out twice.
      state = { folder: new ProtocolFold(taskId, subtaskId, this.options.fold), foldedUpTo: '0', pending: [] };
    }
    this.folds.delete(stateKey);
    this.folds.set(stateKey, state); // most recently used last
    this.evictOldFolds();
    // Another relay may have delivered beyond what this process remembers.
    state.pending = state.pending.filter((c) => isAfter(c.eventId, cursor));

    for (let first = true; ; first = false) {
      if (!first) hooks.beforeRead?.();
      const page =
        prefetch?.after === state.foldedUpTo
          ? (await prefetch.entries).map(([id, fields]) => decodeEntry(id, fields))
          : await this.events.read(taskId, subtaskId, state.foldedUpTo, pageSize);
      prefetch = undefined;
      for (const stored of page) this.fold(state, stored, cursor);
      const moreToRead = page.length === pageSize;

      const plan = planSends(state.pending, { lastSentAt: state.lastSentAt, now: Date.now(), coalesceMs, moreToRead });
      if (plan.superseded.length > 0) {
        this.metrics.coalesced(plan.superseded.length);
        const dropped = new Set(plan.superseded);
        state.pending = state.pending.filter((c) => !dropped.has(c));
      }
      for (const callback of plan.send) {
        const outcome = await this.sender.send(callback, signal);
        if (outcome.result === 'aborted') return 'aborted';
        state.pending.shift();
        state.lastSentAt = Date.now();
        if (outcome.result === 'delivered') this.metrics.delivered(callback.kind, Math.max(0, state.lastSentAt - callback.eventTime));
        // An event with several callbacks (2026 blocks; created + terminal) is passed only after the
        // last: should this relay die in between, the earlier ones (idempotent upserts) go again.
        if (callback.moreOfEvent) continue;
        if (!(await this.locks.advance(taskId, subtaskId, token, callback.eventId))) return 'aborted';
        cursor = callback.eventId;
        if (callback.kind === 'terminal') {
          this.folds.delete(stateKey);
          return { outcome: 'delivered', finished: true, foldedUpTo: state.foldedUpTo };
        }
      }
      if (moreToRead) continue;

      if (plan.held) return { outcome: 'delivered', finished: false, foldedUpTo: state.foldedUpTo, holdMs: plan.held.waitMs };
      // Events that produce no callback (workbench refresh, silent step) are covered as well.
      if (isAfter(state.foldedUpTo, cursor) && !(await this.locks.advance(taskId, subtaskId, token, state.foldedUpTo))) return 'aborted';
      cursor = maxId(cursor, state.foldedUpTo);
      const finished = state.folder.finished;
      if (finished) this.folds.delete(stateKey);
      // A stream still running: wait a moment under the lock for its next events (the scheduler
      // decides how long, and whether at all), instead of a new pass — lock, cursor and unlock —
      // per event.
      else if (hooks.linger && (await hooks.linger(signal))) continue;
      return { outcome: 'delivered', finished, foldedUpTo: state.foldedUpTo };
    }
  }

  /** Folds one event; keeps its callback if it is after the cursor, dropping text it supersedes. */
  private fold(state: FoldState, stored: StoredEvent, cursor: string): void {
    const callbacks = state.folder.apply(stored);
    state.foldedUpTo = stored.id;
    for (const planned of callbacks) this.keep(state, stored, planned, cursor);
  }

  private keep(state: FoldState, stored: StoredEvent, planned: AnyPlannedCallback, cursor: string): void {
    if (!isAfter(planned.eventId, cursor)) return;
    const last = state.pending.at(-1);
    // A 2026 delta queued behind another of the same stream goes out with it, as one (fewer
    // requests to EM and BE when the relay is behind; none held back when it is not).
    const merged = last && mergeDeltas(last, planned);
    if (last && merged) {
      // `merged` is a new object of its own: it takes the time of the first delta it carries.
      state.pending[state.pending.length - 1] = Object.assign(merged, { eventTime: last.eventTime });
      this.metrics.coalesced(1);
      return;
    }
    // Dropping superseded text as we go keeps a rebuild of a long stream from holding one full
    // snapshot per chunk in memory.
    let dropped = 0;
    while (state.pending.length > 0 && isSupersededBy(state.pending[state.pending.length - 1], planned)) {
      state.pending.pop();
      dropped += 1;
    }
    if (dropped > 0) this.metrics.coalesced(dropped);
    const eventTime = Date.parse(stored.event.timestamp);
    // The time goes first: a literal that starts with a spread and then adds a property takes V8's
    // slow path (~1.4 µs on Node 20 against ~0.05 µs; docs/benchmarks-notes.md, eighth round).
    state.pending.push({ eventTime: Number.isFinite(eventTime) ? eventTime : Date.now(), ...planned });
  }

  private evictOldFolds(): void {
    for (const oldest of this.folds.keys()) {
      if (this.folds.size <= this.options.maxCachedFolds) return;
      this.folds.delete(oldest);
    }
  }
}

const key = (taskId: number, subtaskId: number): string => `${taskId}:${subtaskId}`;
const maxId = (a: string, b: string): string => (isAfter(b, a) ? b : a);
