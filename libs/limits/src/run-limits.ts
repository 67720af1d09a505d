import type { Config } from '@wegent-codex/contracts';

/** What one run may use (docs/en/security.md, "Per-run limits"). */
export interface RunLimits {
  memoryBytes: number;
  pids: number;
  /** CPU time per wall second, in cores. */
  cpus: number;
  diskBytes: number;
  diskCheckMs: number;
  openFiles: number;
}

const MIB = 1024 * 1024;

export function runLimitsFrom(
  config: Pick<Config, 'RUN_MEMORY_MB' | 'RUN_PIDS' | 'RUN_CPUS' | 'RUN_DISK_MB' | 'RUN_DISK_CHECK_MS' | 'RUN_OPEN_FILES'>,
): RunLimits {
  return {
    memoryBytes: config.RUN_MEMORY_MB * MIB,
    pids: config.RUN_PIDS,
    cpus: config.RUN_CPUS,
    diskBytes: config.RUN_DISK_MB * MIB,
    diskCheckMs: config.RUN_DISK_CHECK_MS,
    openFiles: config.RUN_OPEN_FILES,
  };
}

/** "1.5 GiB", "512 MiB": how a limit is named in a failed run's message. */
export function formatBytes(bytes: number): string {
  const gib = bytes / (1024 * MIB);
  if (gib >= 1) return `${Number(gib.toFixed(2))} GiB`;
  return `${Number((bytes / MIB).toFixed(1))} MiB`;
}

/** Which limit ended a run; the text is the run's error message. */
export type LimitHit = { limit: 'memory'; message: string } | { limit: 'pids'; message: string } | { limit: 'disk'; message: string };

export const limitMessages = {
  memory: (limits: RunLimits) =>
    `the task used more than ${formatBytes(limits.memoryBytes)} of memory (a process was killed); the run was stopped`,
  pids: (limits: RunLimits) => `the task tried to run more than ${limits.pids} processes at once; the run was stopped`,
  disk: (limits: RunLimits, used: number) =>
    `the task folder grew to ${formatBytes(used)}, reaching its limit of ${formatBytes(limits.diskBytes)}; the run was stopped (the folder is kept for a follow-up)`,
};
