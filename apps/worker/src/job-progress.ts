import type { Job } from 'bullmq';
import type { Logger } from '@wegent-codex/runtime';
import type { RunEvent } from './run-event';

/** What Bull Board shows as a job's progress. */
export interface JobProgress {
  phase: string;
  last_step?: string;
}

const TERMINAL_PHASE: Record<string, string> = { done: 'completed', error: 'failed', cancelled: 'cancelled' };

/** The board's view of one event: the new phase or step and its log line; null for answer text. */
export function progressOf(event: RunEvent, current: JobProgress): { progress: JobProgress; line: string } | null {
  switch (event.type) {
    case 'status':
      if (event.phase === 'workbench') return null;
      return { progress: { ...current, phase: event.phase }, line: `status: ${event.phase}` };
    case 'thinking-step':
      return { progress: { ...current, last_step: event.step.title }, line: `step: ${event.step.title}` };
    case 'error':
      return { progress: { ...current, phase: 'failed' }, line: `failed (${event.kind})` };
    case 'done':
    case 'cancelled':
      return { progress: { ...current, phase: TERMINAL_PHASE[event.type] }, line: TERMINAL_PHASE[event.type] };
    default:
      return null;
  }
}

/**
 * Mirrors a run's phase and last step into the job (`job.updateProgress`) and adds one job log
 * line per step (`job.log`), so Bull Board is worth watching. Only phase names, step title keys
 * and error kinds are written — never step details, answer text or error messages, which may
 * carry a task's secrets. Best effort and in order: a failed write is logged at debug and never
 * touches the run.
 */
export class JobProgressReporter {
  private current: JobProgress = { phase: 'queued' };
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly job: Pick<Job, 'updateProgress' | 'log'>,
    private readonly logger: Logger,
  ) {}

  readonly observe = (event: RunEvent): void => {
    const next = progressOf(event, this.current);
    if (!next) return;
    this.current = next.progress;
    const { progress, line } = next;
    this.chain = this.chain
      .then(() => this.job.updateProgress({ ...progress }))
      .then(() => this.job.log(line))
      .catch((error: unknown) =>
        this.logger.debug({ err: error instanceof Error ? error.message : String(error) }, 'could not update the job progress'),
      );
  };

  /** Resolves when every write so far has been made (or given up). */
  async flush(): Promise<void> {
    await this.chain;
  }
}
