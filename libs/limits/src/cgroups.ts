import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunLimits } from './run-limits';

/**
 * A cgroup per run, under the cgroup this process is in:
 * - v2 (a delegated subtree: `/sys/fs/cgroup` is cgroup2 and this process's cgroup is writable):
 *   the worker moves itself into `<own>/worker` (a cgroup with children may hold no process), turns
 *   on memory, pids and cpu for its children and creates `<own>/run-<id>` per run.
 * - v1 (root, or a writable hierarchy): `<memory|pids|cpu mount>/<own path>/wegent-codex/run-<id>`.
 * The run's first process moves itself in before it execs anything (the launch prefix), so nothing
 * of the run ever runs outside its cgroup.
 */
export type CgroupLayout = { version: 2; base: string } | { version: 1; memory: string; pids: string; cpu?: string };

export interface CgroupCounters {
  /** Processes the kernel killed for the memory limit. */
  oomKills: number;
  /** fork/clone calls refused for the pids limit. */
  pidsRefused: number;
  /** Scheduler periods in which the run was throttled for its CPU quota. */
  cpuThrottled: number;
  /** Highest memory use seen, bytes (0 when the kernel does not say). */
  memoryPeak: number;
}

const CPU_PERIOD_US = 100_000;
/** The lowest CPU weight each version allows (v2 `cpu.weight` 1–10000, default 100; v1 `cpu.shares` ≥ 2, default 1024). */
const IDLE_CPU_WEIGHT = 1;
const IDLE_CPU_SHARES = 2;
/** The kernel's defaults: a run's share. */
const DEFAULT_CPU_WEIGHT = 100;
const DEFAULT_CPU_SHARES = 1024;

/** Parses `/proc/self/cgroup` into controller → path (`''` is the v2 entry). */
export function parseProcCgroup(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const controllers = match[1] === '' ? [''] : match[1]!.split(',');
    for (const controller of controllers) map.set(controller, match[2]!);
  }
  return map;
}

/** Parses `/proc/self/mountinfo` into the mount point of each cgroup v1 controller, and the cgroup2 mount. */
export function parseCgroupMounts(text: string): {
  v1: Map<string, { mountPoint: string; root: string }>;
  v2?: { mountPoint: string; root: string };
} {
  const v1 = new Map<string, { mountPoint: string; root: string }>();
  let v2: { mountPoint: string; root: string } | undefined;
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fsType, , superOptions = ''] = right.split(' ');
    const root = fields[3] ?? '/';
    const mountPoint = fields[4] ?? '';
    if (fsType === 'cgroup2') v2 ??= { mountPoint, root };
    if (fsType !== 'cgroup') continue;
    for (const option of superOptions.split(',')) if (!v1.has(option)) v1.set(option, { mountPoint, root });
  }
  return { v1, v2 };
}

/** The host folder of a cgroup path under a mount (a cgroup namespace shows the mount's root as `/`). */
function dirOf(mount: { mountPoint: string; root: string }, path: string): string {
  const relative = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path;
  return join(mount.mountPoint, relative);
}

/** Candidate layouts, best first, from what this process sees (nothing is written here). */
export function cgroupLayouts(procCgroup: string, mountinfo: string): CgroupLayout[] {
  const own = parseProcCgroup(procCgroup);
  const mounts = parseCgroupMounts(mountinfo);
  const layouts: CgroupLayout[] = [];
  const unified = own.get('');
  if (mounts.v2 && unified !== undefined) {
    const base = dirOf(mounts.v2, unified);
    const controllers = existsSync(join(base, 'cgroup.controllers')) ? safeRead(join(base, 'cgroup.controllers')) : '';
    if (/\bmemory\b/.test(controllers) && /\bpids\b/.test(controllers)) layouts.push({ version: 2, base });
  }
  const memory = mounts.v1.get('memory');
  const pids = mounts.v1.get('pids');
  const cpu = mounts.v1.get('cpu');
  if (memory && pids && own.has('memory') && own.has('pids')) {
    layouts.push({
      version: 1,
      memory: join(dirOf(memory, own.get('memory')!), 'wegent-codex'),
      pids: join(dirOf(pids, own.get('pids')!), 'wegent-codex'),
      ...(cpu && own.has('cpu') ? { cpu: join(dirOf(cpu, own.get('cpu')!), 'wegent-codex') } : {}),
    });
  }
  return layouts;
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** One run's cgroup (one folder in v2, one per controller in v1). */
export class RunCgroup {
  constructor(
    private readonly layout: CgroupLayout,
    /** Folder per controller; v2: one. */
    readonly dirs: string[],
  ) {}

  /** The files the run's first process writes its pid to. */
  get procsFiles(): string[] {
    return this.dirs.map((dir) => join(dir, 'cgroup.procs'));
  }

  /**
   * Its share of CPU against the other cgroups: `idle` the least there is (a warm Codex process
   * waiting for its run), `normal` the default (a run's). One file write; false when the layout
   * cannot weigh CPU (v1 without the cpu controller, v2 without it enabled).
   */
  async weigh(level: 'idle' | 'normal'): Promise<boolean> {
    const [dir, file, weight] =
      this.layout.version === 2
        ? [this.dirs[0], 'cpu.weight', level === 'idle' ? IDLE_CPU_WEIGHT : DEFAULT_CPU_WEIGHT]
        : [this.dirs[2], 'cpu.shares', level === 'idle' ? IDLE_CPU_SHARES : DEFAULT_CPU_SHARES];
    if (!dir) return false;
    try {
      await writeFile(join(dir, file), String(weight));
      return true;
    } catch (error) {
      // cgroupfs has no such file when the controller is off: nothing to weigh with.
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES') return false;
      throw error;
    }
  }

  async counters(): Promise<CgroupCounters> {
    const read = (file: string) => readFile(file, 'utf8').catch(() => '');
    const field = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    if (this.layout.version === 2) {
      const [dir] = this.dirs;
      const [memory, pids, cpu, peak] = await Promise.all([
        read(join(dir!, 'memory.events')),
        read(join(dir!, 'pids.events')),
        read(join(dir!, 'cpu.stat')),
        read(join(dir!, 'memory.peak')),
      ]);
      return {
        oomKills: field(memory, 'oom_kill'),
        pidsRefused: field(pids, 'max'),
        cpuThrottled: field(cpu, 'nr_throttled'),
        memoryPeak: Number(peak.trim()) || 0,
      };
    }
    const [memoryDir, pidsDir, cpuDir] = this.dirs;
    const [oom, pids, cpu, peak] = await Promise.all([
      read(join(memoryDir!, 'memory.oom_control')),
      read(join(pidsDir!, 'pids.events')),
      cpuDir ? read(join(cpuDir, 'cpu.stat')) : Promise.resolve(''),
      read(join(memoryDir!, 'memory.max_usage_in_bytes')),
    ]);
    return {
      oomKills: field(oom, 'oom_kill'),
      pidsRefused: field(pids, 'max'),
      cpuThrottled: field(cpu, 'nr_throttled'),
      memoryPeak: Number(peak.trim()) || 0,
    };
  }

  /** Pids still in the cgroup. */
  async members(): Promise<number[]> {
    const seen = new Set<number>();
    for (const file of this.procsFiles) {
      const text = await readFile(file, 'utf8').catch(() => '');
      for (const line of text.split('\n')) if (/^\d+$/.test(line.trim())) seen.add(Number(line.trim()));
    }
    return [...seen];
  }

  /**
   * Kills every process left in the cgroup — also those that left the process tree (double fork,
   * setsid) — then removes the cgroup. A fork bomb refills it while it is being emptied, so the
   * sweep repeats; its forks fail at the pids limit, so each sweep shrinks it.
   */
  async destroy(): Promise<{ removed: boolean; survivors: number[] }> {
    // cgroup.kill (Linux ≥ 5.14) kills the whole cgroup at once; the sweep below covers older kernels.
    const kill = join(this.dirs[0]!, 'cgroup.kill');
    if (this.layout.version === 2 && existsSync(kill)) await writeFile(kill, '1').catch(() => undefined);
    let survivors: number[] = [];
    for (let round = 0; round < 100; round++) {
      survivors = await this.members();
      if (!survivors.length) break;
      for (const pid of survivors) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await new Promise((r) => setTimeout(r, round < 10 ? 10 : 50));
    }
    let removed = true;
    const left: string[] = [];
    for (const dir of [...this.dirs].reverse()) {
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          await rmdir(dir);
          break;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (attempt === 19) {
            removed = false;
            left.push(dir);
          }
          await new Promise((r) => setTimeout(r, 50)); // zombies leave the cgroup once reaped
        }
      }
    }
    // A process killed at the memory limit may take longer to leave: retried in the background (bounded).
    if (left.length) RunCgroup.removeLater(left);
    return { removed, survivors };
  }

  private static removeLater(dirs: string[], tries = 60): void {
    const timer = setTimeout(() => {
      void Promise.all(
        dirs.map((dir) =>
          rmdir(dir).then(
            () => undefined,
            (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : dir),
          ),
        ),
      ).then((still) => {
        const rest = still.filter((d): d is string => Boolean(d));
        if (rest.length && tries > 1) RunCgroup.removeLater(rest, tries - 1);
      });
    }, 1_000);
    timer.unref();
  }
}

/** The cgroups of one worker process: prepared once, one child per run. */
export class CgroupTree {
  private prepared = false;

  constructor(readonly layout: CgroupLayout) {}

  get description(): string {
    return this.layout.version === 2
      ? `cgroup v2 (${this.layout.base})`
      : `cgroup v1 (${this.layout.memory}, ${this.layout.pids}${this.layout.cpu ? `, ${this.layout.cpu}` : ''})`;
  }

  /** v2: the worker leaves its own cgroup for `<own>/worker` and enables the controllers below. */
  async prepare(): Promise<void> {
    if (this.prepared) return;
    if (this.layout.version === 2) {
      const { base } = this.layout;
      const subtree = await readFile(join(base, 'cgroup.subtree_control'), 'utf8');
      const wanted = ['memory', 'pids', 'cpu'];
      if (!wanted.every((c) => subtree.split(/\s+/).includes(c))) {
        const leaf = join(base, 'worker');
        await mkdir(leaf, { recursive: true });
        // Every process of this container's cgroup (the worker, a shell wrapper, tini) moves to the leaf.
        const procs = (await readFile(join(base, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean);
        for (const pid of procs) await writeFile(join(leaf, 'cgroup.procs'), pid).catch(() => undefined);
        const available = (await readFile(join(base, 'cgroup.controllers'), 'utf8')).split(/\s+/);
        await writeFile(
          join(base, 'cgroup.subtree_control'),
          wanted
            .filter((c) => available.includes(c))
            .map((c) => `+${c}`)
            .join(' '),
        );
      }
    } else {
      const { memory, pids, cpu } = this.layout;
      for (const dir of [memory, pids, cpu]) if (dir) await mkdir(dir, { recursive: true });
    }
    this.prepared = true;
  }

  /**
   * Removes the run cgroups of workers that are gone (killed without a shutdown): their processes
   * were reaped by the orphan reaper or died with the sandbox, but the folders stay until removed.
   * Returns the names removed.
   */
  async sweepStale(alive: (pid: number) => boolean): Promise<string[]> {
    await this.prepare();
    const first = this.layout.version === 2 ? this.layout.base : this.layout.memory;
    const names = (await readdir(first).catch((): string[] => [])).filter((name) => {
      const match = /^(?:run|probe|idle|warm)-(\d+)-\d+$/.exec(name);
      return match !== null && !alive(Number(match[1]));
    });
    const removed: string[] = [];
    for (const name of names) {
      const dirs =
        this.layout.version === 2
          ? [join(this.layout.base, name)]
          : [this.layout.memory, this.layout.pids, this.layout.cpu].filter((d): d is string => Boolean(d)).map((d) => join(d, name));
      const { removed: gone } = await new RunCgroup(this.layout, dirs).destroy();
      if (gone) removed.push(name);
    }
    return removed;
  }

  /**
   * A warm Codex process's cgroup (CODEX_WARM_POOL): its run's cgroup, made before the run is
   * known — the runs' memory, pids and CPU limits from the start — at the lowest CPU weight, so a
   * spare process warming up takes only CPU no running task wants. Its run raises the weight
   * (RunCgroup.weigh) and takes it over; no process is moved into a cgroup on the way to the
   * task's first model request (a move costs milliseconds per process and controller).
   */
  async createWarm(name: string, limits: RunLimits): Promise<RunCgroup> {
    const group = await this.create(name, limits);
    try {
      await group.weigh('idle');
    } catch (error) {
      await group.destroy();
      throw error;
    }
    return group;
  }

  async create(name: string, limits: RunLimits): Promise<RunCgroup> {
    await this.prepare();
    const quota = String(Math.round(limits.cpus * CPU_PERIOD_US));
    if (this.layout.version === 2) {
      const dir = join(this.layout.base, name);
      await mkdir(dir);
      await writeFile(join(dir, 'memory.max'), String(limits.memoryBytes));
      if (existsSync(join(dir, 'memory.swap.max'))) await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => undefined);
      await writeFile(join(dir, 'pids.max'), String(limits.pids));
      if (existsSync(join(dir, 'cpu.max'))) await writeFile(join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
      return new RunCgroup(this.layout, [dir]);
    }
    const dirs: string[] = [];
    const cgroup = () => new RunCgroup(this.layout, dirs);
    try {
      const memory = join(this.layout.memory, name);
      await mkdir(memory);
      dirs.push(memory);
      await writeFile(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // Without swap accounting the file is absent; with it, swap must not extend the limit.
      if (existsSync(join(memory, 'memory.memsw.limit_in_bytes')))
        await writeFile(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => undefined);
      const pids = join(this.layout.pids, name);
      await mkdir(pids);
      dirs.push(pids);
      await writeFile(join(pids, 'pids.max'), String(limits.pids));
      if (this.layout.cpu) {
        const cpu = join(this.layout.cpu, name);
        await mkdir(cpu);
        dirs.push(cpu);
        await writeFile(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
        await writeFile(join(cpu, 'cpu.cfs_quota_us'), quota);
      }
      return cgroup();
    } catch (error) {
      await cgroup().destroy();
      throw error;
    }
  }
}
