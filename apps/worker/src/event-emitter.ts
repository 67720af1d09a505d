import type { NewTaskEvent } from '@wegent-codex/contracts';
import type { AppendResult, EventLogRepository } from '@wegent-codex/event-log';
import type { OutputBudget } from './output-budget';
import type { RunEvent } from './run-event';
import { RunMasker } from './run-masker';

/**
 * Appends one run's events strictly in order, stamping the run's ids. Each append is sent at once,
 * without waiting for the previous one's answer: they go out on one Redis connection, which runs
 * its commands in the order sent, so the log's order is the order of `emit` calls, and the answers
 * are handled in that order too (observer, refusal). Every event is masked here, once, on its way
 * in: with Wegent's rules from the start, with the run's own secrets once the run is guarded
 * (`guard`). Once the log refuses an append because a terminal event exists — the run was
 * cancelled from outside, or finished — `closed` turns true and later emits are not sent (one
 * sent before the refusal was known is refused by the log itself).
 */
export class RunEventEmitter {
  private chain: Promise<unknown> = Promise.resolve();
  private refused = false;
  private failure: unknown = null;
  /** Before the run's secrets are known (a job refused, a payload missing): no exact values yet. */
  private masker = new RunMasker([]);
  private budget?: OutputBudget;
  private guarded = false;

  constructor(
    private readonly log: EventLogRepository,
    private readonly ids: { task_id: number; subtask_id: number; attempt: number },
    /** Told of every appended event, in order (the job's progress for Bull Board). */
    private readonly observe?: (event: RunEvent) => void,
  ) {}

  /**
   * From now on every event is masked with the run's secrets, then its steps bounded by the run's
   * output budget (masked first: a cut never leaves half a secret). Set once per run.
   */
  guard(masker: RunMasker, budget?: OutputBudget): void {
    if (this.guarded) throw new Error("a run's events are guarded once");
    this.guarded = true;
    this.masker = masker;
    this.budget = budget;
  }

  /** Resolves with the append's result (null: refused, or the event is held back by the stream scrub). */
  emit(event: RunEvent): Promise<AppendResult | null> {
    const ready = this.masker.events(event).map((masked) => (this.budget ? this.budget.apply(masked) : masked));
    const sent = this.refused
      ? []
      : ready.map((masked) => {
          // Object.assign onto a fresh object, not `{ ...masked, ...ids }`: a literal that starts with a
          // spread and then adds properties takes V8's slow path on Node 20 (~1.4 µs an event).
          const reply = this.log.append(Object.assign({}, masked, this.ids) as NewTaskEvent);
          reply.catch(() => undefined); // handled below, in order
          return { masked, reply };
        });
    const next = this.chain.then(async () => {
      let result: AppendResult | null = null;
      for (const { masked, reply } of sent) {
        if (this.refused) return null;
        try {
          result = await reply;
        } catch (error) {
          this.failure ??= error;
          throw error;
        }
        if (!result.appended) this.refused = true;
        else this.observe?.(masked);
      }
      return result;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  emitAll(events: RunEvent[]): Promise<unknown> {
    return Promise.all(events.map((e) => this.emit(e)));
  }

  /** Resolves when every emitted event has been appended (or refused). */
  async flush(): Promise<void> {
    await this.chain;
  }

  /** True once the log holds a terminal event for this subtask. */
  get closed(): boolean {
    return this.refused;
  }

  get lastError(): unknown {
    return this.failure;
  }
}
