import { Queue, Worker } from 'bullmq';
import { TASK_JOB_OPTIONS } from '@wegent-codex/queue';
import { redisOptionsFromUrl } from '@wegent-codex/runtime';
import { bounded } from '../support/bench-context';
import type { ScenarioEnv } from '../support/scenario-env';
import { ratePerSecond } from '../stats';

/**
 * The ceiling: BullMQ alone on the same Redis — N jobs added one `add` each (as the API does),
 * all at once, to a queue whose worker (concurrency c, the service's job options) does nothing.
 * Jobs/s runs from the first add to the last `completed` event.
 */
export interface BullmqCeilingLevel {
  concurrency: number;
  jobs: number;
  addsPerSecond: number;
  jobsPerSecond: number;
}

export async function runBullmqCeiling(env: ScenarioEnv, concurrencies: readonly number[]): Promise<BullmqCeilingLevel[]> {
  const jobs = env.quick ? 500 : 2_000;
  const out: BullmqCeilingLevel[] = [];
  for (const concurrency of concurrencies) {
    const prefix = `${env.ctx.prefix}.bullmq-c${concurrency}`;
    const connection = redisOptionsFromUrl(env.ctx.redisUrl);
    const queue = new Queue('noop', { connection, prefix });
    const closeQueue = env.ctx.defer(`BullMQ queue (c=${concurrency})`, () => queue.close());
    let completed = 0;
    let allDone!: () => void;
    const done = new Promise<void>((resolve) => (allDone = resolve));
    const worker = new Worker('noop', async () => undefined, { connection, prefix, concurrency });
    const closeWorker = env.ctx.defer(`BullMQ worker (c=${concurrency})`, () => worker.close(true));
    worker.on('completed', () => {
      completed += 1;
      if (completed === jobs) allDone();
    });
    try {
      await bounded(worker.waitUntilReady(), 30_000, 'BullMQ worker start');
      const start = Date.now();
      await bounded(
        Promise.all(Array.from({ length: jobs }, (_, i) => queue.add('noop', { i }, TASK_JOB_OPTIONS))),
        120_000,
        `adding ${jobs} jobs`,
      );
      const added = Date.now();
      await bounded(done, 300_000, `processing ${jobs} no-op jobs`);
      const finished = Date.now();
      out.push({
        concurrency,
        jobs,
        addsPerSecond: ratePerSecond(jobs, added - start),
        jobsPerSecond: ratePerSecond(jobs, finished - start),
      });
      env.progress(`BullMQ ceiling at c=${concurrency}: ${Math.round(ratePerSecond(jobs, finished - start))} jobs/s`);
    } finally {
      await closeWorker();
      await closeQueue();
    }
  }
  return out;
}
