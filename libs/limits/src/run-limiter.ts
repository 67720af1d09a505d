import { execa } from 'execa';
import type { LaunchCommand } from '@wegent-codex/sandbox';
import type { CgroupCounters, RunCgroup } from './cgroups';
import { folderBytes } from './folder-size';
import { limitMessages, type LimitHit, type RunLimits } from './run-limits';

/**
 * The first process of a run (sh, pid P) writes P into each cgroup named before `--`, raises its
 * own oom_score_adj (any process may raise it), then execs the rest — so every process of the run
 * starts inside its cgroup and is the kernel's first choice under memory pressure, never the worker.
 * Only paths travel in argv.
 */
export const ATTACH_SCRIPT =
  'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; echo 1000 > /proc/self/oom_score_adj 2>/dev/null; exec "$@"';

/** How long one measurement of the task folder may take; a folder too big to measure in time is logged, not failed. */
const DU_TIMEOUT_MS = 20_000;
/** Up to this many entries the task folder is walked in-process (folderBytes); past it, `du` measures it. */
const WALK_MAX_ENTRIES = 2_000;
/** The cgroup's counters are cheap (three small files): read every second. */
const COUNTER_POLL_MS = 1_000;

export interface RunLimiterOptions {
  limits: RunLimits;
  /** The run's cgroup; absent under rlimits only. */
  cgroup?: RunCgroup;
  /** prlimit on PATH (util-linux): RLIMIT_NOFILE, RLIMIT_FSIZE (and RLIMIT_NPROC without a cgroup). */
  prlimit?: string;
  /** The folder whose size is bounded (the task folder; the state folder is the service's). */
  diskDir: string;
  /**
   * RLIMIT_NPROC when there is no cgroup. It counts every process (thread) of the service's user —
   * the worker and all runs — so it is sized for all runs together: a fork bomb can take the other
   * runs' share, not the machine's. Default: the per-run pids limit.
   */
  userProcesses?: number;
  /** RUN_LIMITS=off: the command runs as given. */
  passthrough?: boolean;
  onWarning?: (message: string) => void;
}

export interface RunUsage {
  counters?: CgroupCounters;
  /** The task folder's last measured size, bytes. */
  diskBytes?: number;
  hit?: LimitHit;
  /** Processes still in the cgroup after the sweep (should be none). */
  survivors: number[];
}

export interface LimitedCommandOptions {
  limits: RunLimits;
  /** cgroup.procs files the first process writes itself into (none: a warm process, adopted later). */
  procsFiles: readonly string[];
  /** The run has (or will be adopted into) a cgroup: CPU and process count are bounded there. */
  cgroup: boolean;
  prlimit?: string;
  /** RLIMIT_NPROC without a cgroup (RunLimiterOptions.userProcesses). */
  userProcesses?: number;
}

/**
 * `sh -c ATTACH <cgroup files> -- [nice -n 10] [prlimit --nofile --fsize [--nproc] --] <command>`:
 * every process of the run starts in its cgroups, with the run's OOM score and rlimits. Without a
 * cgroup nothing bounds CPU (a lower priority keeps the worker responsive) or the process count
 * (RLIMIT_NPROC, sized for all runs of the user).
 */
export function limitedCommand(command: LaunchCommand, options: LimitedCommandOptions): LaunchCommand {
  const { limits, prlimit } = options;
  const prefix: string[] = [...options.procsFiles, '--'];
  if (!options.cgroup) prefix.push('nice', '-n', '10');
  if (prlimit) {
    prefix.push(prlimit, `--nofile=${limits.openFiles}:${limits.openFiles}`, `--fsize=${limits.diskBytes}:${limits.diskBytes}`);
    if (!options.cgroup) {
      const nproc = options.userProcesses ?? limits.pids;
      prefix.push(`--nproc=${nproc}:${nproc}`);
    }
    prefix.push('--');
  }
  return { ...command, file: '/bin/sh', args: ['-c', ATTACH_SCRIPT, 'wegent-run-limits', ...prefix, command.file, ...command.args] };
}

/** One run's limits: the launch prefix, the watch that ends the run, the final sweep. */
export class RunLimiter {
  private hit?: LimitHit;
  private readonly timers: NodeJS.Timeout[] = [];
  private resolveHit!: (hit: LimitHit) => void;
  /** Resolves when a limit fires (never otherwise). */
  readonly exceeded: Promise<LimitHit>;
  private lastDisk?: number;
  private startDisk?: number;
  private measuring = false;
  private closed = false;

  /** The run's cgroup: the one made for it, or a warm process's it adopted. */
  private cgroup?: RunCgroup;
  /** The cgroup made for this run, being removed after a warm process's was adopted. */
  private retired?: Promise<void>;

  constructor(private readonly options: RunLimiterOptions) {
    this.exceeded = new Promise((resolve) => (this.resolveHit = resolve));
    this.cgroup = options.cgroup;
  }

  /** `sh -c ATTACH <cgroup files> -- [nice] [prlimit …] <command>` */
  wrap(command: LaunchCommand): LaunchCommand {
    if (this.options.passthrough) return command;
    const { limits, prlimit, userProcesses } = this.options;
    const { cgroup } = this;
    return limitedCommand(command, { limits, procsFiles: cgroup?.procsFiles ?? [], cgroup: Boolean(cgroup), prlimit, userProcesses });
  }

  /**
   * A warm Codex process (CODEX_WARM_POOL) was started before its task was known, under the runs'
   * rlimits and OOM score, in a cgroup of its own that has a run's limits at the idle CPU weight
   * (LimitsService.warmLaunch): at bind time — idle, no command of the task yet — that cgroup
   * becomes this run's (what the process starts later is in it already) and gets a run's CPU
   * weight; the one this limiter made is removed (close() waits for it). From here on this
   * limiter owns the warm cgroup: its counters, its sweep, its removal. One file write on the way
   * to the task's first model request, no process moved.
   */
  async adopt(warm: RunCgroup): Promise<void> {
    if (this.options.passthrough) return;
    const made = this.cgroup;
    this.cgroup = warm;
    if (made)
      this.retired = made.destroy().then(
        () => undefined,
        (error: unknown) => this.options.onWarning?.(`could not remove the unused cgroup of a warm run: ${String(error)}`),
      );
    await warm.weigh('normal');
  }

  /** Starts watching: cgroup counters every second, the task folder every RUN_DISK_CHECK_MS (once; not after close()). */
  start(): void {
    if (this.closed || this.timers.length) return; // once, and never after close()
    // The size the run starts with: a follow-up of a run stopped for its size may clean up.
    void this.measureDisk(true);
    if (this.cgroup) {
      const t = setInterval(() => void this.check(), COUNTER_POLL_MS);
      t.unref();
      this.timers.push(t);
    }
    const d = setInterval(() => void this.measureDisk(), this.options.limits.diskCheckMs);
    d.unref();
    this.timers.push(d);
  }

  /** Everything at once, right before a run's result is accepted: the counters, then the folder. */
  async checkAll(): Promise<LimitHit | undefined> {
    return (await this.check()) ?? (await this.measureDisk());
  }

  /** Reads the cgroup's counters now. */
  async check(): Promise<LimitHit | undefined> {
    if (this.hit || !this.cgroup) return this.hit;
    const counters = await this.cgroup.counters();
    if (counters.oomKills > 0) this.fire({ limit: 'memory', message: limitMessages.memory(this.options.limits) });
    else if (counters.pidsRefused > 0) this.fire({ limit: 'pids', message: limitMessages.pids(this.options.limits) });
    return this.hit;
  }

  /**
   * Measures the task folder now; fires the disk limit when it is at or over its size and grew
   * during this run (a folder left over-size by an earlier run may be cleaned by a follow-up).
   */
  async measureDisk(baseline = false): Promise<LimitHit | undefined> {
    if (this.hit || this.measuring || this.closed) return this.hit;
    this.measuring = true;
    try {
      const walked = await folderBytes(this.options.diskDir, WALK_MAX_ENTRIES).catch(() => undefined);
      const result =
        walked === undefined
          ? await execa('nice', ['-n', '10', 'du', '-sxkH', this.options.diskDir], {
              reject: false,
              timeout: DU_TIMEOUT_MS,
              stdin: 'ignore',
            })
          : undefined;
      const bytes = walked ?? Number(/^(\d+)/.exec(String(result?.stdout))?.[1]) * 1024;
      if (Number.isFinite(bytes)) {
        this.lastDisk = bytes;
        if (baseline) this.startDisk = this.lastDisk;
        else if (this.lastDisk >= this.options.limits.diskBytes && this.lastDisk > (this.startDisk ?? 0))
          this.fire({ limit: 'disk', message: limitMessages.disk(this.options.limits, this.lastDisk) });
      } else if (result?.timedOut) {
        this.options.onWarning?.(`measuring the task folder took over ${DU_TIMEOUT_MS / 1000} s; its size is not checked this time`);
      }
    } finally {
      this.measuring = false;
    }
    return this.hit;
  }

  /** Stops watching, kills whatever is left in the cgroup (the whole run, escaped or not) and removes it. */
  async close(): Promise<RunUsage> {
    this.closed = true;
    this.timers.forEach((t) => clearInterval(t));
    await this.retired;
    const cgroup = this.cgroup;
    if (!cgroup)
      return {
        ...(this.lastDisk === undefined ? {} : { diskBytes: this.lastDisk }),
        ...(this.hit ? { hit: this.hit } : {}),
        survivors: [],
      };
    const counters = await cgroup.counters();
    const { survivors } = await cgroup.destroy();
    return {
      counters,
      ...(this.lastDisk === undefined ? {} : { diskBytes: this.lastDisk }),
      ...(this.hit ? { hit: this.hit } : {}),
      survivors,
    };
  }

  get firstHit(): LimitHit | undefined {
    return this.hit;
  }

  private fire(hit: LimitHit): void {
    if (this.hit) return;
    this.hit = hit;
    this.resolveHit(hit);
  }
}
