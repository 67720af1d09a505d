import { randomUUID } from 'node:crypto';
import { open, realpath, rename, rm, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, sep } from 'node:path';
import type { Attachment } from '@wegent-codex/contracts';
import { realDirectory } from '../safe-paths';
import { attachmentDir, attachmentError, safeAttachmentName, type DownloadedAttachment, type FailedAttachment } from '../prompt';
import { backendGet, backendUrl, declaredLength, errorText, TransferError, transferError, type DownloadLogger } from './backend-http';

/**
 * Downloads the payload's attachments into `<task dir>/<task_id>:executor:attachments/<subtask_id>/`
 * (docs/protocol/wegent-protocol.md §11.9 puts it in the work dir; here it is the task directory, so it is
 * never inside the clone). A task's commands may have replaced any part of that path by a
 * symlink; none is followed (realDirectory), so downloads never land outside the task. Never throws: each failure is a result with the original's error
 * text, and the task runs on (rewriteAttachments tells the model what is missing).
 *
 * File names: only the safe base name of `original_filename` is used (safeAttachmentName). When
 * two attachments of one call share a name, the first keeps it and the later ones become
 * `name (2).ext`, `name (3).ext`, … — assigned by position in the list, whether or not the
 * earlier download succeeded, so a retried job writes the same paths. A file left by an earlier
 * attempt under the same name is replaced.
 *
 * Each file is streamed to a hidden `.<id>.<uuid>.part` file and renamed into place once
 * complete; on any failure the part file is removed, so a name never holds a partial file.
 */

export const ATTACHMENT_TIMEOUT_MS = 300_000;
/** Generous on purpose: the backend already limits uploads; this only stops a runaway stream. */
export const DEFAULT_ATTACHMENT_MAX_BYTES = 1024 * 1024 * 1024;

export interface DownloadAttachmentsOptions {
  /** The payload's `attachments`. */
  attachments: readonly Attachment[] | null | undefined;
  /** The payload's `auth_token`; without it nothing is downloaded. Never logged. */
  authToken: string | null | undefined;
  /** TASK_API_DOMAIN. */
  apiDomain: string;
  /** WORKSPACE_ROOT/<task_id> (created by the worker; the attachment folder goes below it). */
  workDir: string;
  taskId: number;
  subtaskId: number;
  logger: DownloadLogger;
  signal?: AbortSignal;
  /** Idle timeout per file: connect, headers, and every gap between two chunks. */
  timeoutMs?: number;
  maxBytes?: number;
}

export interface AttachmentFailure extends FailedAttachment {
  error: string;
}

export interface AttachmentDownloads {
  /** In payload order; feed both lists to rewriteAttachments. */
  downloaded: DownloadedAttachment[];
  failed: AttachmentFailure[];
}

export async function downloadAttachments(options: DownloadAttachmentsOptions): Promise<AttachmentDownloads> {
  const { logger, signal } = options;
  const attachments = options.attachments ?? [];
  const result: AttachmentDownloads = { downloaded: [], failed: [] };
  if (attachments.length === 0) return result;
  const authToken = options.authToken?.trim();
  if (!authToken) {
    // Failed, as ClaudeCode counts them, so the prompt tells the model (and the answer the user)
    // which files are missing and why, instead of dropping them without a word.
    logger.warn(
      { task_id: options.taskId, subtask_id: options.subtaskId, count: attachments.length },
      'no auth_token in the task payload: attachments not downloaded',
    );
    result.failed.push(...attachments.map((attachment) => ({ attachment, error: attachmentError.noToken })));
    return result;
  }

  const dir = attachmentDir(options.workDir, options.taskId, options.subtaskId);
  const dirError = await realDirectory(options.workDir, dir).then(
    () => null,
    (error: unknown) => attachmentError.io(errorText(error)),
  );
  const names = fileNames(attachments);
  const timeoutMs = options.timeoutMs ?? ATTACHMENT_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_ATTACHMENT_MAX_BYTES;

  for (const [index, attachment] of attachments.entries()) {
    const name = names[index];
    let error: string;
    if (!attachment.id || name === null) error = attachmentError.missingFields;
    else if (dirError) error = dirError;
    else if (signal?.aborted) error = transferError.cancelled().message;
    else {
      const localPath = join(dir, name);
      const url = backendUrl(options.apiDomain, `/api/attachments/${attachment.id}/executor-download`);
      try {
        const bytes = await backendGet(url, { authToken, timeoutMs, signal }, (body, response) =>
          saveBody(body, response, dir, localPath, attachment.id, maxBytes),
        );
        result.downloaded.push({ attachment, localPath });
        logger.info({ attachment_id: attachment.id, path: localPath, bytes }, 'attachment downloaded');
        continue;
      } catch (thrown) {
        error = thrown instanceof TransferError ? thrown.message : errorText(thrown);
      }
    }
    result.failed.push({ attachment, error });
    logger.warn({ attachment_id: attachment.id, error }, 'attachment not downloaded');
  }
  logger.info(
    { task_id: options.taskId, subtask_id: options.subtaskId, downloaded: result.downloaded.length, failed: result.failed.length },
    'attachments processed',
  );
  return result;
}

/**
 * The file name of each attachment (null: no usable `original_filename`), unique within the
 * call: repeats become `stem (2).ext`, `stem (3).ext`, …
 */
export function fileNames(attachments: readonly Attachment[]): (string | null)[] {
  const taken = new Set<string>();
  return attachments.map((attachment) => {
    const base = attachment.original_filename ? safeAttachmentName(attachment.original_filename) : null;
    if (base === null) return null;
    const ext = extname(base);
    const stem = base.slice(0, base.length - ext.length);
    let name = base;
    for (let n = 2; taken.has(name); n += 1) name = `${stem} (${n})${ext}`;
    taken.add(name);
    return name;
  });
}

/** Streams the body into a part file, then renames it to `localPath`; returns the byte count. */
async function saveBody(
  body: AsyncIterable<Uint8Array>,
  response: Response,
  dir: string,
  localPath: string,
  id: number,
  maxBytes: number,
): Promise<number> {
  if (declaredLength(response) > maxBytes) throw transferError.tooLarge(maxBytes);
  const part = join(dir, `.${id}.${randomUUID()}.part`);
  const file = await open(part, 'wx', 0o644).catch((error: unknown) => {
    throw transferError.io(error);
  });
  let closed = false;
  try {
    let size = 0;
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > maxBytes) throw transferError.tooLarge(maxBytes);
      await file.write(chunk).catch((error: unknown) => {
        throw transferError.io(error);
      });
    }
    closed = true;
    await file.close().catch((error: unknown) => {
      throw transferError.io(error);
    });
    await rename(part, localPath).catch((error: unknown) => {
      throw transferError.io(error);
    });
    return size;
  } catch (error) {
    if (!closed) await file.close().catch(() => undefined);
    await rm(part, { force: true }).catch(() => undefined);
    throw error;
  }
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpeg', '.jpg', '.gif', '.webp', '.bmp']);

/**
 * Local paths of the downloaded images (png/jpeg/jpg/gif/webp/bmp by the stored file's
 * extension, any case), in order: the Codex `localImage` inputs sent after the prompt text.
 */
export function imageInputs(downloaded: readonly DownloadedAttachment[]): string[] {
  return downloaded.map((d) => d.localPath).filter((path) => IMAGE_EXTENSIONS.has(extname(path).toLowerCase()));
}

export interface PresyncedSplit {
  /** Files the backend's pre-sync (`POST /v1/attachments/sync`) already put in this task's folder. */
  presynced: DownloadedAttachment[];
  /** Reported failed by the pre-sync: the backend already told the model (docs/protocol/wegent-protocol-2026.md §2.5). */
  failedBefore: Attachment[];
  /** Everything else: download now. */
  toDownload: Attachment[];
}

/**
 * Sorts 2026 attachments (docs/protocol/wegent-protocol-2026.md §2.9): an item whose `local_path` is a regular
 * file inside `taskDir` is used where it is; one marked `failed` is left alone; the rest is
 * downloaded. A `local_path` anywhere else is never trusted (the body is not).
 */
export async function splitPresynced(attachments: readonly Attachment[] | null | undefined, taskDir: string): Promise<PresyncedSplit> {
  const split: PresyncedSplit = { presynced: [], failedBefore: [], toDownload: [] };
  if (!attachments?.length) return split; // no file-system call (a thread-pool hop) for nothing
  const root = await realpath(taskDir).catch(() => null);
  for (const attachment of attachments ?? []) {
    if (attachment.status === 'failed') {
      split.failedBefore.push(attachment);
      continue;
    }
    const path = attachment.local_path;
    const real = root && typeof path === 'string' && isAbsolute(path) ? await realpath(path).catch(() => null) : null;
    const rel = real && root ? relative(root, real) : '..';
    const inside = rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
    if (
      real &&
      inside &&
      (await stat(real).then(
        (info) => info.isFile(),
        () => false,
      ))
    )
      split.presynced.push({ attachment, localPath: real });
    else split.toDownload.push(attachment);
  }
  return split;
}
