import { Inject, Injectable, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { TASK_QUEUE_NAME, type Config, type TaskJobData } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { HeartbeatRegistry, livenessCadence, TaskQueueService, WorkerLost, type RunningJob } from '@wegent-codex/queue';
import { CONFIG, LOGGER, REDIS, redisOptionsFromUrl, type Logger } from '@wegent-codex/runtime';
import { sleep } from './backoff';

/** How long one watcher holds a job it is ending; a watcher that dies half-way lets the next one finish after it. */
const CLAIM_MS = 30_000;

/**
 * Whatever kills a worker process, its running jobs end within seconds — each exactly once, however
 * many relays watch. A job is running under a worker when BullMQ lists it active with that worker's
 * liveness id as `processedBy`; the worker is lost when its liveness key (WORKER_LIVENESS_TTL_MS)
 * has been missing for `confirmMs` of this watcher's own uninterrupted passes. Each of its jobs that
 * had started is then, under a per-job claim (SET NX): ended in its event log with one `error`
 * "worker lost" (executor_crash) — refused by the log's single-terminal rule if the run ended
 * meanwhile, so a run finishing at that moment keeps its own ending — then failed in BullMQ and
 * taken out of its task's lane, so the task's next subtask starts (and resumes the Codex thread) on
 * another worker. A job taken but not started is left to BullMQ's stall check, which runs it again.
 *
 * It lives in the relay because every deployment runs one (nothing reaches executor_manager
 * without it) and it may run while no worker is left; the api role may be scaled to zero behind a
 * queue-only intake.
 */
@Injectable()
export class LostWorkerWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly registry: HeartbeatRegistry;
  private readonly logger: Logger;
  private readonly cadence: ReturnType<typeof livenessCadence>;
  /** Worker id → when this watcher first saw its key missing (performance.now()). */
  private readonly suspects = new Map<string, number>();
  private readonly abort = new AbortController();
  private loop?: Promise<void>;
  private readonly tasks: TaskQueueService;
  /** The queue this watcher opened itself (a relay process has none of its own, and reports no queue metrics). */
  private readonly ownQueue?: Queue<TaskJobData>;

  constructor(
    @Inject(CONFIG) config: Config,
    @Inject(LOGGER) logger: Logger,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly events: EventLogRepository,
    // Given by tests; a relay process builds its own over a queue handle of its own.
    @Optional() tasks?: TaskQueueService,
  ) {
    this.registry = new HeartbeatRegistry(redis, keys);
    this.logger = logger.child({ component: 'lost-worker-watcher' });
    this.cadence = livenessCadence(config.WORKER_LIVENESS_TTL_MS);
    if (!tasks) {
      this.ownQueue = new Queue<TaskJobData>(TASK_QUEUE_NAME, {
        connection: redisOptionsFromUrl(config.REDIS_URL),
        prefix: config.REDIS_PREFIX,
      });
    }
    this.tasks = tasks ?? new TaskQueueService(this.ownQueue!, redis, config, logger, keys, events);
  }

  onApplicationBootstrap(): void {
    this.loop = this.run();
  }

  async onApplicationShutdown(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.ownQueue?.close().catch(() => undefined);
  }

  /**
   * One look at every running job; returns the jobs this watcher ended. `now` (ms, monotonic) is
   * the pass's time, given by tests to step through the confirmation without waiting.
   */
  async pass(now: number = performance.now()): Promise<RunningJob[]> {
    const byWorker = new Map<string, RunningJob[]>();
    for (const job of await this.tasks.runningJobs()) {
      if (job.workerId) byWorker.set(job.workerId, [...(byWorker.get(job.workerId) ?? []), job]);
    }
    for (const worker of this.suspects.keys()) if (!byWorker.has(worker)) this.suspects.delete(worker);
    const ended: RunningJob[] = [];
    for (const [workerId, jobs] of byWorker) {
      if (await this.registry.isAlive(workerId)) {
        this.suspects.delete(workerId);
        continue;
      }
      const since = this.suspects.get(workerId) ?? now;
      this.suspects.set(workerId, since);
      if (now - since < this.cadence.confirmMs) continue;
      for (const job of jobs) {
        // One job's bad data (or a Redis error on it) never stops the others from ending.
        const appended = await this.end(job, workerId).catch((error: unknown) => {
          this.logger.error({ job_id: job.jobId, worker: workerId, err: String(error) }, 'could not end a job of a lost worker');
          return false;
        });
        if (appended) ended.push(job);
      }
    }
    return ended;
  }

  /** True when this call appended the job's terminal event. */
  private async end(job: RunningJob, workerId: string): Promise<boolean> {
    const { task_id: taskId, subtask_id: subtaskId } = job.ids;
    if ((await this.events.lastSeq(taskId, subtaskId)) === 0) return false;
    if ((await this.redis.set(this.keys.lostJobClaim(job.jobId), this.owner, 'PX', CLAIM_MS, 'NX')) !== 'OK') return false;
    const result = await this.events.append({
      ...WorkerLost.event(job.protocol),
      task_id: taskId,
      subtask_id: subtaskId,
      attempt: job.attempt,
    });
    const failed = await this.tasks.failLostJob(job.jobId, workerId, WorkerLost.reason);
    this.logger.warn(
      { task_id: taskId, subtask_id: subtaskId, job_id: job.jobId, worker: workerId, ended_run: result.appended, failed_job: failed },
      result.appended
        ? 'worker of a running job is gone: ended the run as worker lost'
        : 'worker of a finished job is gone: failed its job',
    );
    return result.appended;
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      await this.pass().catch((error: unknown) => {
        // This watcher lost sight of Redis: what it saw missing before says nothing about now.
        this.suspects.clear();
        this.logger.warn({ err: String(error) }, 'lost-worker pass failed');
      });
      if (!(await sleep(this.cadence.passEveryMs, this.abort.signal))) return;
    }
  }
}
