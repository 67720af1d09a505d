import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '@wegent-codex/contracts';
import { isAlive, killSnapshot } from '@wegent-codex/codex';
import { CONFIG, LOGGER, type Logger } from '@wegent-codex/runtime';
import { CodexProcessRegistry, readBootId } from './codex-process-registry';

export interface ReapReport {
  /** Records whose owner died: their trees were killed. */
  reaped: { taskId: number; subtaskId: number; ownerPid: number; killed: number[] }[];
  /** Records of live workers, left alone. */
  live: number;
  /** Records with nothing left to kill, of an earlier boot, or unreadable: removed. */
  discarded: number;
  /** Pids that outlived SIGKILL (their record is kept for the next start). */
  survivors: number[];
}

/**
 * Kills the Codex process trees that dead workers of this machine left behind. A worker killed
 * with SIGKILL (OOM killer, `kill -9` of its process group, a lost terminal) cannot stop its
 * `codex app-server`, and the commands Codex started run in sessions of their own, so nothing else
 * ends them. Runs when a worker starts, before it takes jobs.
 */
/** Records of other machines (e.g. pods long gone) older than this are dropped from shared storage. */
export const OTHER_HOST_RECORD_MAX_AGE_MS = 7 * 24 * 3_600_000;

@Injectable()
export class OrphanReaper {
  private readonly registry: CodexProcessRegistry;

  constructor(
    @Inject(CONFIG) config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.registry = new CodexProcessRegistry(config.WORKSPACE_ROOT);
  }

  async reap(): Promise<ReapReport> {
    const report: ReapReport = { reaped: [], live: 0, discarded: 0, survivors: [] };
    const bootId = readBootId();
    if (bootId === undefined) return report; // no /proc: processes cannot be recorded either
    const { records, invalid } = await this.registry.list();
    for (const file of invalid) await this.registry.remove(file).catch(() => undefined);
    report.discarded += invalid.length;

    for (const { file, record } of records) {
      if (record.bootId !== bootId) {
        report.discarded += 1;
        await this.registry.remove(file).catch(() => undefined);
        continue;
      }
      if (isAlive(record.owner.pid, record.owner.startTime)) {
        report.live += 1;
        continue;
      }
      const { killed, survivors } = await killSnapshot(record.tree);
      if (killed.length) report.reaped.push({ taskId: record.taskId, subtaskId: record.subtaskId, ownerPid: record.owner.pid, killed });
      else if (!survivors.length) report.discarded += 1; // its tree ended with its owner (Codex saw stdin close)
      report.survivors.push(...survivors);
      if (!survivors.length) await this.registry.remove(file).catch(() => undefined);
    }

    report.discarded += await this.registry.pruneOtherHosts(OTHER_HOST_RECORD_MAX_AGE_MS).catch(() => 0);

    if (report.reaped.length || report.survivors.length) {
      this.logger.warn(
        {
          reaped: report.reaped.map((r) => ({ task_id: r.taskId, subtask_id: r.subtaskId, owner_pid: r.ownerPid, killed: r.killed })),
          survivors: report.survivors,
        },
        'killed Codex processes left behind by a dead worker on this machine',
      );
    }
    return report;
  }
}
