import { join } from 'node:path';
import { attachmentDir } from '../prompt';
import { realDirectory, replaceFile } from '../safe-paths';

/**
 * `input_image` parts of a 2026 input (docs/protocol/wegent-protocol-2026.md §2.5) on the same path
 * as image attachments: a data URL is written next to the task's attachments and given to Codex
 * as a `localImage`; an http(s) URL is passed to Codex as an `image` URL. Anything else is
 * reported, never fatal.
 */

const DATA_URL = /^data:(image\/(png|jpeg|jpg|gif|webp|bmp));base64,([A-Za-z0-9+/=\s]+)$/i;
const EXTENSION: Record<string, string> = { png: 'png', jpeg: 'jpg', jpg: 'jpg', gif: 'gif', webp: 'webp', bmp: 'bmp' };

export interface InputImages {
  /** Files written, in input order (Codex `localImage`). */
  paths: string[];
  /** http(s) URLs (Codex `image`). */
  urls: string[];
  /** Why an image was left out (never its content). */
  skipped: string[];
}

export async function saveInputImages(
  images: readonly string[] | null | undefined,
  workDir: string,
  taskId: number,
  subtaskId: number,
): Promise<InputImages> {
  const out: InputImages = { paths: [], urls: [], skipped: [] };
  if (!images?.length) return out;
  const dir = attachmentDir(workDir, taskId, subtaskId);
  for (const [index, image] of images.entries()) {
    const data = DATA_URL.exec(image);
    if (data) {
      const path = join(dir, `input-image-${index + 1}.${EXTENSION[data[2].toLowerCase()]}`);
      try {
        // The task's commands may have planted symlinks on this path: none is followed.
        await realDirectory(workDir, dir);
        await replaceFile(path, Buffer.from(data[3].replace(/\s+/g, ''), 'base64'), 0o644);
        out.paths.push(path);
      } catch (error) {
        out.skipped.push(`image ${index + 1}: ${(error as Error).message}`);
      }
    } else if (/^https?:\/\//i.test(image)) {
      out.urls.push(image);
    } else {
      out.skipped.push(`image ${index + 1}: not a base64 png/jpeg/gif/webp/bmp data URL or an http(s) URL`);
    }
  }
  return out;
}
