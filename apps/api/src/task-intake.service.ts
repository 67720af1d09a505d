import { Inject, Injectable } from '@nestjs/common';
import { isTraceparent, taskPayloadSchema, type TaskPayload } from '@wegent-codex/contracts';
import { TaskQueueService, type CancelOutcome, type EnqueueResult } from '@wegent-codex/queue';
import { LOGGER, type Logger } from '@wegent-codex/runtime';
import { Deadline } from './api-options';
import { ApiError, issuesOf, withDeadline } from './http/api-error';
import { parseResponsesBody } from './responses/responses-payload';

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
      {
        request_id: requestId,
        task_id: idOrUndefined(ids.task_id),
        subtask_id: idOrUndefined(ids.subtask_id),
        issues: issues.map((i) => i.path),
      },
      'task payload rejected',
    );
    throw ApiError.badRequest('invalid task payload', issues);
  }

  async submit(body: unknown, requestId: string, traceparent?: string): Promise<EnqueueResult> {
    const payload = this.parse(body, requestId);
    // A malformed trace context is ignored rather than stored (and later sent with callbacks).
    return withDeadline(this.queue.enqueue(payload, isTraceparent(traceparent) ? { traceparent } : {}), Deadline.enqueueMs, 'enqueue');
  }

  /**
   * A 2026 Responses body (docs/protocol/wegent-protocol-2026.md §2), mapped to the task payload
   * and checked against the payload schema too, so the worker never sees a shape it does not know.
   */
  parseResponses(body: unknown, requestId: string): TaskPayload {
    const parsed = parseResponsesBody(body);
    const issues = parsed.ok ? [] : issuesOf(parsed.error).map((i) => ({ ...i, path: [parsed.prefix, i.path].filter(Boolean).join('.') }));
    if (parsed.ok) {
      const payload = taskPayloadSchema.safeParse(parsed.payload);
      if (payload.success) return payload.data;
      issues.push(...issuesOf(payload.error));
    }
    const root = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const ids = typeof root.metadata === 'object' && root.metadata !== null ? (root.metadata as Record<string, unknown>) : root;
    this.logger.info(
      {
        request_id: requestId,
        task_id: idOrUndefined(ids.task_id),
        subtask_id: idOrUndefined(ids.subtask_id),
        issues: issues.map((i) => i.path),
      },
      'responses body rejected',
    );
    throw ApiError.badRequest('invalid responses body', issues);
  }

  async submitResponses(body: unknown, requestId: string, traceparent?: string): Promise<EnqueueResult> {
    const payload = this.parseResponses(body, requestId);
    // executor_manager gives a dispatch 10 s: answer (503) before it gives up.
    return withDeadline(
      this.queue.enqueue(payload, isTraceparent(traceparent) ? { traceparent } : {}),
      Deadline.responsesEnqueueMs,
      'enqueue',
    );
  }

  /** Cancels the task's waiting and running subtasks, or only `subtaskId` when given. */
  async cancel(taskId: number, subtaskId?: number): Promise<CancelOutcome> {
    return withDeadline(this.queue.cancelTask(taskId, subtaskId), Deadline.cancelMs, 'cancel');
  }
}

const idOrUndefined = (value: unknown): number | undefined => (Number.isSafeInteger(value) ? (value as number) : undefined);
