import { Counter, Gauge, type Registry } from 'prom-client';
import type { Queue } from 'bullmq';
import { withDeadline } from './deadline';

/** Job states reported per queue. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
/** A scrape never waits longer than this for Redis; the queue series are left out instead. */
const COUNTS_DEADLINE_MS = 2_000;

export interface ScrapeSources {
  /** BullMQ queues of this process (the task queue where the api or worker role runs). */
  queues: Queue[];
  /** Codex processes this process runs now (the worker's RunRegistry), when it runs the worker role. */
  runningProcesses?: { readonly size: number };
  /** WORKER_CONCURRENCY of this process, exported next to the running processes so a rule can compare them. */
  concurrency?: number;
}

/** Jobs looked at from the front of each waiting list for the oldest one. */
const OLDEST_PEEK = 5;

interface QueueState {
  counts: Record<string, number>;
  oldestWaitingSeconds: number;
  workers: number;
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
    // One read per queue and scrape, shared by the three gauges below (prom-client collects them
    // concurrently): a failed read leaves all three out and counts one error.
    const reads = sources.queues.map((queue) => ({ queue, read: shared(() => withDeadline(readQueue(queue), COUNTS_DEADLINE_MS)) }));
    const collectInto = async (gauge: Gauge<string>, pick: (state: QueueState, queue: string) => void): Promise<void> => {
      gauge.reset();
      await Promise.all(
        reads.map(async ({ queue, read }) => {
          const state = await read().catch(() => undefined);
          if (state) pick(state, queue.name);
        }),
      );
    };
    new Gauge({
      name: 'wegent_codex_queue_jobs',
      help: 'Jobs in the BullMQ queue by state, read from Redis at scrape time (the same for every process: use max)',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        await Promise.all(
          reads.map(async ({ queue, read }) => {
            try {
              const { counts } = await read();
              for (const state of QUEUE_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
            } catch {
              errors.inc({ collector: 'queue' });
            }
          }),
        );
      },
    });
    new Gauge({
      name: 'wegent_codex_queue_oldest_waiting_seconds',
      help: 'How long the oldest job waiting for a worker has waited (0: none), read at scrape time (use max)',
      labelNames: ['queue'],
      registers,
      async collect() {
        await collectInto(this, (state, queue) => this.set({ queue }, state.oldestWaitingSeconds));
      },
    });
    new Gauge({
      name: 'wegent_codex_queue_workers',
      help: 'BullMQ workers registered on the queue (the connections Redis lists), read at scrape time (use max)',
      labelNames: ['queue'],
      registers,
      async collect() {
        await collectInto(this, (state, queue) => this.set({ queue }, state.workers));
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
  if (sources.concurrency !== undefined) {
    new Gauge({
      name: 'wegent_codex_worker_concurrency',
      help: 'WORKER_CONCURRENCY: jobs (so codex app-server processes) this worker process may run at once',
      registers,
    }).set(sources.concurrency);
  }
}

async function readQueue(queue: Queue): Promise<QueueState> {
  const [counts, oldestWaitingSeconds, workers] = await Promise.all([
    queue.getJobCounts(...QUEUE_STATES),
    oldestWaiting(queue),
    queue.getWorkersCount(),
  ]);
  return { counts, oldestWaitingSeconds, workers };
}

/**
 * Seconds the oldest job at the front of the waiting lists (plain and prioritized) has waited,
 * counted from the later of its enqueue and its last pick-up by a worker. A follow-up parked behind
 * its task's running subtask is picked up and parked again every PARK_DELAY_MS, and BullMQ keeps
 * no time of a promotion to waiting: its figure can be up to that delay (30 s) too high.
 */
async function oldestWaiting(queue: Queue): Promise<number> {
  const jobs = await queue.getJobs(['wait', 'prioritized'], 0, OLDEST_PEEK - 1, true);
  const now = Date.now();
  let oldest = 0;
  for (const job of jobs) {
    const since = Math.max(job?.timestamp ?? 0, job?.processedOn ?? 0);
    if (since > 0) oldest = Math.max(oldest, Math.max(0, now - since) / 1000);
  }
  return oldest;
}

/** `work` at most once at a time: callers arriving while it runs share its result. */
function shared<T>(work: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () => {
    running ??= work().finally(() => {
      running = undefined;
    });
    return running;
  };
}
