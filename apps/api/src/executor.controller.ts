import { Body, Controller, Headers, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiError } from './http/api-error';
import type { HttpResponse } from './http/http-types';
import { requestIdOf } from './http/request-context';
import { parseParams, taskParamsSchema } from './request-params';
import { TaskIntakeService } from './task-intake.service';

/**
 * Drop-in for the Wegent executor's HTTP API (wegent-protocol.md §3), so executor_manager can
 * post to this service unchanged. Answer texts are byte-for-byte the executor's, including the
 * two spaces in "Task execution status  : RUNNING" and the literal ".-1" in cancel answers.
 */
@Controller('api/tasks')
export class ExecutorController {
  constructor(private readonly intake: TaskIntakeService) {}

  /** Enqueues and answers at once; the run's progress arrives as callbacks. */
  @Post('execute')
  @HttpCode(200)
  async execute(
    @Body() body: unknown,
    @Headers('traceparent') traceparent: string | undefined,
    @Res({ passthrough: true }) res: HttpResponse,
  ) {
    const { task_id, subtask_id } = await this.intake.submit(body, requestIdOf(res), traceparent);
    return { task_id, subtask_id, status: 'RUNNING', message: 'Task execution status  : RUNNING', progress: 50 };
  }

  /** 200 when anything of the task was waiting or running (its CANCELLED callback follows); 400 otherwise. */
  @Post('cancel')
  @HttpCode(200)
  async cancel(@Query() query: Record<string, unknown>) {
    const { task_id } = parseParams(taskParamsSchema, { task_id: query.task_id }, 'query parameter');
    const outcome = await this.intake.cancel(task_id);
    if (outcome.cancelled.length === 0) throw new ApiError(400, { detail: `[task_id: ${task_id}.-1] No session found` });
    return { message: `[task_id: ${task_id}.-1] Task cancelled` };
  }
}
