import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { BwrapLauncher, UnsandboxedLauncher } from './bwrap-launcher';
import { probeSandbox } from './sandbox-probe';

const run = async (command: { file: string; args: string[]; cwd: string; env: Record<string, string> }) =>
  execa(command.file, command.args, {
    cwd: command.cwd,
    env: command.env,
    extendEnv: false,
    reject: false,
    timeout: 20_000,
    stdin: 'ignore',
  });

describe('BwrapLauncher', () => {
  let base: string;
  let task: string;
  let other: string;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'bwrap-spec-'));
    task = join(base, 'task');
    other = join(base, 'other');
    await execa('mkdir', ['-p', task, other]);
    await writeFile(join(other, 'secret.txt'), 'other tenant');
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  it('puts paths in argv and the environment in the environment, never a value of env in argv', () => {
    const command = new BwrapLauncher().command({
      file: '/bin/sh',
      args: ['-c', 'true'],
      cwd: task,
      env: { WEGENT_CODEX_API_KEY: 'sk-never-in-argv' },
      writable: [task],
    });
    expect(command.file).toBe('bwrap');
    expect(command.args.join(' ')).not.toContain('sk-never-in-argv');
    expect(command.args).not.toContain('--setenv');
    expect(command.env).toEqual({ WEGENT_CODEX_API_KEY: 'sk-never-in-argv' });
    // The run's folder bound at its own path; the program after `--`.
    expect(command.args.join(' ')).toContain(`--bind ${task} ${task} --chdir ${task} -- /bin/sh -c true`);
    expect(command.args.slice(0, 12)).toEqual([
      '--unshare-user',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-cgroup-try',
      '--die-with-parent',
      '--new-session',
      '--cap-drop',
      'ALL',
      '--hostname',
      'wegent-task',
      '--tmpfs',
    ]);
  });

  it('shows a run its own folder only, its own processes only, and its own environment only', async () => {
    const launcher = new BwrapLauncher();
    const script = [
      'echo "pwd=$(pwd)"',
      `echo "other=$(cat ${join(other, 'secret.txt')} 2>&1 | head -c 300)"`,
      `echo "base=$(ls -A ${base} | tr '\\n' ,)"`,
      `echo "pids=$(ls /proc | grep -c '^[0-9]')"`,
      'echo "env=$(env | sort | tr \'\\n\' ,)"',
      'echo hi > made.txt',
    ].join('; ');
    const result = await run(
      launcher.command({
        file: '/bin/sh',
        args: ['-c', script],
        cwd: task,
        env: { PATH: '/usr/bin:/bin', ONLY: 'mine' },
        writable: [task],
      }),
    );
    expect(result.exitCode).toBe(0);
    const lines = Object.fromEntries(
      String(result.stdout)
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(lines.pwd).toBe(task);
    expect(lines.other).toMatch(/No such file or directory/);
    expect(lines.base).toBe('task,');
    expect(Number(lines.pids)).toBeLessThanOrEqual(5);
    expect(lines.env).toBe(`ONLY=mine,PATH=/usr/bin:/bin,PWD=${task},`);
    expect((await execa('cat', [join(task, 'made.txt')])).stdout).toBe('hi');
  });

  it('the probe passes with bwrap, and names the cause when bwrap is missing', async () => {
    expect(await probeSandbox(new BwrapLauncher())).toEqual({ ok: true, kind: 'bwrap' });
    const missing = await probeSandbox(new BwrapLauncher({ bwrap: '/nonexistent/bwrap' }));
    expect(missing.ok).toBe(false);
    expect(missing.reason).toMatch(/^bwrap could not start a sandbox: .*install bubblewrap \(Debian: apt-get install bubblewrap\)$/s);
    expect(await probeSandbox(new UnsandboxedLauncher())).toEqual({ ok: true, kind: 'none' });
  });
});
