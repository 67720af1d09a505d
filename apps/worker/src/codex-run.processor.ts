import { Inject, Injectable } from '@nestjs/common';
import { DelayedError, type Job, type Queue } from 'bullmq';
import { InjectQueue } from '@nestjs/bullmq';
import { TASK_QUEUE_NAME, taskJobDataSchema, type TaskJobData, type TaskPayload } from '../../../libs/contracts/src';
import { EventLogRepository } from '../../../libs/event-log/src';
import { PARK_DELAY_MS, TaskQueueService } from '../../../libs/queue/src';
import { LOGGER, type Logger } from '../../../libs/runtime/src';
import { RunEventEmitter } from './event-emitter';
import { RunRegistry } from './run-registry';
import { TaskRunner } from './task-runner';

const FINISHED_STATES = new Set(['completed', 'failed', 'unknown']);

/**
 * The BullMQ processor of the Codex queue: decides whether a job may run now (its task's lane,
 * cancels, a previous attempt that died), runs it, and always leaves the lane so the task's next
 * subtask can start. It never throws except to re-park a job (DelayedError).
 */
@Injectable()
export class CodexRunProcessor {
  constructor(
    @InjectQueue(TASK_QUEUE_NAME) private readonly queue: Queue<TaskJobData>,
    private readonly tasks: TaskQueueService,
    private readonly events: EventLogRepository,
    private readonly runner: TaskRunner,
    private readonly registry: RunRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async process(job: Job<TaskJobData>, token?: string): Promise<string> {
    const data = taskJobDataSchema.parse(job.data);
    const { task_id: taskId, subtask_id: subtaskId } = data;
    const jobId = job.id!;
    const log = this.logger.child({ task_id: taskId, subtask_id: subtaskId, job_id: jobId, attempt: job.attemptsStarted });

    if (!(await this.mayRunNow(taskId, jobId))) {
      log.debug('parked behind the running subtask of its task');
      await job.moveToDelayed(Date.now() + PARK_DELAY_MS, token);
      throw new DelayedError();
    }

    const emitter = new RunEventEmitter(this.events, { task_id: taskId, subtask_id: subtaskId, attempt: job.attemptsStarted });
    try {
      if (await this.events.terminalOf(taskId, subtaskId)) return 'already finished';
      if (await this.tasks.cancels.isRequested(taskId, subtaskId)) {
        await emitter.emit({ type: 'cancelled', stage: 'queued' });
        return 'cancelled before start';
      }
      if ((await this.events.lastSeq(taskId, subtaskId)) > 0) {
        // A previous attempt started this run and its worker died (the job stalled). Codex runs
        // are not idempotent, so the run is not repeated: it ends with one clear FAILED.
        log.warn('previous attempt of this job was lost with its worker');
        await emitter.emit({
          type: 'error',
          kind: 'stream',
          message: 'Error processing response: the worker running this task was lost (process died or lost its Redis lock); the run was not repeated',
          error: 'worker lost',
        });
        return 'worker lost';
      }
      const payload = await this.loadPayload(data);
      if (!payload) {
        await emitter.emit({ type: 'status', phase: 'started' });
        await emitter.emit({ type: 'error', kind: 'init', message: `[task_id: ${taskId}.${subtaskId}] Unable to get or create agent`, error: 'task payload expired or missing' });
        return 'payload missing';
      }
      return await this.runTracked(job, payload, emitter);
    } finally {
      await emitter.flush();
      await this.release(taskId, jobId, data.payloadRef);
    }
  }

  private async runTracked(job: Job<TaskJobData>, payload: TaskPayload, emitter: RunEventEmitter): Promise<string> {
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
    try {
      return await run;
    } finally {
      this.registry.remove(payload.task_id, payload.subtask_id);
    }
  }

  /** Only the head of a task's lane runs; a dead or finished head is dropped from the lane. */
  private async mayRunNow(taskId: number, jobId: string): Promise<boolean> {
    for (let guard = 0; guard < 100; guard++) {
      const position = await this.tasks.lane.join(taskId, jobId);
      if (position === 0) return true;
      const head = await this.tasks.lane.head(taskId);
      if (!head || head === jobId) return true;
      const headJob = await this.queue.getJob(head);
      const state = headJob ? await headJob.getState() : 'unknown';
      if (!FINISHED_STATES.has(state)) {
        if (state === 'delayed') await this.tasks.promote(head);
        return false;
      }
      await this.tasks.lane.leave(taskId, head);
    }
    return false;
  }

  private async loadPayload(data: TaskJobData): Promise<TaskPayload | null> {
    if (data.payload) return data.payload;
    return data.payloadRef ? this.tasks.vault.load(data.payloadRef) : null;
  }

  /** The job is over: leave the lane, wake the task's next subtask, drop the stored payload. */
  async release(taskId: number, jobId: string, payloadRef?: string): Promise<void> {
    const next = await this.tasks.lane.leave(taskId, jobId);
    if (next) await this.tasks.promote(next);
    if (payloadRef) await this.tasks.vault.drop(payloadRef).catch(() => undefined);
  }
}
