import { Counter, Gauge, type Registry } from 'prom-client';
import type { Queue } from 'bullmq';

/** Job states reported per queue. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
/** A scrape never waits longer than this for Redis; the queue series are left out instead. */
const COUNTS_DEADLINE_MS = 2_000;

export interface ScrapeSources {
  /** BullMQ queues of this process (the task queue where the api or worker role runs). */
  queues: Queue[];
  /** Codex processes this process runs now (the worker's RunRegistry), when it runs the worker role. */
  runningProcesses?: { readonly size: number };
}

/**
 * Series read at scrape time rather than recorded: the queue's job counts (one Redis round trip
 * per queue, bounded by a deadline so a Redis outage cannot hang Prometheus) and the number of
 * running Codex processes. The job counts are the queue's, not the process's: every process that
 * has the queue reports the same numbers, so aggregate them with max(), not sum().
 */
export function registerScrapeMetrics(registry: Registry, sources: ScrapeSources): void {
  const registers = [registry];
  const errors = new Counter({
    name: 'wegent_codex_metrics_collect_errors_total',
    help: 'Scrapes that could not read a source in time (e.g. Redis away), by collector',
    labelNames: ['collector'],
    registers,
  });
  if (sources.queues.length > 0) {
    errors.inc({ collector: 'queue' }, 0);
    new Gauge({
      name: 'wegent_codex_queue_jobs',
      help: 'Jobs in the BullMQ queue by state, read from Redis at scrape time (the same for every process: use max)',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        await Promise.all(
          sources.queues.map(async (queue) => {
            try {
              const counts = await withDeadline(queue.getJobCounts(...QUEUE_STATES), COUNTS_DEADLINE_MS);
              for (const state of QUEUE_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
            } catch {
              errors.inc({ collector: 'queue' });
            }
          }),
        );
      },
    });
  }
  const running = sources.runningProcesses;
  if (running) {
    new Gauge({
      name: 'wegent_codex_codex_processes_running',
      help: 'codex app-server processes this worker process runs now (one per running job)',
      registers,
      collect() {
        this.set(running.size);
      },
    });
  }
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
