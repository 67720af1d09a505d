import { Worker, type Job, type JobJsonRaw } from 'bullmq';

/** Jobs whose stored data BullMQ could not parse, with why. */
const unreadable = new WeakMap<Job, string>();

/** Why a job's stored data could not be read (not JSON), or undefined when it could. */
export function unreadableJobData(job: Job): string | undefined {
  return unreadable.get(job);
}

/**
 * A BullMQ worker that survives job data that is not JSON. Stock BullMQ parses the data after it
 * has moved the job to active and locked it; a parse error there is only an 'error' event, and the
 * job stays active until the stall checker finds it, is retried, and stalls again. Here such a job
 * is built with `null` data and marked, so the processor fails it at once with a clear reason.
 */
export class GuardedWorker<DataType, ResultType, NameType extends string = string> extends Worker<DataType, ResultType, NameType> {
  protected override createJob(raw: JobJsonRaw, jobId: string): Job<DataType, ResultType, NameType> {
    try {
      return super.createJob(raw, jobId);
    } catch (error) {
      const job = super.createJob({ ...raw, data: 'null', progress: '0', returnvalue: 'null' }, jobId);
      unreadable.set(job as Job, error instanceof SyntaxError ? 'not valid JSON' : 'unreadable');
      return job;
    }
  }
}
