import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { CgroupTree } from './cgroups';
import { RunLimiter } from './run-limiter';
import type { RunLimits } from './run-limits';

/** Integration: the launch prefix and the folder check run real processes; cgroup trees are simulated in folders. */
const LIMITS: RunLimits = {
  memoryBytes: 256 * 1024 * 1024,
  pids: 64,
  cpus: 0.5,
  diskBytes: 1024 * 1024,
  diskCheckMs: 60_000,
  openFiles: 128,
};

describe('CgroupTree v2 (a delegated subtree, simulated in a folder)', () => {
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'cgroup-v2-spec-'));
    await writeFile(join(base, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    await writeFile(join(base, 'cgroup.subtree_control'), '\n');
    await writeFile(join(base, 'cgroup.procs'), '101\n102\n');
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it('moves the container processes to a leaf, enables memory, pids and cpu below, writes the run limits', async () => {
    const tree = new CgroupTree({ version: 2, base });
    const run = await tree.create('run-1', LIMITS);
    // A plain file keeps the last write: the last pid moved to the leaf.
    expect(await readFile(join(base, 'worker', 'cgroup.procs'), 'utf8')).toBe('102');
    expect(await readFile(join(base, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids +cpu');
    expect(await readFile(join(base, 'run-1', 'memory.max'), 'utf8')).toBe('268435456');
    expect(await readFile(join(base, 'run-1', 'pids.max'), 'utf8')).toBe('64');
    expect(run.procsFiles).toEqual([join(base, 'run-1', 'cgroup.procs')]);
    await writeFile(join(base, 'run-1', 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n');
    await writeFile(join(base, 'run-1', 'pids.events'), 'max 3\n');
    await writeFile(join(base, 'run-1', 'cpu.stat'), 'usage_usec 10\nnr_periods 5\nnr_throttled 4\n');
    expect(await run.counters()).toEqual({ oomKills: 1, pidsRefused: 3, cpuThrottled: 4, memoryPeak: 0 });
  });

  it("a warm process's cgroup: a run's limits from the start, CPU weight 1 (of 1–10000) until its run raises it to the default 100", async () => {
    const tree = new CgroupTree({ version: 2, base });
    const warm = await tree.createWarm('warm-7-1', LIMITS);
    expect(warm.procsFiles).toEqual([join(base, 'warm-7-1', 'cgroup.procs')]);
    expect(await readFile(join(base, 'warm-7-1', 'memory.max'), 'utf8')).toBe('268435456');
    expect(await readFile(join(base, 'warm-7-1', 'pids.max'), 'utf8')).toBe('64');
    expect(await readFile(join(base, 'warm-7-1', 'cpu.weight'), 'utf8')).toBe('1');
    expect(await warm.weigh('normal')).toBe(true);
    expect(await readFile(join(base, 'warm-7-1', 'cpu.weight'), 'utf8')).toBe('100');
  });
});

describe('CgroupTree v1 (simulated in folders)', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'cgroup-v1-spec-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it("a warm process's cgroup in every hierarchy, the run's limits, at cpu.shares 2 (the least) until its run sets the default 1024", async () => {
    const layout = { version: 1, memory: join(root, 'memory'), pids: join(root, 'pids'), cpu: join(root, 'cpu') } as const;
    for (const dir of Object.values(layout)) if (typeof dir === 'string') await mkdir(dir);
    const warm = await new CgroupTree(layout).createWarm('warm-7-2', LIMITS);
    expect(warm.procsFiles).toEqual([
      join(root, 'memory', 'warm-7-2', 'cgroup.procs'),
      join(root, 'pids', 'warm-7-2', 'cgroup.procs'),
      join(root, 'cpu', 'warm-7-2', 'cgroup.procs'),
    ]);
    expect(await readFile(join(root, 'memory', 'warm-7-2', 'memory.limit_in_bytes'), 'utf8')).toBe('268435456');
    expect(await readFile(join(root, 'pids', 'warm-7-2', 'pids.max'), 'utf8')).toBe('64');
    expect(await readFile(join(root, 'cpu', 'warm-7-2', 'cpu.cfs_quota_us'), 'utf8')).toBe('50000');
    expect(await readFile(join(root, 'cpu', 'warm-7-2', 'cpu.shares'), 'utf8')).toBe('2');
    expect(await warm.weigh('normal')).toBe(true);
    expect(await readFile(join(root, 'cpu', 'warm-7-2', 'cpu.shares'), 'utf8')).toBe('1024');
  });

  it('without the cpu controller a warm cgroup has the memory and pids limits and nothing to weigh', async () => {
    const layout = { version: 1, memory: join(root, 'memory'), pids: join(root, 'pids') } as const;
    await mkdir(layout.memory);
    await mkdir(layout.pids);
    const warm = await new CgroupTree(layout).createWarm('warm-7-3', LIMITS);
    expect(warm.dirs).toEqual([join(root, 'memory', 'warm-7-3'), join(root, 'pids', 'warm-7-3')]);
    expect(await warm.weigh('normal')).toBe(false);
    expect(await readdir(join(root, 'pids', 'warm-7-3'))).toEqual(['pids.max']);
  });
});

/** A cgroup that records what is done to it (RunLimiter's side of adopting a warm one). */
function recordingCgroup(name: string, calls: string[]) {
  return {
    procsFiles: [`/cg/${name}/cgroup.procs`],
    weigh: (level: string) => {
      calls.push(`${name} weigh ${level}`);
      return Promise.resolve(true);
    },
    counters: () => {
      calls.push(`${name} counters`);
      return Promise.resolve({ oomKills: name === 'warm' ? 1 : 0, pidsRefused: 0, cpuThrottled: 0, memoryPeak: 0 });
    },
    destroy: () => {
      calls.push(`${name} destroy`);
      return Promise.resolve({ removed: true, survivors: [] });
    },
  };
}

describe('RunLimiter.adopt: a warm process brings its own cgroup', () => {
  it("the warm cgroup becomes the run's — weighed as a run's, read and removed by the limiter — and the one made for the run goes", async () => {
    const calls: string[] = [];
    const made = recordingCgroup('made', calls);
    const warm = recordingCgroup('warm', calls);
    const limiter = new RunLimiter({ limits: LIMITS, cgroup: made as never, diskDir: tmpdir() });
    await limiter.adopt(warm as never);
    expect(calls).toEqual(['made destroy', 'warm weigh normal']);
    // The warm cgroup's counters are the run's: an OOM kill in it ends the run at its memory limit.
    expect((await limiter.check())?.limit).toBe('memory');
    const usage = await limiter.close();
    expect(usage.counters?.oomKills).toBe(1);
    expect(calls).toEqual(['made destroy', 'warm weigh normal', 'warm counters', 'warm counters', 'warm destroy']);
  });

  it('the unused cgroup that cannot be removed is a warning, never a failed run (nor an unhandled rejection)', async () => {
    const calls: string[] = [];
    const warnings: string[] = [];
    const stuck = { ...recordingCgroup('made', calls), destroy: () => Promise.reject(new Error('EBUSY: rmdir run-1-1')) };
    const limiter = new RunLimiter({ limits: LIMITS, cgroup: stuck as never, diskDir: tmpdir(), onWarning: (m) => warnings.push(m) });
    await limiter.adopt(recordingCgroup('warm', calls) as never);
    const usage = await limiter.close();
    expect(usage.survivors).toEqual([]);
    expect(warnings).toEqual(['could not remove the unused cgroup of a warm run: Error: EBUSY: rmdir run-1-1']);
    expect(calls).toEqual(['warm weigh normal', 'warm counters', 'warm destroy']);
  });

  it('with limits off there is nothing to adopt', async () => {
    const calls: string[] = [];
    const limiter = new RunLimiter({ limits: LIMITS, diskDir: tmpdir(), passthrough: true });
    await limiter.adopt(recordingCgroup('warm', calls) as never);
    await limiter.close();
    expect(calls).toEqual([]);
  });
});

describe('RunLimiter, run for real', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'run-limiter-spec-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('the prefix really runs: the first process writes its own pid, raises its OOM score, and execs with the rlimits', async () => {
    const procs = join(dir, 'procs');
    const limiter = new RunLimiter({ limits: LIMITS, cgroup: { procsFiles: [procs] } as never, prlimit: '/usr/bin/prlimit', diskDir: dir });
    const command = limiter.wrap({
      file: '/bin/sh',
      args: ['-c', 'echo "$$ $(cat /proc/self/oom_score_adj) $(ulimit -n)"'],
      cwd: dir,
      env: { PATH: '/usr/bin:/bin' },
    });
    const result = await execa(command.file, command.args, { cwd: command.cwd, env: command.env, extendEnv: false, reject: false });
    const [pid, oom, nofile] = String(result.stdout).trim().split(' ');
    expect((await readFile(procs, 'utf8')).trim()).toBe(pid); // exec kept the pid that moved itself
    expect(oom).toBe('1000');
    expect(nofile).toBe('128');
  });

  it('a cgroup that cannot be joined stops the launch (exit 125) instead of running unlimited', async () => {
    const limiter = new RunLimiter({ limits: LIMITS, cgroup: { procsFiles: [join(dir, 'missing', 'procs')] } as never, diskDir: dir });
    const command = limiter.wrap({ file: '/bin/echo', args: ['ran'], cwd: dir, env: { PATH: '/usr/bin:/bin' } });
    const result = await execa(command.file, command.args, { cwd: command.cwd, env: command.env, extendEnv: false, reject: false });
    expect(result.exitCode).toBe(125);
    expect(result.stdout).toBe('');
  });

  it('the folder limit fires when the folder grew to its size during the run, not for a folder that started over it', async () => {
    await writeFile(join(dir, 'before'), Buffer.alloc(2 * 1024 * 1024, 1)); // already over 1 MiB
    const limiter = new RunLimiter({ limits: LIMITS, diskDir: dir });
    limiter.start();
    await limiter.close(); // stops the timers; the baseline measure was started
    const fresh = new RunLimiter({ limits: LIMITS, diskDir: dir });
    await fresh.measureDisk(true);
    expect(await fresh.measureDisk()).toBeUndefined();
    await writeFile(join(dir, 'grown'), Buffer.alloc(512 * 1024, 1));
    const hit = await fresh.measureDisk();
    expect(hit?.limit).toBe('disk');
    expect(hit?.message).toMatch(
      /^the task folder grew to 2\.\d MiB, reaching its limit of 1 MiB; the run was stopped \(the folder is kept for a follow-up\)$/,
    );
    await expect(fresh.exceeded).resolves.toBe(hit);
  });
});

describe('stale run cgroups', () => {
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'cgroup-stale-spec-'));
    await writeFile(join(base, 'cgroup.controllers'), 'memory pids cpu\n');
    await writeFile(join(base, 'cgroup.subtree_control'), 'memory pids cpu\n');
    await writeFile(join(base, 'cgroup.procs'), '');
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it('removes the cgroups of dead workers only (by the pid in the name), never foreign folders', async () => {
    for (const name of [
      'run-111-1',
      'run-111-2',
      'run-222-1',
      'probe-111-3',
      'idle-111-4',
      'idle-222-2',
      'warm-111-5',
      'warm-222-3',
      'worker',
      'other-111-1',
    ])
      await mkdir(join(base, name));
    const tree = new CgroupTree({ version: 2, base });
    // rmdir of an empty plain folder works like rmdir of an emptied cgroup.
    expect((await tree.sweepStale((pid) => pid === 222)).sort()).toEqual([
      'idle-111-4',
      'probe-111-3',
      'run-111-1',
      'run-111-2',
      'warm-111-5',
    ]);
    expect((await readdir(base)).filter((n) => !n.startsWith('cgroup.')).sort()).toEqual([
      'idle-222-2',
      'other-111-1',
      'run-222-1',
      'warm-222-3',
      'worker',
    ]);
  });
});
