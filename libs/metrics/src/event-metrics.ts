import { Counter, Histogram, type Registry } from 'prom-client';
import { isTerminalEvent, type StoredEvent, type TaskEvent } from '@wegent-codex/contracts';
import type { EventLogObserver } from '@wegent-codex/event-log';

/** Where the event metrics read the times they do not find in the event itself. */
export interface EventTimeSources {
  /** When the subtask's job was enqueued (epoch ms), if its job still exists. */
  enqueuedAt(taskId: number, subtaskId: number): Promise<number | undefined>;
  /** When a cancel of the subtask was requested (epoch ms), if one was. */
  cancelRequestedAt(taskId: number, subtaskId: number): Promise<number | undefined>;
}

/** Runs started in this process and not ended yet; bounded in case one never ends here. */
const MAX_TRACKED_RUNS = 10_000;

/**
 * Series derived from the events this process appends (an EventLogObserver): every event is
 * appended by exactly one process, so summing over processes counts each once.
 *
 * - job duration: from the run's `started` to its terminal event (both appended by the worker
 *   running it), by outcome (`done`, `error`, `cancelled`);
 * - time to first event: the subtask's first event (seq 1) minus its job's enqueue time;
 * - cancel latency: the `cancelled` event minus the cancel request, by stage (queued, running).
 */
export class EventMetrics implements EventLogObserver {
  private readonly appendedTotal: Counter<'type'>;
  private readonly jobDuration: Histogram<'outcome'>;
  private readonly firstEvent: Histogram;
  private readonly cancelLatency: Histogram<'stage'>;
  private readonly runsStartedAt = new Map<string, number>();

  constructor(
    registry: Registry,
    private readonly sources: EventTimeSources,
    private readonly onError: (what: string, error: unknown) => void = () => undefined,
  ) {
    const registers = [registry];
    this.appendedTotal = new Counter({
      name: 'wegent_codex_events_appended_total',
      help: 'Events appended to subtask logs by this process, by event type',
      labelNames: ['type'],
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'wegent_codex_job_duration_seconds',
      help: "From a run's started event to its terminal event, by outcome (done, error, cancelled)",
      labelNames: ['outcome'],
      buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
      registers,
    });
    this.firstEvent = new Histogram({
      name: 'wegent_codex_time_to_first_event_seconds',
      help: "From a subtask's enqueue to its first event (queue wait and worker pick-up)",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers,
    });
    this.cancelLatency = new Histogram({
      name: 'wegent_codex_cancel_latency_seconds',
      help: 'From a cancel request to the cancelled event, by stage (queued, running)',
      labelNames: ['stage'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30],
      registers,
    });
  }

  appended({ event }: StoredEvent): void {
    this.appendedTotal.inc({ type: event.type });
    const at = Date.parse(event.timestamp);
    if (!Number.isFinite(at)) return;
    const run = `${event.task_id}:${event.subtask_id}`;

    if (event.type === 'status' && event.phase === 'started' && event.attempt > 0) this.trackStart(run, at);
    if (isTerminalEvent(event)) {
      const startedAt = this.runsStartedAt.get(run);
      this.runsStartedAt.delete(run);
      if (startedAt !== undefined) this.jobDuration.observe({ outcome: event.type }, seconds(at - startedAt));
    }
    if (event.seq === 1) this.later('time to first event', () => this.observeFirstEvent(event, at));
    if (event.type === 'cancelled') this.later('cancel latency', () => this.observeCancel(event, at));
  }

  private trackStart(run: string, at: number): void {
    this.runsStartedAt.set(run, at);
    if (this.runsStartedAt.size > MAX_TRACKED_RUNS) this.runsStartedAt.delete(this.runsStartedAt.keys().next().value!);
  }

  private async observeFirstEvent(event: TaskEvent, at: number): Promise<void> {
    const enqueuedAt = await this.sources.enqueuedAt(event.task_id, event.subtask_id);
    if (enqueuedAt !== undefined) this.firstEvent.observe(seconds(at - enqueuedAt));
  }

  private async observeCancel(event: Extract<TaskEvent, { type: 'cancelled' }>, at: number): Promise<void> {
    const requestedAt = await this.sources.cancelRequestedAt(event.task_id, event.subtask_id);
    if (requestedAt !== undefined) this.cancelLatency.observe({ stage: event.stage }, seconds(at - requestedAt));
  }

  /** Off the appending path: the append has returned before any of this touches Redis. */
  private later(what: string, work: () => Promise<void>): void {
    work().catch((error: unknown) => this.onError(what, error));
  }
}

/** Clocks of two hosts may disagree by a little: a negative span counts as 0. */
const seconds = (ms: number): number => Math.max(0, ms) / 1000;
