import type { JobsOptions } from 'bullmq';

/** How long a parked follow-up waits before it checks its lane again (it is normally promoted sooner). */
export const PARK_DELAY_MS = 30_000;

/**
 * A Codex run is not idempotent (it edits a workspace, talks to a model), so BullMQ never retries
 * it on failure: `attempts: 1`. A job whose worker died is re-delivered once by stall detection;
 * the processor then decides from the event log (clean restart if nothing was done, else one
 * FAILED "worker lost").
 */
export const TASK_JOB_OPTIONS: JobsOptions = {
  attempts: 1,
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};
