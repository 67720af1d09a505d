import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { jobIdFor, TASK_QUEUE_NAME, type Config, type StoredEvent, type TaskJobData } from '@wegent-codex/contracts';
import { EventLogRepository, CallbackFolder, type SubtaskView } from '@wegent-codex/event-log';
import { CONFIG } from '@wegent-codex/runtime';
import { Deadline } from './api-options';
import { ApiError, withDeadline } from './http/api-error';

/**
 * Read side of a subtask: its event log (the source of truth) and, before the first event, its
 * BullMQ job. A subtask with neither is unknown (404).
 */
@Injectable()
export class SubtaskQueryService {
  constructor(
    private readonly events: EventLogRepository,
    @InjectQueue(TASK_QUEUE_NAME) private readonly queue: Queue<TaskJobData>,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** The subtask folded from its events; `state: "queued"` while it has a job but no event yet. */
  async view(taskId: number, subtaskId: number): Promise<SubtaskView> {
    const log = await withDeadline(this.events.read(taskId, subtaskId), Deadline.readMs, 'read events');
    const folder = new CallbackFolder(taskId, subtaskId, {
      executorName: this.config.EXECUTOR_NAME,
      executorNamespace: this.config.EXECUTOR_NAMESPACE,
    });
    if (log.length === 0) {
      await this.assertExists(taskId, subtaskId);
      return { ...folder.view, state: 'queued' };
    }
    for (const stored of log) folder.apply(stored);
    return folder.view;
  }

  /** Events after `after` (exclusive), oldest first, at most `limit`. */
  async list(taskId: number, subtaskId: number, after = '0', limit?: number): Promise<StoredEvent[]> {
    const log = await withDeadline(this.events.read(taskId, subtaskId, after, limit), Deadline.readMs, 'read events');
    if (log.length === 0) await this.assertExists(taskId, subtaskId);
    return log;
  }

  async assertExists(taskId: number, subtaskId: number): Promise<void> {
    const [seq, job] = await withDeadline(
      Promise.all([this.events.lastSeq(taskId, subtaskId), this.queue.getJob(jobIdFor(taskId, subtaskId))]),
      Deadline.readMs,
      'look up subtask',
    );
    if (seq === 0 && !job) throw ApiError.notFound(`no job and no events for task ${taskId} subtask ${subtaskId}`);
  }
}
