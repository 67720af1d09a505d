import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { EventLogRepository } from '@wegent-codex/event-log';
import { LOGGER, type Logger } from '@wegent-codex/runtime';
import { RunRegistry } from './run-registry';

/** After a lapse, how long the relay's watcher may still be ending this worker's runs (its confirmation + a pass). */
export const LAPSE_RECHECK_MS = 4_000;

/**
 * A worker whose liveness key lapsed (the process was frozen, or cut off from Redis, longer than
 * WORKER_LIVENESS_TTL_MS) comes back to find some of its runs ended elsewhere: the relay's
 * LostWorkerWatcher appended their "worker lost" terminal, failed their jobs and let the tasks'
 * follow-ups start on other workers — in the same task folders. Such a run must not go on: every
 * run whose log already holds a terminal is stopped now (its Codex tree killed, through the
 * shutdown path; its own ending is refused by the log), and once more after LAPSE_RECHECK_MS for a
 * watcher pass that was under way when the key came back.
 */
@Injectable()
export class LostRunStopper implements OnApplicationShutdown {
  private recheck?: NodeJS.Timeout;

  constructor(
    private readonly registry: RunRegistry,
    private readonly events: EventLogRepository,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Called when the liveness key is found lapsed at a renewal. */
  afterLapse(): void {
    void this.stopEndedRuns();
    clearTimeout(this.recheck);
    this.recheck = setTimeout(() => void this.stopEndedRuns(), LAPSE_RECHECK_MS);
    this.recheck.unref();
  }

  /** Stops every running run whose subtask's log already ended; resolves to their job ids. */
  async stopEndedRuns(): Promise<string[]> {
    const stopped: string[] = [];
    for (const run of this.registry.all()) {
      if (run.shutdown.signal.aborted) continue;
      const terminal = await this.events.terminalOf(run.taskId, run.subtaskId).catch(() => null);
      if (!terminal) continue;
      this.logger.error(
        { task_id: run.taskId, subtask_id: run.subtaskId, job_id: run.jobId, terminal },
        'stopping a run that was ended elsewhere while this worker looked lost',
      );
      run.shutdown.abort();
      stopped.push(run.jobId);
    }
    return stopped;
  }

  onApplicationShutdown(): void {
    clearTimeout(this.recheck);
  }
}
