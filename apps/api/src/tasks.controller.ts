import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { SubtaskView } from '@wegent-codex/event-log';
import { EventStreamService } from './event-stream.service';
import { ApiError } from './http/api-error';
import type { HttpRequest, HttpResponse } from './http/http-types';
import { requestIdOf } from './http/request-context';
import { eventsQuerySchema, lastEventIdSchema, parseParams, subtaskParamsSchema, taskParamsSchema } from './request-params';
import { SubtaskQueryService } from './subtask-query.service';
import { TaskIntakeService } from './task-intake.service';

/** The service's own API: enqueue, cancel, and read a subtask back from its event log. */
@Controller('v1/tasks')
export class TasksController {
  constructor(
    private readonly intake: TaskIntakeService,
    private readonly subtasks: SubtaskQueryService,
    private readonly streams: EventStreamService,
  ) {}

  /** 202 whether the job was created now or already existed (`created` tells which). */
  @Post()
  @HttpCode(202)
  async enqueue(
    @Body() body: unknown,
    @Headers('traceparent') traceparent: string | undefined,
    @Res({ passthrough: true }) res: HttpResponse,
  ) {
    const result = await this.intake.submit(body, requestIdOf(res), traceparent);
    return { job_id: result.jobId, task_id: result.task_id, subtask_id: result.subtask_id, state: result.state, created: result.created };
  }

  /** 200 with the subtasks now being cancelled; 404 when nothing of the task was waiting or running. */
  @Post(':taskId/cancel')
  @HttpCode(200)
  async cancel(@Param('taskId') taskId: string) {
    const { task_id } = parseParams(taskParamsSchema, { task_id: taskId }, 'path parameter');
    const outcome = await this.intake.cancel(task_id);
    if (outcome.cancelled.length === 0) {
      throw new ApiError(404, { error: `nothing of task ${task_id} is waiting or running`, task_id, cancelled: [] });
    }
    return outcome;
  }

  @Get(':taskId/subtasks/:subtaskId')
  async subtask(@Param('taskId') taskId: string, @Param('subtaskId') subtaskId: string): Promise<SubtaskView> {
    const ids = parseParams(subtaskParamsSchema, { task_id: taskId, subtask_id: subtaskId }, 'path parameter');
    return this.subtasks.view(ids.task_id, ids.subtask_id);
  }

  /**
   * JSON page of the log, or — with `Accept: text/event-stream` — a live SSE tail that resumes
   * after `Last-Event-ID` (or `after`).
   */
  @Get(':taskId/subtasks/:subtaskId/events')
  async events(
    @Param('taskId') taskId: string,
    @Param('subtaskId') subtaskId: string,
    @Query() query: Record<string, unknown>,
    @Req() req: HttpRequest,
    @Res() res: HttpResponse,
  ): Promise<void> {
    const ids = parseParams(subtaskParamsSchema, { task_id: taskId, subtask_id: subtaskId }, 'path parameter');
    const { after, limit } = parseParams(eventsQuerySchema, { after: query.after, limit: query.limit }, 'query parameter');

    if (String(req.headers.accept ?? '').includes('text/event-stream')) {
      const lastEventId = req.headers['last-event-id'];
      const resumeFrom =
        lastEventId === undefined ? after : parseParams(lastEventIdSchema, { 'Last-Event-ID': lastEventId }, 'header')['Last-Event-ID'];
      await this.streams.serve(res, ids.task_id, ids.subtask_id, resumeFrom ?? '0');
      return;
    }

    const log = await this.subtasks.list(ids.task_id, ids.subtask_id, after, limit);
    res.status(200).json({
      events: log.map(({ id, event }) => ({ id, ...event })),
      // The cursor for the next page: pass it back as `after`.
      last_id: log.at(-1)?.id ?? after ?? '0',
    });
  }
}
