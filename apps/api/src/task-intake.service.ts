import { Inject, Injectable } from '@nestjs/common';
import { isTraceparent, taskPayloadSchema, type TaskPayload } from '../../../libs/contracts/src';
import { TaskQueueService, type CancelOutcome, type EnqueueResult } from '../../../libs/queue/src';
import { LOGGER, type Logger } from '../../../libs/runtime/src';
import { Deadline } from './api-options';
import { ApiError, issuesOf, withDeadline } from './http/api-error';

/**
 * The intake shared by the executor-compatible and the native routes: validate the whole payload
 * first (nothing touches Redis before it passed), then hand it to the queue. Logs carry ids only.
 */
@Injectable()
export class TaskIntakeService {
  private readonly logger: Logger;

  constructor(
    private readonly queue: TaskQueueService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'api' });
  }

  parse(body: unknown, requestId: string): TaskPayload {
    const parsed = taskPayloadSchema.safeParse(body);
    if (parsed.success) return parsed.data;
    const issues = issuesOf(parsed.error);
    const ids = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    this.logger.info(
      { request_id: requestId, task_id: idOrUndefined(ids.task_id), subtask_id: idOrUndefined(ids.subtask_id), issues: issues.map((i) => i.path) },
      'task payload rejected',
    );
    throw ApiError.badRequest('invalid task payload', issues);
  }

  async submit(body: unknown, requestId: string, traceparent?: string): Promise<EnqueueResult> {
    const payload = this.parse(body, requestId);
    // A malformed trace context is ignored rather than stored (and later sent with callbacks).
    return withDeadline(this.queue.enqueue(payload, isTraceparent(traceparent) ? { traceparent } : {}), Deadline.enqueueMs, 'enqueue');
  }

  async cancel(taskId: number): Promise<CancelOutcome> {
    return withDeadline(this.queue.cancelTask(taskId), Deadline.cancelMs, 'cancel');
  }
}

const idOrUndefined = (value: unknown): number | undefined => (Number.isSafeInteger(value) ? (value as number) : undefined);
