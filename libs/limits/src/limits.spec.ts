import { cgroupLayouts, parseProcCgroup } from './cgroups';
import { ATTACH_SCRIPT, RunLimiter } from './run-limiter';
import { formatBytes, runLimitsFrom, type RunLimits } from './run-limits';

const LIMITS: RunLimits = {
  memoryBytes: 256 * 1024 * 1024,
  pids: 64,
  cpus: 0.5,
  diskBytes: 1024 * 1024,
  diskCheckMs: 60_000,
  openFiles: 128,
};

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
      {
        version: 1,
        memory: '/sys/fs/cgroup/memory/process_api/abc/wegent-codex',
        pids: '/sys/fs/cgroup/pids/wegent-codex',
        cpu: '/sys/fs/cgroup/cpu/wegent-codex',
      },
    ]);
  });

  it('nothing usable without the memory and pids controllers', () => {
    expect(cgroupLayouts('0::/', '41 31 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw')).toEqual([]);
  });
});

describe('RunLimiter: the launch prefix', () => {
  const dir = '/workspace/7';

  it('prefixes the command: attach to the cgroup files, then prlimit, then the command; env untouched, no value in argv', () => {
    const cgroup = { procsFiles: ['/cg/memory/run-1/cgroup.procs', '/cg/pids/run-1/cgroup.procs'] } as never;
    const limiter = new RunLimiter({ limits: LIMITS, cgroup, prlimit: '/usr/bin/prlimit', diskDir: dir });
    const command = limiter.wrap({ file: 'bwrap', args: ['--', 'codex'], cwd: dir, env: { KEY: 'sk-secret' } });
    expect(command).toEqual({
      file: '/bin/sh',
      args: [
        '-c',
        ATTACH_SCRIPT,
        'wegent-run-limits',
        '/cg/memory/run-1/cgroup.procs',
        '/cg/pids/run-1/cgroup.procs',
        '--',
        '/usr/bin/prlimit',
        '--nofile=128:128',
        '--fsize=1048576:1048576',
        '--',
        'bwrap',
        '--',
        'codex',
      ],
      cwd: dir,
      env: { KEY: 'sk-secret' },
    });
  });

  it('without a cgroup: a lower priority and RLIMIT_NPROC for the whole user', () => {
    const limiter = new RunLimiter({ limits: LIMITS, prlimit: '/usr/bin/prlimit', diskDir: dir, userProcesses: 384 });
    expect(limiter.wrap({ file: 'x', args: [], cwd: dir, env: {} }).args.slice(3)).toEqual([
      '--',
      'nice',
      '-n',
      '10',
      '/usr/bin/prlimit',
      '--nofile=128:128',
      '--fsize=1048576:1048576',
      '--nproc=384:384',
      '--',
      'x',
    ]);
  });

  it('RUN_LIMITS=off: the command as given', () => {
    const command = { file: 'bwrap', args: ['--', 'codex'], cwd: dir, env: { A: '1' } };
    expect(new RunLimiter({ limits: LIMITS, diskDir: dir, passthrough: true }).wrap(command)).toBe(command);
  });
});

describe('limits from the config', () => {
  it('converts MiB and names sizes the way a failed run says them', () => {
    const limits = runLimitsFrom({
      RUN_MEMORY_MB: 1536,
      RUN_PIDS: 256,
      RUN_CPUS: 1,
      RUN_DISK_MB: 4096,
      RUN_DISK_CHECK_MS: 10_000,
      RUN_OPEN_FILES: 1024,
    });
    expect(limits.memoryBytes).toBe(1610612736);
    expect(formatBytes(limits.memoryBytes)).toBe('1.5 GiB');
    expect(formatBytes(limits.diskBytes)).toBe('4 GiB');
    expect(formatBytes(256 * 1024 * 1024)).toBe('256 MiB');
  });
});
