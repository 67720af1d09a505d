import { readFile, writeFile } from 'node:fs/promises';
import { Global, Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { execa } from 'execa';
import type { Config } from '@wegent-codex/contracts';
import { CONFIG, LOGGER, type Logger } from '@wegent-codex/runtime';
import { cgroupLayouts, CgroupTree, type RunCgroup } from './cgroups';
import type { LaunchCommand } from '@wegent-codex/sandbox';
import { limitedCommand, RunLimiter } from './run-limiter';
import { runLimitsFrom, type RunLimits } from './run-limits';

export type LimitsMechanism = 'cgroup-v2' | 'cgroup-v1' | 'rlimit' | 'off';

export interface LimitsStatus {
  /** Runs may start (false only when RUN_LIMITS=cgroup and no cgroup can be made). */
  ok: boolean;
  mechanism: LimitsMechanism;
  /** Which limits hold under that mechanism. */
  enforced: { memory: boolean; pids: boolean; cpu: boolean; disk: boolean; openFiles: boolean };
  /** The worker's own oom_score_adj after boot (runs get 1000). */
  workerOomScoreAdj?: number;
  reason?: string;
}

/** How a warm Codex process starts (LimitsService.warmLaunch). */
export interface WarmLaunch {
  wrap(command: LaunchCommand): LaunchCommand;
  /** Its cgroup, with a run's limits and the idle CPU weight (absent without cgroups). */
  cgroup?: RunCgroup;
}

export class LimitsUnavailableError extends Error {
  override readonly name = 'LimitsUnavailableError';
}

/** The worker's own score: lowered when allowed (CAP_SYS_RESOURCE); runs raise theirs to 1000 anyway. */
const WORKER_OOM_SCORE_ADJ = -500;

/** The worker's own threads (node, libuv) and git under RLIMIT_NPROC's per-user count. */
const USER_PROCESS_HEADROOM = 256;

let runSequence = 0;

/**
 * Per-run limits (issue 13): which mechanism this process can use is found at boot — a real probe
 * (create a cgroup, move a shell into it, read its /proc/self/cgroup), not a guess from mounts —
 * logged, and shown by /readyz. Each run gets a RunLimiter from open().
 */
@Injectable()
export class LimitsService implements OnModuleInit {
  readonly limits: RunLimits;
  private tree?: CgroupTree;
  private prlimit?: string;
  private status?: LimitsStatus;
  private detecting?: Promise<LimitsStatus>;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.limits = runLimitsFrom(config);
  }

  async onModuleInit(): Promise<void> {
    const status = await this.current();
    const log = {
      mechanism: status.mechanism,
      enforced: status.enforced,
      worker_oom_score_adj: status.workerOomScoreAdj,
      limits: this.limits,
      cgroup: this.tree?.description,
    };
    if (!status.ok)
      this.logger.error({ ...log, reason: status.reason }, 'per-run limits unavailable: runs are refused until they work (RUN_LIMITS)');
    else if (status.mechanism === 'off')
      this.logger.warn(log, 'RUN_LIMITS=off: one task can take all memory, processes and CPU of this worker. Development only.');
    else if (status.mechanism === 'rlimit')
      this.logger.warn(
        { ...log, reason: status.reason },
        'per-run limits: rlimits only (no cgroup): memory and CPU are not limited per run; see docs/en/security.md',
      );
    else this.logger.info(log, `per-run limits: ${status.mechanism}`);
  }

  current(): Promise<LimitsStatus> {
    if (this.status) return Promise.resolve(this.status);
    this.detecting ??= this.detect().then((status) => (this.status = status));
    return this.detecting;
  }

  /**
   * Removes the run cgroups of workers of this host that died without a shutdown, killing what is
   * still in them (processes that escaped the recorded tree). Called after the orphan reaper.
   */
  async sweepStale(): Promise<void> {
    await this.current();
    if (!this.tree) return;
    const stale = await this.tree.sweepStale(isAlive).catch((error: unknown) => {
      this.logger.warn({ err: String(error) }, 'could not remove the run cgroups of dead workers');
      return [];
    });
    if (stale.length) this.logger.warn({ cgroups: stale }, 'removed the run cgroups of workers that are gone');
  }

  /** A limiter for one run, or a LimitsUnavailableError (the run fails with its message). */
  async open(diskDir: string): Promise<RunLimiter> {
    const status = await this.current();
    if (!status.ok) throw new LimitsUnavailableError(`per-run limits cannot be applied: ${status.reason}`);
    const warn = (message: string) => this.logger.warn({ dir: diskDir }, message);
    if (status.mechanism === 'off')
      return new RunLimiter({ limits: { ...this.limits, diskCheckMs: 2 ** 31 - 1 }, diskDir, passthrough: true, onWarning: warn });
    const cgroup = this.tree ? await this.tree.create(`run-${process.pid}-${++runSequence}`, this.limits) : undefined;
    return new RunLimiter({
      limits: this.limits,
      diskDir,
      onWarning: warn,
      userProcesses: this.userProcesses,
      ...(cgroup ? { cgroup } : {}),
      ...(this.prlimit ? { prlimit: this.prlimit } : {}),
    });
  }

  /**
   * A warm Codex process's launch (CODEX_WARM_POOL): started before its run exists, it gets the
   * runs' rlimits and OOM score from its first instruction and, with cgroups, starts in a cgroup of
   * its own that already has a run's limits, at the lowest CPU weight (a spare process warming up
   * never slows a running task). Binding it to a run hands that cgroup to the run's limiter
   * (RunLimiter.adopt): one file write, no process moved, nothing started on the task's critical
   * path. Whoever ends up owning the cgroup destroys it (the limiter, or the pool for a process
   * that never served a run). Unchanged when limits are off; refused like a run when they cannot
   * be applied.
   */
  async warmLaunch(): Promise<WarmLaunch> {
    const status = await this.current();
    if (!status.ok) throw new LimitsUnavailableError(`per-run limits cannot be applied: ${status.reason}`);
    if (status.mechanism === 'off') return { wrap: (command) => command };
    const cgroup = this.tree ? await this.tree.createWarm(`warm-${process.pid}-${++runSequence}`, this.limits) : undefined;
    const options = {
      limits: this.limits,
      procsFiles: cgroup?.procsFiles ?? [],
      cgroup: Boolean(cgroup),
      ...(this.prlimit ? { prlimit: this.prlimit } : {}),
      userProcesses: this.userProcesses,
    };
    return { wrap: (command) => limitedCommand(command, options), ...(cgroup ? { cgroup } : {}) };
  }

  /** Without a cgroup, RLIMIT_NPROC counts the whole user: every run's share plus the worker's own threads. */
  private get userProcesses(): number {
    return this.limits.pids * this.config.WORKER_CONCURRENCY + USER_PROCESS_HEADROOM;
  }

  private async detect(): Promise<LimitsStatus> {
    const mode = this.config.RUN_LIMITS;
    const none = { memory: false, pids: false, cpu: false, disk: false, openFiles: false };
    if (mode === 'off') return { ok: true, mechanism: 'off', enforced: none };
    const workerOomScoreAdj = await lowerOwnOomScore();
    this.prlimit = await findPrlimit();
    const reasons: string[] = [];
    if (!this.prlimit) reasons.push('prlimit (util-linux) is not installed: open files and file size are not limited');
    if (mode !== 'rlimit') {
      const [procCgroup, mountinfo] = await Promise.all([
        readFile('/proc/self/cgroup', 'utf8').catch(() => ''),
        readFile('/proc/self/mountinfo', 'utf8').catch(() => ''),
      ]);
      const layouts = cgroupLayouts(procCgroup, mountinfo);
      if (!layouts.length) reasons.push('no cgroup with the memory and pids controllers is visible');
      for (const layout of layouts) {
        const tree = new CgroupTree(layout);
        const failure = await probeCgroup(tree, this.limits);
        if (!failure) {
          this.tree = tree;
          const version = layout.version === 2 ? 'cgroup-v2' : 'cgroup-v1';
          return {
            ok: true,
            mechanism: version,
            enforced: {
              memory: true,
              pids: true,
              cpu: layout.version === 2 || Boolean(layout.cpu),
              disk: true,
              openFiles: Boolean(this.prlimit),
            },
            workerOomScoreAdj,
            ...(reasons.length ? { reason: reasons.join('; ') } : {}),
          };
        }
        reasons.push(`${tree.description}: ${failure}`);
      }
      if (mode === 'cgroup')
        return {
          ok: false,
          mechanism: 'rlimit',
          enforced: none,
          workerOomScoreAdj,
          reason: `RUN_LIMITS=cgroup but no cgroup can be created: ${reasons.join('; ')}`,
        };
    }
    // RLIMIT_NPROC does not apply to root (nor to CAP_SYS_RESOURCE / CAP_SYS_ADMIN).
    const nprocHolds = Boolean(this.prlimit) && process.getuid?.() !== 0;
    if (!nprocHolds) reasons.push('no process limit per run: RLIMIT_NPROC does not apply to root');
    return {
      ok: true,
      mechanism: 'rlimit',
      enforced: { memory: false, pids: nprocHolds, cpu: false, disk: true, openFiles: Boolean(this.prlimit) },
      workerOomScoreAdj,
      ...(reasons.length ? { reason: reasons.join('; ') } : {}),
    };
  }
}

/** Creates a cgroup, starts a shell in it the way a run starts, checks where it landed; undefined when all worked. */
async function probeCgroup(tree: CgroupTree, limits: RunLimits): Promise<string | undefined> {
  let cgroup;
  try {
    cgroup = await tree.create(`probe-${process.pid}-${++runSequence}`, limits);
  } catch (error) {
    return `cannot create a cgroup (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  try {
    const limiter = new RunLimiter({ limits, cgroup, diskDir: '/' });
    const command = limiter.wrap({ file: '/bin/cat', args: ['/proc/self/cgroup'], cwd: '/', env: { PATH: '/usr/bin:/bin' } });
    const result = await execa(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      extendEnv: false,
      reject: false,
      timeout: 10_000,
      stdin: 'ignore',
    });
    if (result.exitCode !== 0)
      return `cannot move a process into the cgroup (exit ${result.exitCode}: ${String(result.stderr).slice(0, 200)})`;
    const leaf = cgroup.dirs[0]!.split('/').pop()!;
    if (!String(result.stdout).includes(`/${leaf}\n`) && !String(result.stdout).endsWith(`/${leaf}`))
      return 'a process started in the cgroup is not in it';
    return undefined;
  } finally {
    await cgroup.destroy().catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function lowerOwnOomScore(): Promise<number | undefined> {
  await writeFile('/proc/self/oom_score_adj', String(WORKER_OOM_SCORE_ADJ)).catch(() => undefined);
  const text = await readFile('/proc/self/oom_score_adj', 'utf8').catch(() => '');
  return text.trim() === '' ? undefined : Number(text.trim());
}

async function findPrlimit(): Promise<string | undefined> {
  for (const path of ['/usr/bin/prlimit', '/bin/prlimit']) {
    const result = await execa(path, ['--version'], { reject: false, timeout: 5_000, stdin: 'ignore' }).catch(() => undefined);
    if (result && result.exitCode === 0) return path;
  }
  return undefined;
}

/** Global, so /readyz of a process that also runs the worker role can report the mechanism. */
@Global()
@Module({ providers: [LimitsService], exports: [LimitsService] })
export class LimitsModule {}
