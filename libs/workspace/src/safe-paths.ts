import { lstatSync, mkdirSync, opendirSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';

/**
 * The worker writes into folders a task's commands could write before: any of those paths may
 * have become a symlink to another task's files or to the service's own. These helpers never
 * follow one. Safe without a lock because no command of the task runs while the worker prepares
 * it (the previous run's process tree is gone, and runs of one task never overlap).
 *
 * Synchronous on purpose: these are a handful of metadata calls and small writes, microseconds
 * each on a local disk, on the way from a job's start to Codex's spawn. Each async call waited a
 * turn of the worker's busy event loop plus a thread-pool hop: two realDirectory calls took 8 ms
 * (p50) in the in-process service, 0.3 ms alone. (Async signatures are kept for the callers.)
 */

/**
 * Makes `path` (inside `base`, which must be the worker's own) a real directory: every component
 * below `base` that is a symlink or not a directory is removed and replaced by a directory.
 */
export async function realDirectory(base: string, path: string, mode = 0o755): Promise<string> {
  const rel = relative(base, path);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`${path} is not inside ${base}`);
  mkdirSync(base, { recursive: true, mode });
  let current = base;
  for (const part of rel ? rel.split(sep) : []) {
    current = join(current, part);
    const stat = lstatOrUndefined(current);
    if (stat?.isDirectory()) continue;
    if (stat) rmSync(current, { force: true, recursive: false });
    try {
      mkdirSync(current, { mode });
    } catch (error) {
      // Another run of this worker made the same shared folder (WORKSPACE_ROOT/.task-state) between
      // our lstat and mkdir. mkdir never follows a symlink: only a real directory may stand.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !lstatSync(current).isDirectory()) throw error;
    }
  }
  return path;
}

/**
 * Makes `path` (inside `base`) a real, empty directory. An empty one stays (one entry read,
 * whatever the folder's size); anything else there (files, a symlink, a folder of any size that
 * a command made) is removed without holding the thread, and the directory made anew.
 */
export async function emptyDirectory(base: string, path: string, mode = 0o755): Promise<string> {
  if (relative(base, path) === '') throw new Error(`${path} is ${base} itself`);
  // Its parents first: a symlink among them must never lead the removal below elsewhere.
  await realDirectory(base, dirname(path), mode);
  const stat = lstatOrUndefined(path);
  if (stat?.isDirectory() && isEmptyDirectory(path)) return path;
  if (stat) await rm(path, { force: true, recursive: true });
  return realDirectory(base, path, mode);
}

function isEmptyDirectory(path: string): boolean {
  const dir = opendirSync(path);
  try {
    return dir.readSync() === null;
  } finally {
    dir.closeSync();
  }
}

/** Writes `content` to a fresh file at `path` (whatever was there — a symlink included — is replaced, never followed). */
export async function replaceFile(path: string, content: string | Uint8Array, mode = 0o600): Promise<void> {
  const stat = lstatOrUndefined(path);
  // A folder there may be any size (a command made it): removed without holding the thread.
  if (stat?.isDirectory()) await rm(path, { force: true, recursive: true });
  else if (stat) rmSync(path, { force: true });
  writeFileSync(path, content, { mode, flag: 'wx' });
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
