import type { NewTaskEvent } from '@wegent-codex/contracts';
import type { AppendResult, EventLogRepository } from '@wegent-codex/event-log';

type Body<T> = T extends unknown ? Omit<T, 'task_id' | 'subtask_id' | 'attempt'> : never;
export type RunEvent = Body<NewTaskEvent>;

/**
 * Appends one run's events strictly in order (appends are chained, never concurrent), stamping the
 * run's ids. Once the log refuses an append because a terminal event exists — the run was
 * cancelled from outside, or finished — `closed` turns true and later emits are dropped.
 */
export class RunEventEmitter {
  private chain: Promise<unknown> = Promise.resolve();
  private refused = false;
  private failure: unknown = null;

  constructor(
    private readonly log: EventLogRepository,
    private readonly ids: { task_id: number; subtask_id: number; attempt: number },
    /** Told of every appended event, in order (the job's progress for Bull Board). */
    private readonly observe?: (event: RunEvent) => void,
  ) {}

  emit(event: RunEvent): Promise<AppendResult | null> {
    const next = this.chain.then(async () => {
      if (this.refused) return null;
      try {
        const result = await this.log.append({ ...event, ...this.ids } as NewTaskEvent);
        if (!result.appended) this.refused = true;
        else this.observe?.(event);
        return result;
      } catch (error) {
        this.failure ??= error;
        throw error;
      }
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
