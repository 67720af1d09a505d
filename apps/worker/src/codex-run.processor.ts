import { Inject, Injectable } from '@nestjs/common';
import { DelayedError, UnrecoverableError, type Job, type Queue } from 'bullmq';
import { InjectQueue } from '@nestjs/bullmq';
import { TASK_QUEUE_NAME, type TaskJobData, type TaskPayload } from '@wegent-codex/contracts';
import { EventLogRepository } from '@wegent-codex/event-log';
import { checkJobData, PARK_DELAY_MS, PayloadVaultError, TaskQueueService, type SubtaskIds } from '@wegent-codex/queue';
import { LOGGER, type Logger } from '@wegent-codex/runtime';
import { RunEventEmitter } from './event-emitter';
import { unreadableJobData } from './guarded-worker';
import { JobProgressReporter } from './job-progress';
import { RunRegistry } from './run-registry';
import { RunEnding, type RunResult } from './run-outcome';
import { TaskRunner } from './task-runner';
import { WorkerLiveness } from './worker-liveness';

/**
 * The BullMQ processor of the Codex queue: decides whether a job may run now (its task's lane,
 * cancels, a previous attempt that died), runs it, and always leaves the lane so the task's next
 * subtask can start. It never throws except to re-park a job (DelayedError) or to fail a job whose
 * data cannot be trusted (UnrecoverableError, after that subtask's one terminal event).
 */
@Injectable()
export class CodexRunProcessor {
  constructor(
    // Kept for the constructor's shape (specs build the processor by hand); the queue rules are TaskQueueService's.
    @InjectQueue(TASK_QUEUE_NAME) _queue: Queue<TaskJobData>,
    private readonly tasks: TaskQueueService,
    private readonly events: EventLogRepository,
    private readonly runner: TaskRunner,
    private readonly liveness: WorkerLiveness,
    private readonly registry: RunRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async process(job: Job<TaskJobData>, token?: string): Promise<RunResult> {
    const check = checkJobData(job.id, job.data, (ids) => this.tasks.vault.refOf(ids), unreadableJobData(job));
    if (!check.ok) return this.refuse(job, check.ids, check.reason);
    const { ids, data } = check;
    const { task_id: taskId, subtask_id: subtaskId } = ids;
    const jobId = job.id!;
    const log = this.logger.child({ task_id: taskId, subtask_id: subtaskId, job_id: jobId, attempt: job.attemptsStarted });

    // The lane and this subtask's state in one round trip: independent reads, used only once the
    // job is admitted (they are on the way from enqueue to Codex's spawn). A payload that cannot
    // be read only matters when it is used; any other failed read fails the job as before.
    const reads = Promise.all([
      this.events.terminalOf(taskId, subtaskId),
      this.tasks.cancels.isRequested(taskId, subtaskId),
      this.events.lastSeq(taskId, subtaskId),
      this.loadPayload(ids, data).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
    ]).then(
      (values) => ({ values }),
      (error: unknown) => ({ failed: error }),
    );
    if (!(await this.tasks.admit(taskId, jobId))) {
      log.debug('parked behind the running subtask of its task');
      await job.moveToDelayed(Date.now() + PARK_DELAY_MS, token);
      throw new DelayedError();
    }

    const progress = new JobProgressReporter(job, log);
    const emitter = new RunEventEmitter(this.events, { ...ids, attempt: job.attemptsStarted }, progress.observe);
    try {
      const read = await reads;
      if ('failed' in read) throw read.failed;
      // Decided in this order.
      const [terminal, cancelRequested, lastSeq, payload] = read.values;
      if (terminal) return 'already finished';
      if (cancelRequested) {
        await emitter.emitAll(RunEnding.cancelled('queued', data.protocol));
        return 'cancelled before start';
      }
      if (lastSeq > 0) {
        // A previous attempt started this run and its worker died (the job stalled before the
        // relay's lost-worker watcher ended it). Codex runs are not idempotent, so the run is not
        // repeated: it ends with one clear FAILED.
        log.warn('previous attempt of this job was lost with its worker');
        await emitter.emitAll(RunEnding.workerLost(data.protocol));
        return 'worker lost';
      }
      if ('error' in payload) throw payload.error;
      const loaded = payload.value;
      if (typeof loaded === 'string' || !loaded) {
        const reason = loaded ?? 'task payload expired or missing';
        if (loaded) log.warn({ reason }, 'stored payload refused');
        // A 2026 run says so, or its terminal would be folded as a 2025 callback.
        const context = {
          task_title: '',
          subtask_title: '',
          task_type: '',
          git_repo: '',
          git_domain: '',
          branch_name: '',
          prompt: '',
          protocol: '2026' as const,
        };
        await emitter.emit({ type: 'status', phase: 'started', ...(data.protocol === '2026' && { context }) });
        await emitter.emitAll(RunEnding.noAgent(ids, reason));
        return 'payload missing';
      }
      return await this.runTracked(job, loaded, emitter);
    } finally {
      await emitter.flush();
      await progress.flush();
      await this.release(ids, jobId);
    }
  }

  /**
   * A job whose data cannot be trusted: its subtask (when the job id names one) ends with one
   * terminal event, it leaves its lane, its own stored payload is dropped, and BullMQ fails it
   * with the reason, without retries. Nothing named by the data itself is touched.
   */
  private async refuse(job: Job, ids: SubtaskIds | null, reason: string): Promise<never> {
    this.logger.warn({ job_id: job.id, ...ids, reason }, 'job refused: its data cannot be trusted');
    if (ids) {
      try {
        const emitter = new RunEventEmitter(this.events, { ...ids, attempt: job.attemptsStarted });
        if (!(await this.events.terminalOf(ids.task_id, ids.subtask_id))) {
          if ((await this.events.lastSeq(ids.task_id, ids.subtask_id)) === 0) await emitter.emit({ type: 'status', phase: 'started' });
          await emitter.emitAll(RunEnding.noAgent(ids, `invalid job: ${reason}`));
        }
        await emitter.flush();
        await this.release(ids, job.id!);
      } catch (error) {
        this.logger.error(
          { job_id: job.id, ...ids, err: error instanceof Error ? error.message : String(error) },
          'could not record a refused job',
        );
      }
    }
    throw new UnrecoverableError(`invalid job: ${reason}`);
  }

  private async runTracked(job: Job<TaskJobData>, payload: TaskPayload, emitter: RunEventEmitter): Promise<RunResult> {
    const cancel = new AbortController();
    const shutdown = new AbortController();
    const run = this.runner.run({
      payload,
      emitter,
      attempt: job.attemptsStarted,
      jobId: job.id!,
      cancel: cancel.signal,
      shutdown: shutdown.signal,
      traceparent: job.data.traceparent,
    });
    this.registry.add({ taskId: payload.task_id, subtaskId: payload.subtask_id, jobId: job.id!, cancel, shutdown, done: run });
    // A 2026 run is alive with this process (its heartbeats stop, and it ends as executor_crash, if we die).
    const heartbeats = payload.protocol === '2026' ? this.tasks.heartbeats : undefined;
    await heartbeats?.claim(payload.task_id, payload.subtask_id, this.liveness.id);
    try {
      return await run;
    } finally {
      this.registry.remove(payload.task_id, payload.subtask_id);
      await heartbeats?.remove(payload.task_id, payload.subtask_id).catch(() => undefined);
    }
  }

  /** The inline payload, else this subtask's stored one; a string says why the stored one is unusable. */
  private async loadPayload(ids: SubtaskIds, data: TaskJobData): Promise<TaskPayload | string | null> {
    if (data.payload) return data.payload;
    if (!data.payloadRef) return null;
    try {
      return await this.tasks.vault.load(ids);
    } catch (error) {
      if (error instanceof PayloadVaultError) return error.message;
      throw error;
    }
  }

  /** The job is over (TaskQueueService.release: lane, next subtask, stored payload). */
  async release(ids: SubtaskIds, jobId: string): Promise<void> {
    await this.tasks.release(ids, jobId);
  }
}
