import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { listProcesses, ProcessTreeTracker, readProcStat } from '@wegent-codex/codex';

/**
 * This machine's record of the Codex process trees its workers have spawned: one JSON file per
 * `codex app-server` under `<WORKSPACE_ROOT>/.run/<hostname>/`, written when the process starts,
 * refreshed while its tree grows, removed when the run has ended with the tree gone. A worker that
 * dies abruptly leaves its files behind, and the next worker to start on this machine kills what
 * they describe (OrphanReaper). See docs/en/job-lifecycle.md for why a file and not Redis.
 */

const processSchema = z.object({ pid: z.number().int().positive(), startTime: z.number().int().nonnegative() });

export const codexProcessRecordSchema = z.object({
  version: z.literal(1),
  host: z.string(),
  /** The kernel's boot id: pids and start times of another boot mean nothing. */
  bootId: z.string(),
  /** The worker process that spawned the tree; while it lives, the tree is its business. */
  owner: processSchema,
  taskId: z.number().int(),
  subtaskId: z.number().int(),
  tree: z.object({
    root: z.object({ pid: z.number().int().positive(), startTime: z.number().int().nonnegative().optional() }),
    members: z.array(processSchema.extend({ sid: z.number().int() })),
  }),
  updatedAt: z.string(),
});
export type CodexProcessRecord = z.infer<typeof codexProcessRecordSchema>;

/** How often a tracked tree is rescanned (a command started since then is recorded). */
const REFRESH_MS = 1_000;

/** One tracked app-server tree. Never throws: bookkeeping must not fail a run. */
export interface TrackedCodexProcess {
  /** Rescans the tree now and rewrites the record when it changed. */
  refresh(): Promise<void>;
  /** Stops tracking; removes the record when `treeGone` (else a later reaper still finds it). */
  release(treeGone: boolean): Promise<void>;
}

const NOT_TRACKED: TrackedCodexProcess = { refresh: async () => undefined, release: async () => undefined };

export class CodexProcessRegistry {
  readonly dir: string;

  constructor(
    workspaceRoot: string,
    readonly host: string = hostname(),
  ) {
    this.dir = join(resolve(workspaceRoot), '.run', host.replace(/[^A-Za-z0-9_.-]/g, '_'));
  }

  /**
   * Removes the records of other hosts older than `maxAgeMs`, and their folders once empty. Pids
   * of another machine can never be acted on from here; on shared storage (k8s, where pod names
   * change) their records would otherwise pile up for ever. Returns how many were removed.
   */
  async pruneOtherHosts(maxAgeMs: number, now = Date.now()): Promise<number> {
    const runDir = dirname(this.dir);
    let removed = 0;
    let hosts: string[] = [];
    try {
      hosts = await readdir(runDir);
    } catch {
      return 0;
    }
    for (const host of hosts) {
      const hostDir = join(runDir, host);
      if (hostDir === this.dir) continue;
      let files: string[] = [];
      try {
        files = await readdir(hostDir);
      } catch {
        continue;
      }
      for (const file of files) {
        const path = join(hostDir, file);
        const info = await stat(path).catch(() => null);
        if (info && now - info.mtimeMs > maxAgeMs) {
          await rm(path, { force: true });
          removed += 1;
        }
      }
      await rmdir(hostDir).catch(() => undefined); // only succeeds when empty
    }
    return removed;
  }

  /**
   * Starts recording `pid`'s tree for the calling process. `onError` hears about a record that
   * could not be written (the run goes on; only orphan clean-up after a crash is affected).
   */
  async track(
    pid: number | undefined,
    ids: { taskId: number; subtaskId: number },
    onError: (error: unknown) => void,
  ): Promise<TrackedCodexProcess> {
    const owner = readProcStat(process.pid);
    const bootId = readBootId();
    if (pid === undefined || !owner || bootId === undefined) return NOT_TRACKED; // no /proc: nothing to reap later either
    const tracker = new ProcessTreeTracker(pid);
    const file = join(this.dir, `codex-${pid}.json`);
    let written = '';
    let chain: Promise<void> = Promise.resolve();
    let released = false;

    const write = (): Promise<void> => {
      chain = chain.then(async () => {
        if (released) return;
        const processes = listProcesses();
        tracker.scan(processes);
        const tree = tracker.snapshot(processes);
        const key = JSON.stringify(tree);
        if (key === written) return;
        const record: CodexProcessRecord = {
          version: 1,
          host: this.host,
          bootId,
          owner: { pid: process.pid, startTime: owner.startTime },
          ...ids,
          tree,
          updatedAt: new Date().toISOString(),
        };
        try {
          await mkdir(this.dir, { recursive: true });
          await writeFile(`${file}.tmp`, JSON.stringify(record));
          await rename(`${file}.tmp`, file);
          written = key;
        } catch (error) {
          onError(error);
        }
      });
      return chain;
    };

    await write();
    const timer = setInterval(() => void write(), REFRESH_MS);
    timer.unref();
    return {
      refresh: write,
      release: async (treeGone) => {
        clearInterval(timer);
        await chain;
        released = true;
        if (treeGone) await rm(file, { force: true }).catch(onError);
      },
    };
  }

  /** Every readable record of this host; unreadable or foreign files are reported as `invalid`. */
  async list(): Promise<{ records: { file: string; record: CodexProcessRecord }[]; invalid: string[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return { records: [], invalid: [] };
    }
    const records: { file: string; record: CodexProcessRecord }[] = [];
    const invalid: string[] = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const file = join(this.dir, name);
      try {
        records.push({ file, record: codexProcessRecordSchema.parse(JSON.parse(await readFile(file, 'utf8'))) });
      } catch {
        invalid.push(file);
      }
    }
    return { records, invalid };
  }

  async remove(file: string): Promise<void> {
    await rm(file, { force: true });
  }
}

/** The kernel's boot id (Linux), undefined elsewhere. */
export function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
