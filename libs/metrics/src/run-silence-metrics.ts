import { Gauge, type Registry } from 'prom-client';
import { isTerminalEvent, type StoredEvent } from '@wegent-codex/contracts';
import type { EventLogObserver } from '@wegent-codex/event-log';

/** The runs a worker process executes now (its RunRegistry). */
export interface RunningRuns {
  all(): readonly { taskId: number; subtaskId: number }[];
}

/** Bound on the runs remembered, in case some never end in this process. */
const MAX_TRACKED_RUNS = 10_000;

/**
 * `wegent_codex_run_longest_silence_seconds`: of the runs this worker executes now, the longest
 * time since one of them appended an event (a run with none yet counts from when a scrape first saw
 * it). A run that stays silent far past CODEX_IDLE_TIMEOUT_MS is stuck in a way the idle guard did
 * not catch. Only runs of this process count: their events are appended here.
 */
export class RunSilenceMetrics implements EventLogObserver {
  private readonly lastEventAt = new Map<string, number>();

  constructor(
    registry: Registry,
    private readonly runs: RunningRuns,
    private readonly now: () => number = Date.now,
  ) {
    const longest = (): number => this.longestSilenceSeconds();
    new Gauge({
      name: 'wegent_codex_run_longest_silence_seconds',
      help: 'Of the runs this worker process executes now, the longest time since one appended an event (0: none running)',
      registers: [registry],
      collect() {
        this.set(longest());
      },
    });
  }

  appended({ event }: StoredEvent): void {
    const run = key(event.task_id, event.subtask_id);
    this.lastEventAt.delete(run); // re-inserted last: the map stays in order of last activity
    if (isTerminalEvent(event)) return;
    this.lastEventAt.set(run, this.now());
    if (this.lastEventAt.size > MAX_TRACKED_RUNS) this.lastEventAt.delete(this.lastEventAt.keys().next().value!);
  }

  longestSilenceSeconds(): number {
    const now = this.now();
    const running = new Set<string>();
    let longest = 0;
    for (const { taskId, subtaskId } of this.runs.all()) {
      const run = key(taskId, subtaskId);
      running.add(run);
      let last = this.lastEventAt.get(run);
      if (last === undefined) this.lastEventAt.set(run, (last = now));
      longest = Math.max(longest, now - last);
    }
    // Runs that ended without a terminal event here (their worker gave them up) are forgotten.
    for (const run of this.lastEventAt.keys()) if (!running.has(run)) this.lastEventAt.delete(run);
    return longest / 1000;
  }
}

const key = (taskId: number, subtaskId: number): string => `${taskId}:${subtaskId}`;
