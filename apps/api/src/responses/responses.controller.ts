import { Body, Controller, Headers, HttpCode, Post, Res } from '@nestjs/common';
import { attachmentSyncRequestSchema } from '@wegent-codex/contracts';
import { ApiError, issuesOf } from '../http/api-error';
import type { HttpResponse } from '../http/http-types';
import { requestIdOf } from '../http/request-context';
import { TaskIntakeService } from '../task-intake.service';
import { AttachmentSyncService } from './attachment-sync.service';

/**
 * Today's executor routes (docs/protocol/wegent-protocol-2026.md §2, §7.1). A subtask taken here
 * runs under the 2026 protocol: its callbacks are Responses-API events.
 */
@Controller('v1')
export class ResponsesController {
  constructor(
    private readonly intake: TaskIntakeService,
    private readonly attachments: AttachmentSyncService,
  ) {}

  /**
   * Enqueues and answers at once (§2.13). executor_manager re-sends a dispatch that timed out:
   * the same subtask again is the same job, answered the same way.
   */
  @Post('responses')
  @HttpCode(200)
  async responses(
    @Body() body: unknown,
    @Headers('traceparent') traceparent: string | undefined,
    @Res({ passthrough: true }) res: HttpResponse,
  ) {
    const { subtask_id } = await this.intake.submitResponses(body, requestIdOf(res), traceparent);
    return { id: `resp_${subtask_id}`, status: 'queued', message: 'Task execution status: RUNNING' };
  }

  /** Downloads the listed attachments into the task's folder; per-item failures are in the answer, not the status. */
  @Post('attachments/sync')
  @HttpCode(200)
  async syncAttachments(@Body() body: unknown) {
    const parsed = attachmentSyncRequestSchema.safeParse(body);
    if (!parsed.success) throw ApiError.badRequest('invalid attachment sync request', issuesOf(parsed.error));
    return this.attachments.sync(parsed.data);
  }
}
