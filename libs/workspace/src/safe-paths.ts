import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';

/**
 * The worker writes into folders a task's commands could write before: any of those paths may
 * have become a symlink to another task's files or to the service's own. These helpers never
 * follow one. Safe without a lock because no command of the task runs while the worker prepares
 * it (the previous run's process tree is gone, and runs of one task never overlap).
 */

/**
 * Makes `path` (inside `base`, which must be the worker's own) a real directory: every component
 * below `base` that is a symlink or not a directory is removed and replaced by a directory.
 */
export async function realDirectory(base: string, path: string, mode = 0o755): Promise<string> {
  const rel = relative(base, path);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`${path} is not inside ${base}`);
  await mkdir(base, { recursive: true, mode });
  let current = base;
  for (const part of rel ? rel.split(sep) : []) {
    current = join(current, part);
    const stat = await lstat(current).catch(() => undefined);
    if (stat?.isDirectory()) continue;
    if (stat) await rm(current, { force: true, recursive: false });
    await mkdir(current, { mode }).catch(async (error: NodeJS.ErrnoException) => {
      // Another run of this worker made the same shared folder (WORKSPACE_ROOT/.task-state) between
      // our lstat and mkdir. mkdir never follows a symlink: only a real directory may stand.
      if (error.code !== 'EEXIST' || !(await lstat(current)).isDirectory()) throw error;
    });
  }
  return path;
}

/** Writes `content` to a fresh file at `path` (whatever was there — a symlink included — is replaced, never followed). */
export async function replaceFile(path: string, content: string | Uint8Array, mode = 0o600): Promise<void> {
  const stat = await lstat(path).catch(() => undefined);
  if (stat) await rm(path, { force: true, recursive: stat.isDirectory() });
  await writeFile(path, content, { mode, flag: 'wx' });
}
