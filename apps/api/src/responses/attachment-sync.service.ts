import { join, resolve } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { AttachmentSyncRequest, Config } from '@wegent-codex/contracts';
import { CONFIG, LOGGER, type Logger } from '@wegent-codex/runtime';
import { backendBaseUrl, downloadAttachments } from '@wegent-codex/workspace';

/** One item of the sync answer (docs/protocol/wegent-protocol-2026.md §7.1). */
export interface SyncedAttachment {
  id: number;
  status: 'success' | 'failed';
  original_filename: string | null;
  local_path?: string;
  error?: string;
  mime_type: string | null;
  file_size: number | null;
  subtask_id: string | null;
}

export interface AttachmentSyncAnswer {
  task_id: string;
  subtask_id: string;
  attachments: SyncedAttachment[];
  success_count: number;
  failed_count: number;
}

/**
 * `POST /v1/attachments/sync` (§7.1): the backend stages a message's attachments before it
 * dispatches the turn. The files go through the same downloads module as a run's own downloads,
 * into the task's folder, where the run (libs/workspace `splitPresynced`) takes them as they are.
 * The api process therefore needs the workers' WORKSPACE_ROOT (a shared volume when they run apart).
 */
@Injectable()
export class AttachmentSyncService {
  private readonly logger: Logger;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'api' });
  }

  async sync(request: AttachmentSyncRequest): Promise<AttachmentSyncAnswer> {
    const { task_id: taskId, subtask_id: subtaskId } = request;
    const attachments = request.attachments ?? [];
    const result = await downloadAttachments({
      attachments,
      authToken: request.auth_token,
      apiDomain: backendBaseUrl(this.config.TASK_API_DOMAIN, request.backend_url),
      workDir: join(resolve(this.config.WORKSPACE_ROOT), String(taskId)),
      taskId,
      subtaskId,
      logger: this.logger,
    });
    const pathOf = new Map(result.downloaded.map((d) => [d.attachment, d.localPath]));
    const errorOf = new Map(result.failed.map((f) => [f.attachment, f.error]));
    const items = attachments.map((a): SyncedAttachment => {
      const localPath = pathOf.get(a);
      const base = {
        id: a.id,
        original_filename: a.original_filename ?? null,
        mime_type: a.mime_type ?? null,
        file_size: a.file_size ?? null,
        subtask_id: a.subtask_id === null || a.subtask_id === undefined ? null : String(a.subtask_id),
      };
      return localPath
        ? { ...base, status: 'success', local_path: localPath }
        : { ...base, status: 'failed', error: errorOf.get(a) ?? 'Unknown error' };
    });
    const success = items.filter((i) => i.status === 'success').length;
    return {
      task_id: String(taskId),
      subtask_id: String(subtaskId),
      attachments: items,
      success_count: success,
      failed_count: items.length - success,
    };
  }
}
