import { lstat, opendir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The bytes allocated under `dir`, counted as `du -sxkH` counts them: every file's and folder's
 * allocated blocks (not their apparent size), a file with several hard links once, symlinks not
 * followed (only `dir` itself), nothing on another filesystem. Walked here, without a process:
 * spawning `du` blocks the worker's thread for ~10 ms (the fork of a large process) and the run's
 * last check is on the way to its terminal callback. Undefined when the folder holds more than
 * `maxEntries` entries (a cloned repository): then one `du` costs less than walking it here.
 */
export async function folderBytes(dir: string, maxEntries: number): Promise<number | undefined> {
  const root = await stat(dir);
  const linked = new Set<number>();
  let blocks = root.blocks;
  let entries = 0;
  let level = [dir];
  while (level.length) {
    const next: string[] = [];
    for (const folder of level) {
      // Read entry by entry, never a whole listing: a command may have made a folder of millions.
      const names: string[] = [];
      const listing = await opendir(folder).catch(() => undefined); // removed meanwhile
      if (listing) {
        for await (const entry of listing) {
          if (++entries > maxEntries) return undefined; // leaving the loop closes the listing
          names.push(entry.name);
        }
      }
      const stats = await Promise.all(names.map((name) => lstat(join(folder, name)).catch(() => undefined)));
      stats.forEach((s, i) => {
        if (!s || s.dev !== root.dev) return;
        if (!s.isDirectory() && s.nlink > 1) {
          if (linked.has(s.ino)) return;
          linked.add(s.ino);
        }
        blocks += s.blocks;
        if (s.isDirectory()) next.push(join(folder, names[i]!));
      });
    }
    level = next;
  }
  return blocks * 512;
}
