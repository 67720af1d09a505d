import { constants } from 'node:fs';
import { lstat, open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, sep } from 'node:path';

/**
 * Custom instruction files (docs/protocol/wegent-protocol.md §11.7): `CUSTOM_INSTRUCTION_FILES` names
 * repository files (`.cursorrules`, …) whose content is appended to the developer instructions,
 * so the model actually sees them. Nothing is written into the repository.
 */

export interface RejectedEntry {
  entry: string;
  reason: string;
}

export interface InstructionFileList {
  /** Repository-relative paths, normalised, in list order, without duplicates. */
  files: string[];
  rejected: RejectedEntry[];
}

/**
 * Splits the comma list. Entries are trimmed; empty entries are ignored; absolute paths, entries
 * with a `..` segment or normalising outside the repository, `.` and NUL are rejected.
 */
export function parseCustomInstructionFiles(list: string | null | undefined): InstructionFileList {
  const files: string[] = [];
  const rejected: RejectedEntry[] = [];
  for (const raw of (list ?? '').split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const normalised = posix.normalize(entry);
    let reason: string | undefined;
    if (entry.includes('\u0000')) reason = 'contains a NUL character';
    else if (isAbsolute(entry) || entry.startsWith('/')) reason = 'absolute paths are not allowed';
    else if (entry.split(/[/\\]/).includes('..')) reason = '".." segments are not allowed';
    else if (normalised === '..' || normalised.startsWith('../')) reason = 'points outside the repository';
    else if (normalised === '.' || normalised.endsWith('/')) reason = 'names a directory, not a file';
    if (reason) rejected.push({ entry, reason });
    else if (!files.includes(normalised)) files.push(normalised);
  }
  return { files, rejected };
}

export interface CustomInstructionFile {
  /** Repository-relative path, as listed. */
  name: string;
  content: string;
}

export interface LoadedInstructions {
  /** Files that exist and were read, in list order. Missing files are simply absent. */
  files: CustomInstructionFile[];
  /** Files that exist but were refused, with the reason. */
  skipped: RejectedEntry[];
}

export interface LoadInstructionsOptions {
  /** Larger files are skipped (default 1 MiB). */
  maxBytes?: number;
}

const inside = (root: string, target: string) => {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
};

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code;

/**
 * Reads the listed files under `repoDir` as UTF-8, in list order. `list` is the raw comma list
 * or the output of `parseCustomInstructionFiles`. A symlink is followed only when its target
 * stays inside the repository; only regular files are read (a FIFO would block); invalid UTF-8
 * and oversized files are skipped.
 */
export async function loadCustomInstructions(
  repoDir: string,
  list: string | readonly string[],
  options: LoadInstructionsOptions = {},
): Promise<LoadedInstructions> {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const names = typeof list === 'string' ? parseCustomInstructionFiles(list).files : parseCustomInstructionFiles(list.join(',')).files;
  const loaded: LoadedInstructions = { files: [], skipped: [] };
  let root: string;
  try {
    // The clone's folder itself may have been replaced by a symlink in an earlier run of the task
    // (to another tenant's repository): its target is no root of this task's files.
    if ((await lstat(repoDir)).isSymbolicLink()) {
      loaded.skipped.push({ entry: '.', reason: 'the repository folder is a symlink' });
      return loaded;
    }
    root = await realpath(repoDir);
  } catch {
    return loaded;
  }
  for (const name of names) {
    let target: string;
    try {
      target = await realpath(join(root, name));
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') continue;
      loaded.skipped.push({ entry: name, reason: `cannot be resolved (${errorCode(error) ?? 'error'})` });
      continue;
    }
    if (!inside(root, target)) {
      loaded.skipped.push({ entry: name, reason: 'is a symlink pointing outside the repository' });
      continue;
    }
    const result = await readSmallTextFile(target, maxBytes);
    if ('reason' in result) loaded.skipped.push({ entry: name, reason: result.reason });
    else loaded.files.push({ name, content: result.content });
  }
  return loaded;
}

async function readSmallTextFile(path: string, maxBytes: number): Promise<{ content: string } | { reason: string }> {
  let handle;
  try {
    // stat before open: opening a FIFO for reading would wait for a writer.
    if (!(await stat(path)).isFile()) return { reason: 'is not a regular file' };
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    const info = await handle.stat();
    if (!info.isFile()) return { reason: 'is not a regular file' };
    if (info.size > maxBytes) return { reason: `is larger than ${maxBytes} bytes` };
    const buffer = Buffer.alloc(info.size);
    const { bytesRead } = await handle.read(buffer, 0, info.size, 0);
    try {
      return { content: new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, bytesRead)) };
    } catch {
      return { reason: 'is not valid UTF-8' };
    }
  } catch (error) {
    return { reason: `cannot be read (${errorCode(error) ?? 'error'})` };
  } finally {
    await handle?.close();
  }
}

const attribute = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * The developer instructions: the bot's system prompt, then one delimited block per file
 * (blank files left out):
 *
 *     <custom_instructions file=".cursorrules">
 *     …content…
 *     </custom_instructions>
 */
export function composeDeveloperInstructions(systemPrompt: string | null | undefined, files: readonly CustomInstructionFile[]): string {
  const blocks = files
    .filter((f) => f.content.trim() !== '')
    .map(
      (f) => `<custom_instructions file="${attribute(f.name)}">\n${f.content}${f.content.endsWith('\n') ? '' : '\n'}</custom_instructions>`,
    );
  return [systemPrompt ?? '', ...blocks].filter((part) => part !== '').join('\n\n');
}
