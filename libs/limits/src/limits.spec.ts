import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { cgroupLayouts, CgroupTree, parseProcCgroup } from './cgroups';
import { ATTACH_SCRIPT, RunLimiter } from './run-limiter';
import { formatBytes, runLimitsFrom, type RunLimits } from './run-limits';

const LIMITS: RunLimits = { memoryBytes: 256 * 1024 * 1024, pids: 64, cpus: 0.5, diskBytes: 1024 * 1024, diskCheckMs: 60_000, openFiles: 128 };

/** This machine's view (cgroup v1 as root, the memory controller nested under a supervisor's cgroup). */
const V1_CGROUP = ['9:name=systemd:/', '8:pids:/', '4:memory:/process_api/abc', '2:cpuacct:/', '1:cpu:/', '0::/'].join('\n');
const V1_MOUNTS = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '35 31 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 31 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '41 31 0:37 / /nonexistent/unified rw,relatime - cgroup2 cgroup2 rw', // no controllers there
].join('\n');

describe('cgroup discovery', () => {
  it('reads controller → path from /proc/self/cgroup, joined controllers included', () => {
    const map = parseProcCgroup('3:cpu,cpuacct:/a/b\n2:pids:/c\n0::/d\n');
    expect([...map.entries()]).toEqual([
      ['cpu', '/a/b'],
      ['cpuacct', '/a/b'],
      ['pids', '/c'],
      ['', '/d'],
    ]);
  });

  it('v1: one folder per controller under the process own cgroup, below wegent-codex (an empty unified mount is no v2)', () => {
    expect(cgroupLayouts(V1_CGROUP, V1_MOUNTS)).toEqual([
      { version: 1, memory: '/sys/fs/cgroup/memory/process_api/abc/wegent-codex', pids: '/sys/fs/cgroup/pids/wegent-codex', cpu: '/sys/fs/cgroup/cpu/wegent-codex' },
    ]);
  });

  it('nothing usable without the memory and pids controllers', () => {
    expect(cgroupLayouts('0::/', '41 31 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw')).toEqual([]);
  });
});

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
});

describe('RunLimiter', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'run-limiter-spec-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('prefixes the command: attach to the cgroup files, then prlimit, then the command; env untouched, no value in argv', () => {
    const cgroup = { procsFiles: ['/cg/memory/run-1/cgroup.procs', '/cg/pids/run-1/cgroup.procs'] } as never;
    const limiter = new RunLimiter({ limits: LIMITS, cgroup, prlimit: '/usr/bin/prlimit', diskDir: dir });
    const command = limiter.wrap({ file: 'bwrap', args: ['--', 'codex'], cwd: dir, env: { KEY: 'sk-secret' } });
    expect(command).toEqual({
      file: '/bin/sh',
      args: ['-c', ATTACH_SCRIPT, 'wegent-run-limits', '/cg/memory/run-1/cgroup.procs', '/cg/pids/run-1/cgroup.procs', '--', '/usr/bin/prlimit', '--nofile=128:128', '--fsize=1048576:1048576', '--', 'bwrap', '--', 'codex'],
      cwd: dir,
      env: { KEY: 'sk-secret' },
    });
  });

  it('without a cgroup: a lower priority and RLIMIT_NPROC for the whole user', () => {
    const limiter = new RunLimiter({ limits: LIMITS, prlimit: '/usr/bin/prlimit', diskDir: dir, userProcesses: 384 });
    expect(limiter.wrap({ file: 'x', args: [], cwd: dir, env: {} }).args.slice(3)).toEqual(['--', 'nice', '-n', '10', '/usr/bin/prlimit', '--nofile=128:128', '--fsize=1048576:1048576', '--nproc=384:384', '--', 'x']);
  });

  it('RUN_LIMITS=off: the command as given', () => {
    const command = { file: 'bwrap', args: ['--', 'codex'], cwd: dir, env: { A: '1' } };
    expect(new RunLimiter({ limits: LIMITS, diskDir: dir, passthrough: true }).wrap(command)).toBe(command);
  });

  it('the prefix really runs: the first process writes its own pid, raises its OOM score, and execs with the rlimits', async () => {
    const procs = join(dir, 'procs');
    const limiter = new RunLimiter({ limits: LIMITS, cgroup: { procsFiles: [procs] } as never, prlimit: '/usr/bin/prlimit', diskDir: dir });
    const command = limiter.wrap({ file: '/bin/sh', args: ['-c', 'echo "$$ $(cat /proc/self/oom_score_adj) $(ulimit -n)"'], cwd: dir, env: { PATH: '/usr/bin:/bin' } });
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
    expect(hit?.message).toMatch(/^the task folder grew to 2\.\d MiB, over its limit of 1 MiB; the run was stopped \(the folder is kept for a follow-up\)$/);
    await expect(fresh.exceeded).resolves.toBe(hit);
  });
});

describe('limits from the config', () => {
  it('converts MiB and names sizes the way a failed run says them', () => {
    const limits = runLimitsFrom({ RUN_MEMORY_MB: 1536, RUN_PIDS: 256, RUN_CPUS: 1, RUN_DISK_MB: 4096, RUN_DISK_CHECK_MS: 10_000, RUN_OPEN_FILES: 1024 });
    expect(limits.memoryBytes).toBe(1610612736);
    expect(formatBytes(limits.memoryBytes)).toBe('1.5 GiB');
    expect(formatBytes(limits.diskBytes)).toBe('4 GiB');
    expect(formatBytes(256 * 1024 * 1024)).toBe('256 MiB');
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
    const { mkdir } = await import('node:fs/promises');
    for (const name of ['run-111-1', 'run-111-2', 'run-222-1', 'probe-111-3', 'worker', 'other-111-1']) await mkdir(join(base, name));
    const tree = new CgroupTree({ version: 2, base });
    // rmdir of an empty plain folder works like rmdir of an emptied cgroup.
    expect((await tree.sweepStale((pid) => pid === 222)).sort()).toEqual(['probe-111-3', 'run-111-1', 'run-111-2']);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(base)).filter((n) => !n.startsWith('cgroup.')).sort()).toEqual(['other-111-1', 'run-222-1', 'worker']);
  });
});
