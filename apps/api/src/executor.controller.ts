import { Body, Controller, Headers, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiError } from './http/api-error';
import type { HttpResponse } from './http/http-types';
import { requestIdOf } from './http/request-context';
import { cancelParamsSchema, parseParams } from './request-params';
import { TaskIntakeService } from './task-intake.service';

/**
 * Drop-in for the Wegent executor's HTTP API (docs/protocol/wegent-protocol.md §3), so executor_manager can
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

  /**
   * 2025 form (`?task_id=N`): 200 when anything of the task was waiting or running (its CANCELLED
   * callback follows), 400 otherwise. 2026 form (`&subtask_id=M`, docs/protocol/wegent-protocol-2026.md
   * §6.2): only that subtask; 200 `{status, task_id, subtask_id}`, 404 `{detail}` when it is not running.
   */
  @Post('cancel')
  @HttpCode(200)
  async cancel(@Query() query: Record<string, unknown>) {
    const subtask = query.subtask_id === '' ? undefined : query.subtask_id;
    const { task_id, subtask_id } = parseParams(cancelParamsSchema, { task_id: query.task_id, subtask_id: subtask }, 'query parameter');
    const outcome = await this.intake.cancel(task_id, subtask_id);
    if (subtask_id !== undefined) {
      if (outcome.cancelled.length === 0) throw new ApiError(404, { detail: `task ${task_id} is not running` });
      return { status: 'success', task_id: String(task_id), subtask_id: String(subtask_id) };
    }
    if (outcome.cancelled.length === 0) throw new ApiError(400, { detail: `[task_id: ${task_id}.-1] No session found` });
    return { message: `[task_id: ${task_id}.-1] Task cancelled` };
  }
}
