import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { TASK_QUEUE_NAME, type Config, type NewTaskEvent, type TaskJobData } from '@wegent-codex/contracts';
import { EventLogRepository } from '@wegent-codex/event-log';
import { proxyVariablesWithCredentials } from '@wegent-codex/codex';
import { LimitsService } from '@wegent-codex/limits';
import { CancelRegistry, idsOfJobId } from '@wegent-codex/queue';
import { CONFIG, createRedis, LOGGER, redisOptionsFromUrl, type Logger } from '@wegent-codex/runtime';
import { bullmqTelemetry } from '@wegent-codex/metrics';
import { CodexRunProcessor } from './codex-run.processor';
import { GuardedWorker } from './guarded-worker';
import { LostRunStopper } from './lost-run-stopper';
import { OrphanReaper } from './orphan-reaper';
import { RunRegistry } from './run-registry';
import { RunEnding } from './run-outcome';
import { WarmCodexPool } from './warm-codex-pool';
import { WorkerLiveness } from './worker-liveness';

/**
 * Owns this process's BullMQ worker: concurrency, the global cap, cancel broadcasts, and a bounded
 * graceful shutdown (running jobs get SHUTDOWN_GRACE_MS, then end with a FAILED that says so).
 */
@Injectable()
export class TaskWorkerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private worker?: Worker<TaskJobData>;
  private subscriber?: Redis;
  private unsubscribe?: () => Promise<void>;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    @InjectQueue(TASK_QUEUE_NAME) private readonly queue: Queue<TaskJobData>,
    private readonly events: EventLogRepository,
    private readonly processor: CodexRunProcessor,
    private readonly registry: RunRegistry,
    private readonly reaper: OrphanReaper,
    private readonly cancels: CancelRegistry,
    private readonly pool: WarmCodexPool,
    private readonly limits: LimitsService,
    private readonly liveness: WorkerLiveness,
    private readonly lostRuns: LostRunStopper,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // The liveness thread starts beside the steps below; its key exists before the first job names this
    // worker (BullMQ `processedBy` = its id, what the relay's lost-worker watcher looks up).
    const alive = this.liveness.start();
    this.liveness.onLapse(() => this.lostRuns.afterLapse());
    // Before taking jobs: Codex processes of a worker of this machine that died without a shutdown.
    await this.reaper
      .reap()
      .catch((error: unknown) => this.logger.error({ err: String(error) }, 'reaping orphaned Codex processes failed'));
    // Then their runs' cgroups, with anything that escaped the recorded trees.
    await this.limits.sweepStale();
    await this.pool.start();
    if (this.config.GLOBAL_CONCURRENCY) await this.queue.setGlobalConcurrency(this.config.GLOBAL_CONCURRENCY);
    else await this.queue.removeGlobalConcurrency();

    this.subscriber = createRedis(this.config, 'cancel-subscriber');
    this.unsubscribe = await this.cancels.subscribe(this.subscriber, (notice) => {
      const run = this.registry.get(notice.task_id, notice.subtask_id);
      if (run && !run.cancel.signal.aborted) {
        this.logger.info({ task_id: notice.task_id, subtask_id: notice.subtask_id, job_id: run.jobId }, 'cancelling running job');
        run.cancel.abort();
      }
    });

    const telemetry = bullmqTelemetry(this.config);
    await alive;
    this.worker = new GuardedWorker<TaskJobData, string>(
      TASK_QUEUE_NAME,
      (job: Job<TaskJobData>, token?: string) => this.processor.process(job, token),
      {
        connection: redisOptionsFromUrl(this.config.REDIS_URL),
        prefix: this.config.REDIS_PREFIX,
        name: this.liveness.id,
        concurrency: this.config.WORKER_CONCURRENCY,
        lockDuration: this.config.JOB_LOCK_MS,
        stalledInterval: Math.max(5_000, Math.floor(this.config.JOB_LOCK_MS / 2)),
        maxStalledCount: 1,
        ...(telemetry ? { telemetry } : {}),
      },
    );
    this.liveness.measureFromNow();
    this.worker.on('failed', (job, error) => void this.onFailed(job, error));
    this.worker.on('error', (error) => this.logger.error({ err: error.message }, 'worker error'));
    this.logger.info(
      { concurrency: this.config.WORKER_CONCURRENCY, global_concurrency: this.config.GLOBAL_CONCURRENCY ?? null },
      'worker started',
    );
    const keptBack = proxyVariablesWithCredentials();
    if (keptBack.length)
      this.logger.warn(
        { variables: keptBack },
        "proxy credentials are the service's: tasks get the proxy's address without them (authenticate tasks at the proxy by source address)",
      );
  }

  /**
   * Safety net: a job BullMQ failed without our processor ending it (stalled too often, a crash in
   * the processor) still gets exactly one terminal event. The subtask is the one its job id names —
   * never read from job data, which may be anything (null, another subtask's ids). Never throws.
   */
  private async onFailed(job: Job<TaskJobData> | undefined, error: Error): Promise<void> {
    try {
      const ids = idsOfJobId(job?.id);
      if (!job || !ids) {
        this.logger.warn({ job_id: job?.id ?? null, err: error?.message }, 'a job that names no subtask failed');
        return;
      }
      if (await this.events.terminalOf(ids.task_id, ids.subtask_id)) return;
      for (const event of RunEnding.failedInQueue(error.message))
        await this.events.append({ ...event, ...ids, attempt: job.attemptsStarted } as NewTaskEvent);
      await this.processor.release(ids, job.id!);
    } catch (e) {
      this.logger.error({ job_id: job?.id ?? null, err: String(e) }, 'could not record the failure of a job');
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.worker) return;
    const closing = this.worker.close();
    const grace = this.config.SHUTDOWN_GRACE_MS;
    const allDone = Promise.allSettled(this.registry.all().map((r) => r.done));
    const timedOut = await Promise.race([allDone.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), grace).unref())]);
    if (timedOut) {
      const left = this.registry.all();
      this.logger.warn({ running: left.length, grace_ms: grace }, 'shutdown grace period over: ending running jobs');
      for (const run of left) run.shutdown.abort();
      await Promise.race([
        Promise.allSettled(left.map((r) => r.done)),
        new Promise((r) => setTimeout(r, this.config.CANCEL_GRACE_MS + 5_000).unref()),
      ]);
    }
    await Promise.race([closing, new Promise((r) => setTimeout(r, 5_000).unref())]);
    await this.pool.close();
    await this.unsubscribe?.().catch(() => undefined);
    this.subscriber?.disconnect();
  }
}
