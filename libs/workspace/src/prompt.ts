import { join } from 'node:path';
import type { Attachment } from '@wegent-codex/contracts';

/**
 * The prompt text the model sees (docs/protocol/wegent-protocol.md §11.9, §11.10). Every string here is
 * must-match, byte for byte.
 */

export interface DownloadedAttachment {
  attachment: Attachment;
  /** Where the file was written (shown to the model). */
  localPath: string;
}

export interface FailedAttachment {
  attachment: Attachment;
  /** One of `attachmentError`'s texts; missing → `Unknown error`. */
  error?: string | null;
}

export interface AttachmentResults {
  downloaded: readonly DownloadedAttachment[];
  failed: readonly FailedAttachment[];
}

/** Per-file error texts of the original downloader. */
export const attachmentError = {
  missingFields: 'Missing required fields (id or original_filename)',
  http: (status: number) => `HTTP ${status}`,
  timeout: 'Download timeout',
  request: (message: string) => `Request error: ${message}`,
  io: (message: string) => `IO error: ${message}`,
  /** ClaudeCode counts every attachment failed when the task has no token (its log line's words). */
  noToken: 'No auth token available, cannot download attachments',
} as const;

/** `<work dir>/<task_id>:executor:attachments/<subtask_id>/` (the colons are part of the name). */
export function attachmentDir(workDir: string, taskId: number, subtaskId: number): string {
  return join(workDir, `${taskId}:executor:attachments`, String(subtaskId));
}

const KIB = 1024;
const MIB = 1024 * 1024;

/**
 * `x` with one decimal, as Python's `f"{x:.1f}"`: correctly rounded from the exact binary value,
 * ties to even. JavaScript's toFixed rounds ties up, and ties at one decimal are exactly the
 * values with a fraction of .25 or .75 (1280 / 1024 = 1.25 → `1.2`, not `1.3`).
 */
function oneDecimal(x: number): string {
  const isTie = Number.isInteger(x * 4) && (x * 4) % 2 !== 0;
  if (!isTie) return x.toFixed(1);
  const low = Math.floor(x * 10);
  const tenths = low % 2 === 0 ? low : low + 1;
  return `${Math.floor(tenths / 10)}.${tenths % 10}`;
}

/** `2.5 MB`, `1.2 KB`, `512 bytes` (1 MB = 1048576 bytes, 1 KB = 1024 bytes). */
export function formatSize(bytes: number): string {
  if (bytes >= MIB) return `${oneDecimal(bytes / MIB)} MB`;
  if (bytes >= KIB) return `${oneDecimal(bytes / KIB)} KB`;
  return `${bytes} bytes`;
}

/**
 * The file name an attachment is stored under: the base name of `original_filename` (after the
 * last `/` or `\`), control characters replaced by `_`. Null when nothing usable is left
 * (empty, `.`, `..`, or a NUL anywhere) — the download then fails with `missingFields`.
 */
export function safeAttachmentName(original: string | null | undefined): string | null {
  if (typeof original !== 'string' || original.includes('\u0000')) return null;
  const base = original.split(/[/\\]/).pop() ?? '';
  const name = base.replace(/[\u0001-\u001f\u007f]/g, '_');
  return name === '' || name === '.' || name === '..' ? null : name;
}

const MARKER = /\[attachment:([0-9]+)\]/g;
const text = (value: string | null | undefined, fallback: string) => (value === null || value === undefined ? fallback : value);

/**
 * Rewrites `[attachment:<id>]` markers and appends the failed / available lists (§11.9). The
 * prompt is returned unchanged when no attachment was processed at all.
 */
export function rewriteAttachments(prompt: string, results: AttachmentResults): string {
  const { downloaded, failed } = results;
  if (downloaded.length === 0 && failed.length === 0) return prompt;

  // Later entries win, as in the original's id → attachment dict.
  const pathById = new Map(downloaded.map((d) => [String(d.attachment.id), d.localPath]));
  const failedIds = new Set(failed.map((f) => String(f.attachment.id)));
  let out = prompt.replace(MARKER, (_match, digits: string) => {
    const id = BigInt(digits).toString();
    const path = pathById.get(id);
    if (path !== undefined) return `[Attachment downloaded to: ${path}]`;
    return failedIds.has(id) ? `[Attachment ${id} unavailable - download failed]` : `[Attachment ${id} unavailable]`;
  });

  if (failed.length > 0) {
    out += '\n\n\u26A0\uFE0F The following attachments failed to download and are unavailable:';
    for (const { attachment, error } of failed) {
      out += `\n- ${text(attachment.original_filename, 'unknown')} (Error: ${text(error, 'Unknown error')})`;
    }
  }
  if (downloaded.length > 0) {
    out += '\n\n\u{1F4CE} Available attachments:';
    for (const { attachment, localPath } of downloaded) {
      const name = text(attachment.original_filename, 'unknown');
      const mime = text(attachment.mime_type, 'unknown');
      out += `\n- ${name} (${mime}, ${formatSize(attachment.file_size ?? 0)}): ${localPath}`;
    }
  }
  return out;
}

/** `<prompt>\nCurrent working directory: <cwd>\n project url:<git_url>` (§11.10). */
export function appendPromptSuffix(prompt: string, cwd: string, gitUrl: string | null | undefined): string {
  return `${prompt}\nCurrent working directory: ${cwd}\n project url:${gitUrl ?? ''}`;
}
