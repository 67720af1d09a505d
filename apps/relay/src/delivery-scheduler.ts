import type { Logger } from '@wegent-codex/runtime';
import { fullJitterDelay } from './backoff';
import type { OutboxEntry, OutboxRepository } from './outbox.repository';
import type { PassResult, SubtaskDelivery } from './subtask-delivery';
import { newestStreamId } from './stream-id';

export interface DeliverySchedulerOptions {
  maxInFlight: number;
  /**
   * With at least `busyPasses` passes running, a subtask's next pass waits `ms` so that more of its
   * events are covered by it (a pass costs five Redis round trips besides its callbacks).
   */
  gather: { busyPasses: number; ms: number };
  /** Back-off after a pass failed unexpectedly (Redis error, undecodable event). */
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * How long a pass that delivered everything waits, lock held, for its subtask's next outbox
   * entry before it ends (0: never). Only while no other subtask waits for a pass slot.
   */
  lingerMs: number;
}

/**
 * The outbox entries of one subtask this relay is responsible for. Entries stay pending in Redis
 * until a pass that started after they arrived has finished — then that pass has seen their events.
 * One (the newest) is kept pending for as long as the run goes on: should this process die, it is
 * what another relay claims to resume the subtask from its cursor.
 */
interface SubtaskRun {
  key: string;
  taskId: number;
  subtaskId: number;
  /** Received, not yet covered by a started pass. */
  fresh: Set<string>;
  /** Covered by a started pass; acknowledged when it completes (all but the newest, until the end). */
  covered: Set<string>;
  /**
   * Claimed from another consumer (XAUTOCLAIM): a dead relay's guard. Acknowledged only after a
   * pass of this relay — never because the lock is taken, which may still be the dead relay's.
   */
  recovered: Set<string>;
  state: 'queued' | 'active' | 'waiting';
  timer?: NodeJS.Timeout;
  /** The timer is a gathering wait (see `wake`), not a back-off or a held text. */
  gathering?: boolean;
  /** Set while its pass lingers (see `linger`): ends the wait, true to read the log again. */
  lingering?: (readAgain: boolean) => void;
  failures: number;
}

/**
 * Runs delivery passes: different subtasks concurrently (up to `maxInFlight`), one subtask strictly
 * one pass after another, and decides when outbox entries may be acknowledged.
 */
export class DeliveryScheduler {
  private readonly runs = new Map<string, SubtaskRun>();
  private readonly ready: SubtaskRun[] = [];
  private readonly active = new Set<Promise<void>>();
  /** Runs whose pass lingers now: a slot they free at once when another subtask needs one. */
  private readonly lingering = new Set<SubtaskRun>();
  private stopped = false;

  constructor(
    private readonly delivery: SubtaskDelivery,
    private readonly outbox: OutboxRepository,
    private readonly logger: Logger,
    private readonly options: DeliverySchedulerOptions,
    private readonly signal: AbortSignal,
  ) {}

  /** Subtasks this relay currently tracks. */
  get size(): number {
    return this.runs.size;
  }

  /** Delivery passes at work now (a lingering pass waits for its next entry and is not counted). */
  get running(): number {
    return this.active.size - this.lingering.size;
  }

  /** Every outbox entry this relay still owns (their idle time is reset periodically). */
  entryIds(): string[] {
    const ids: string[] = [];
    for (const run of this.runs.values()) ids.push(...run.fresh, ...run.covered);
    return ids;
  }

  /** `recovered`: the entry was claimed from another (presumably dead) relay. */
  add(entry: OutboxEntry, recovered = false): void {
    if (this.stopped) return;
    const key = `${entry.taskId}:${entry.subtaskId}`;
    let run = this.runs.get(key);
    if (!run) {
      run = {
        key,
        taskId: entry.taskId,
        subtaskId: entry.subtaskId,
        fresh: new Set(),
        covered: new Set(),
        recovered: new Set(),
        state: 'waiting',
        failures: 0,
      };
      this.runs.set(key, run);
    }
    if (recovered) run.recovered.add(entry.entryId);
    if (run.covered.has(entry.entryId)) return; // claimed back after a touch: already covered
    run.fresh.add(entry.entryId);
    // Its pass waits for exactly this: it reads the log again under the lock it holds.
    if (run.lingering) return run.lingering(true);
    // New events end a coalescing wait: a step must go out at once (a text is re-planned).
    if (run.state === 'waiting' && run.failures === 0) this.wake(run);
  }

  /** Stops starting passes and cancels timers; `drain()` then waits for the running ones. */
  stop(): void {
    this.stopped = true;
    for (const run of this.runs.values()) clearTimeout(run.timer);
    for (const run of [...this.lingering]) run.lingering?.(false);
    this.ready.length = 0;
  }

  async drain(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
  }

  /** A pass for new events: now, or after a short gathering wait while the relay is busy. */
  private wake(run: SubtaskRun): void {
    const { busyPasses, ms } = this.options.gather;
    if (this.running < busyPasses) return this.enqueue(run);
    if (run.gathering || this.stopped) return;
    clearTimeout(run.timer);
    run.state = 'waiting';
    run.gathering = true;
    run.timer = setTimeout(() => this.enqueue(run), ms);
  }

  private enqueue(run: SubtaskRun): void {
    if (this.stopped) return;
    clearTimeout(run.timer);
    run.timer = undefined;
    run.gathering = false;
    run.state = 'queued';
    this.ready.push(run);
    this.pump();
  }

  private later(run: SubtaskRun, ms: number): void {
    if (this.stopped) return;
    run.state = 'waiting';
    run.gathering = false;
    run.timer = setTimeout(() => this.enqueue(run), ms);
  }

  private pump(): void {
    // Every slot taken while subtasks wait: lingering passes give theirs up.
    if (this.ready.length > 0 && this.active.size >= this.options.maxInFlight) {
      for (const run of [...this.lingering].slice(0, this.ready.length)) run.lingering?.(false);
    }
    while (!this.stopped && this.active.size < this.options.maxInFlight && this.ready.length > 0) {
      const run = this.ready.shift()!;
      const task = this.execute(run).finally(() => {
        this.active.delete(task);
        this.pump();
      });
      this.active.add(task);
    }
  }

  private async execute(run: SubtaskRun): Promise<void> {
    run.state = 'active';
    for (const id of run.fresh) run.covered.add(id);
    run.fresh.clear();
    // Made only when a line is written: a child logger per pass is not free.
    let child: Logger | undefined;
    const log = (): Logger => (child ??= this.logger.child({ task_id: run.taskId, subtask_id: run.subtaskId }));

    let result: PassResult;
    try {
      result = await this.delivery.pass(run.taskId, run.subtaskId, this.signal, {
        beforeRead: () => {
          for (const id of run.fresh) run.covered.add(id);
          run.fresh.clear();
        },
        linger: (signal) => this.linger(run, signal),
      });
      run.failures = 0;
    } catch (error) {
      if (this.signal.aborted) return;
      run.failures += 1;
      const delay = Math.max(1, fullJitterDelay(run.failures, this.options.retryBaseMs, this.options.retryMaxMs));
      log().error({ err: error, failures: run.failures, retry_in_ms: delay }, 'delivery pass failed; retrying');
      this.later(run, delay);
      return;
    }

    if (result.outcome === 'lock-lost') log().warn('lost the subtask lock mid-pass (stalled longer than its TTL?); trying again');
    else if (this.logger.isLevelEnabled('debug')) log().debug({ ...result, entries: run.covered.size }, 'delivery pass ended');
    try {
      await this.settle(run, result);
    } catch (error) {
      // A Redis error: the entries stay pending; the run is tried again.
      log().warn({ err: error }, 'could not acknowledge or re-check after a delivery pass; retrying');
      if (!this.signal.aborted) this.later(run, this.options.retryBaseMs);
    }
  }

  private async settle(run: SubtaskRun, result: PassResult): Promise<void> {
    switch (result.outcome) {
      case 'aborted':
        return;
      case 'locked-elsewhere': {
        // A live holder re-checks the log after releasing its lock, which covers our entries; a
        // dead one still has its own entries pending — except those we recovered: they wait for
        // the lock.
        await this.ack(
          run,
          [...run.covered].filter((id) => !run.recovered.has(id)),
        );
        if (run.covered.size > 0) return this.later(run, result.retryInMs);
        return this.next(run);
      }
      case 'lock-lost':
        return this.enqueue(run);
      case 'delivered': {
        if (result.finished) {
          // Nothing is appended after a terminal event: every entry of this subtask is done.
          await this.ack(run, [...run.covered, ...run.fresh]);
          run.fresh.clear();
          this.runs.delete(run.key);
          return;
        }
        const guard = newestStreamId(run.covered);
        if (result.holdMs !== undefined || run.fresh.size > 0) {
          await this.ack(
            run,
            [...run.covered].filter((id) => id !== guard),
          );
          if (result.holdMs !== undefined && run.fresh.size === 0) return this.later(run, result.holdMs);
          return this.wake(run);
        }
        // No lost wake-up: events appended while we held the lock may have had their entries
        // acknowledged by a relay that found the lock taken. One round trip: re-check, and
        // acknowledge all (caught up) or all but the guard (more to deliver).
        const ids = [...run.covered];
        const more = await this.outbox.ackUnlessEventsAfter(run.taskId, run.subtaskId, result.foldedUpTo, ids, guard);
        for (const id of ids) {
          if (more && id === guard) continue;
          run.covered.delete(id);
          run.recovered.delete(id);
        }
        if (more) return this.enqueue(run);
        return this.next(run);
      }
    }
  }

  /**
   * A pass delivered everything it read: true to read again at once (entries came in meanwhile),
   * else wait up to `lingerMs` for the next one — only while no other subtask waits for a slot,
   * so a streaming subtask never keeps another from being delivered.
   */
  private linger(run: SubtaskRun, signal: AbortSignal): Promise<boolean> {
    if (this.stopped || signal.aborted || this.ready.length > 0) return Promise.resolve(false);
    if (run.fresh.size > 0) return Promise.resolve(true);
    if (this.options.lingerMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const end = (readAgain: boolean): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.lingering.delete(run);
        run.lingering = undefined;
        resolve(readAgain);
      };
      const onAbort = (): void => end(false);
      const timer = setTimeout(end, this.options.lingerMs, false);
      signal.addEventListener('abort', onAbort, { once: true });
      run.lingering = end;
      this.lingering.add(run);
    });
  }

  /** After a run's entries are acknowledged: go on if new ones came in, else forget the subtask. */
  private next(run: SubtaskRun): void {
    if (run.fresh.size > 0) return this.wake(run);
    this.runs.delete(run.key);
  }

  private async ack(run: SubtaskRun, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.outbox.ack(ids);
    for (const id of ids) {
      run.covered.delete(id);
      run.recovered.delete(id);
    }
  }
}
