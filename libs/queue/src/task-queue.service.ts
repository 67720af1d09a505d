import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Optional, type OnModuleDestroy } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobIdFor, TASK_QUEUE_NAME, type Config, type TaskJobData, type TaskPayload, type WegentProtocol } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { CONFIG, LOGGER, REDIS, type Logger } from '@wegent-codex/runtime';
import { CancelRegistry } from './cancel-registry';
import { HeartbeatRegistry } from './heartbeat-registry';
import { idsOfJobId } from './job-data-check';
import { PARK_DELAY_MS, TASK_JOB_OPTIONS } from './job-options';
import { PayloadVault, type SubtaskIds } from './payload-vault';
import { TaskLane } from './task-lane';
import type { CancelOutcome, EnqueueResult, TaskQueuePort } from './task-queue.types';

/** A job a worker has taken (BullMQ `active`), and the worker process that took it. */
export interface RunningJob {
  jobId: string;
  /** From the job id, never from its data. */
  ids: SubtaskIds;
  /** The liveness id of the worker that took it (BullMQ `processedBy`); undefined for a worker without one. */
  workerId?: string;
  protocol?: WegentProtocol;
  attempt: number;
}

const QUEUED_STATES = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children', 'paused']);
/** States of a lane's head job that mean it will not run (again): its lane moves on. */
const FINISHED_STATES = new Set(['completed', 'failed', 'unknown']);
/** Longest a shutdown waits for the queue's connection to finish initialising. */
const INIT_SETTLE_MS = 2_000;

/**
 * The queue rules of a task, in one service: enqueue, admission (only the head of a task's lane
 * runs), release (leave the lane, wake the next subtask, drop the stored payload) and cancel. Its
 * pieces — the payload vault, the task lane, the cancel registry — are QueueModule providers,
 * built once per process; the intake, the worker and the operator CLI all go through here.
 */
@Injectable()
export class TaskQueueService implements TaskQueuePort, OnModuleDestroy {
  readonly vault: PayloadVault;
  readonly lane: TaskLane;
  readonly cancels: CancelRegistry;
  readonly heartbeats: HeartbeatRegistry;

  constructor(
    @InjectQueue(TASK_QUEUE_NAME) private readonly queue: Queue<TaskJobData>,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    keys: RedisKeys,
    private readonly events: EventLogRepository,
    // Given by QueueModule; built here only when the service is constructed by hand (tests).
    @Optional() vault?: PayloadVault,
    @Optional() lane?: TaskLane,
    @Optional() cancels?: CancelRegistry,
  ) {
    this.vault = vault ?? new PayloadVault(redis, keys, config.SECRETS_KEY);
    this.lane = lane ?? new TaskLane(redis, keys);
    this.cancels = cancels ?? new CancelRegistry(redis, keys);
    this.heartbeats = new HeartbeatRegistry(redis, keys);
    // BullMQ re-emits its connection's errors ("Connection is closed." while the app shuts down);
    // an EventEmitter with no 'error' listener would throw them at whoever is running.
    queue.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'task queue connection error'));
  }

  /**
   * Before BullModule closes the queue (on application shutdown, after this hook): let its
   * connection finish initialising, at most INIT_SETTLE_MS. Closed mid-init, BullMQ rejects the
   * init with "Connection is closed." and re-emits it after every listener is gone.
   */
  async onModuleDestroy(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, INIT_SETTLE_MS)));
    await Promise.race([
      this.queue.waitUntilReady().then(
        () => undefined,
        () => undefined,
      ),
      bound,
    ]);
    clearTimeout(timer);
  }

  /**
   * May this job run now? Only the head of its task's lane runs; a head that is gone or finished
   * is dropped from the lane first, and a parked head is woken. False: park the job again.
   */
  async admit(taskId: number, jobId: string): Promise<boolean> {
    for (let guard = 0; guard < 100; guard++) {
      const position = await this.lane.join(taskId, jobId);
      if (position === 0) return true;
      const head = await this.lane.head(taskId);
      if (!head || head === jobId) return true;
      const headJob = await this.queue.getJob(head);
      const state = headJob ? await headJob.getState() : 'unknown';
      if (!FINISHED_STATES.has(state)) {
        if (state === 'delayed') await this.promote(head);
        return false;
      }
      await this.lane.leave(taskId, head);
    }
    return false;
  }

  /** The job is over: leave the lane, wake the task's next subtask, drop its own stored payload. */
  async release(ids: SubtaskIds, jobId: string): Promise<void> {
    const next = await this.lane.leave(ids.task_id, jobId);
    if (next) await this.promote(next);
    await this.vault.drop(ids).catch(() => undefined);
  }

  /** Job ids in a task's lane (running head first, then the parked follow-ups). */
  async laneJobIds(taskId: number): Promise<string[]> {
    return this.lane.members(taskId);
  }

  async enqueue(payload: TaskPayload, options: { traceparent?: string } = {}): Promise<EnqueueResult> {
    const { task_id, subtask_id } = payload;
    const jobId = jobIdFor(task_id, subtask_id);
    const base = { jobId, task_id, subtask_id };

    // Both reads at once (one round trip on the way to the worker).
    const [existing, lastSeq] = await Promise.all([this.queue.getJob(jobId), this.events.lastSeq(task_id, subtask_id)]);
    if (existing) return { ...base, state: await existing.getState(), created: false };
    // The job may be gone (removed after completion) while its log remains: still the same run.
    if (lastSeq > 0) {
      return { ...base, state: (await this.events.terminalOf(task_id, subtask_id)) ? 'completed' : 'active', created: false };
    }

    // The payload, the lane and (2026) the heartbeat registration are independent: one round trip.
    // Should the add below fail, what these left is harmless and reused by the caller's retry: the
    // payload expires, a lane entry without a job is skipped (admit), a retry re-joins in place.
    const [payloadRef, position] = await Promise.all([
      this.vault.store(payload),
      this.lane.join(task_id, jobId),
      // Today's EM expects heartbeats from the moment it dispatched (docs/protocol/wegent-protocol-2026.md §5).
      payload.protocol === '2026' ? this.heartbeats.register(task_id, subtask_id) : undefined,
    ]);
    const data: TaskJobData = {
      task_id,
      subtask_id,
      title: payload.subtask_title ?? payload.task_title ?? undefined,
      payloadRef,
      enqueuedAt: new Date().toISOString(),
      ...(options.traceparent ? { traceparent: options.traceparent } : {}),
      ...(payload.protocol ? { protocol: payload.protocol } : {}),
    };
    const job = await this.queue.add(jobId, data, {
      ...TASK_JOB_OPTIONS,
      jobId,
      ...(position > 0 ? { delay: PARK_DELAY_MS } : {}),
    });
    // The head may have left between our join and add: if we are head now, do not stay parked.
    if (position > 0 && (await this.lane.head(task_id)) === jobId) await job.promote().catch(() => undefined);
    this.logger.info({ task_id, subtask_id, job_id: jobId, parked: position > 0 }, 'task enqueued');
    return { ...base, state: await job.getState(), created: true };
  }

  /** Cancels every waiting or running subtask of the task, or only `onlySubtask` when given. */
  async cancelTask(taskId: number, onlySubtask?: number): Promise<CancelOutcome> {
    const outcome: CancelOutcome = { task_id: taskId, cancelled: [] };
    for (const jobId of await this.lane.members(taskId)) {
      const job = await this.queue.getJob(jobId);
      if (!job) {
        await this.lane.leave(taskId, jobId);
        continue;
      }
      const subtaskId = job.data.subtask_id;
      if (onlySubtask !== undefined && subtaskId !== onlySubtask) continue;
      if (await this.events.terminalOf(taskId, subtaskId)) continue;
      if (QUEUED_STATES.has(await job.getState())) {
        outcome.cancelled.push({ subtask_id: subtaskId, stage: await this.removeQueued(job) });
        continue;
      }
      if (await this.cancels.isRequested(taskId, subtaskId)) continue; // already being cancelled
      await this.cancels.request(taskId, subtaskId);
      outcome.cancelled.push({ subtask_id: subtaskId, stage: 'running' });
    }
    if (outcome.cancelled.length) this.logger.info({ task_id: taskId, cancelled: outcome.cancelled }, 'cancel requested');
    return outcome;
  }

  /** Removes a job that has not started; "running" when a worker took it meanwhile (locked). */
  private async removeQueued(job: Job<TaskJobData>): Promise<'queued' | 'running'> {
    const { task_id, subtask_id } = job.data;
    // The durable flag first: should a worker take the job between our check and the removal,
    // it sees the flag before doing anything and ends the job as cancelled.
    await this.cancels.request(task_id, subtask_id);
    try {
      await job.remove();
    } catch {
      return 'running';
    }
    const protocol = job.data.protocol === '2026' ? { protocol: '2026' as const } : {};
    await this.events.append({ type: 'cancelled', stage: 'queued', task_id, subtask_id, attempt: 0, ...protocol });
    const next = await this.lane.leave(task_id, job.id!);
    await this.vault.drop({ task_id, subtask_id });
    if (next) await this.promote(next);
    return 'queued';
  }

  /** Lets the next job of a task's lane run now instead of at the end of its park delay. */
  async promote(jobId: string): Promise<void> {
    const job = await this.queue.getJob(jobId);
    if (job && (await job.getState()) === 'delayed') await job.promote().catch(() => undefined);
  }

  /** Every job a worker has taken and not finished. A job whose stored data cannot be read is left out. */
  async runningJobs(): Promise<RunningJob[]> {
    const running: RunningJob[] = [];
    for (const jobId of await this.queue.getRanges(['active'], 0, -1)) {
      const ids = idsOfJobId(jobId);
      const job = ids ? await this.queue.getJob(jobId).catch(() => undefined) : undefined;
      if (!ids || !job) continue;
      running.push({
        jobId,
        ids,
        ...(job.processedBy ? { workerId: job.processedBy } : {}),
        ...((job.data as Partial<TaskJobData> | null)?.protocol === '2026' && { protocol: '2026' as const }),
        attempt: job.attemptsStarted,
      });
    }
    return running;
  }

  /**
   * Fails a running job whose worker is gone, as the worker itself would have (its lock taken over,
   * `reason` as the failed reason), and leaves its lane so the task's next subtask starts. False
   * when the job is no longer running under `workerId` (it finished, or another worker took it):
   * then nothing changes. Whoever calls this has already ended the subtask in its event log.
   */
  async failLostJob(jobId: string, workerId: string, reason: string): Promise<boolean> {
    const ids = idsOfJobId(jobId);
    const job = await this.queue.getJob(jobId);
    if (!ids || !job || job.processedBy !== workerId) return false;
    // The dead worker's lock token, when the lock has not expired yet: the move then drops it.
    const token = (await this.redis.get(`${this.queue.toKey(jobId)}:lock`)) ?? '0';
    try {
      await job.moveToFailed(new Error(reason), token, false);
    } catch (error) {
      // Not active any more, or locked by another worker since: BullMQ refused, nothing moved.
      this.logger.debug({ job_id: jobId, err: error instanceof Error ? error.message : String(error) }, 'lost job not failed');
      return false;
    }
    await this.release(ids, jobId);
    return true;
  }

  async health(): Promise<{ redis: boolean; workers: number; counts: Record<string, number> }> {
    const pong = await this.redis.ping().catch(() => null);
    if (pong !== 'PONG') return { redis: false, workers: 0, counts: {} };
    const [counts, workers] = await Promise.all([
      this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'),
      this.queue.getWorkersCount(),
    ]);
    return { redis: true, workers, counts };
  }
}
