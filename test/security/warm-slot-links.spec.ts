import { mkdir, mkdtemp, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { taskCommandWrapper, type WarmSlotView } from '../../apps/worker/src';
import { BwrapLauncher } from '@wegent-codex/sandbox';
import { canary, leaked } from './canaries';

/**
 * A warm run: task 1's folders live in a slot's view, with symlinks at their host paths. The task
 * (which sees the view at WORKSPACE_ROOT) replaces its state folder by a link to task 2's. The
 * worker's own commands on task 1 (the workbench git every 5 s) must not follow that link on the host.
 */
describe('a warm run cannot redirect the worker’s commands to another task through its slot', () => {
  let root: string;
  let view: string;
  const victimToken = canary('victimgittoken');
  const launcher = new BwrapLauncher();

  beforeAll(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'warm-slot-links-')));
    // The victim, task 2, cold: its git credentials in its state folder.
    await mkdir(join(root, '.task-state', '2', '.wegent-git'), { recursive: true });
    await writeFile(join(root, '.task-state', '2', '.wegent-git', 'credentials'), `https://x:${victimToken}@git.example\n`);
    // Task 1, bound to a slot: folders moved into the view, host paths are links into it.
    view = join(root, '.warm', 'slot-1', 'view');
    await mkdir(join(root, '1'), { recursive: true });
    await writeFile(join(root, '1', 'own.txt'), 'task one');
    await mkdir(join(root, '.task-state', '1', '.wegent-git'), { recursive: true });
    await mkdir(join(view, '.task-state'), { recursive: true });
    for (const [from, to] of [
      [join(root, '1'), join(view, '1')],
      [join(root, '.task-state', '1'), join(view, '.task-state', '1')],
    ]) {
      await rename(from, to);
      await symlink(to, from);
    }
    // The attack, done from inside (where the view is WORKSPACE_ROOT): state folder → the victim's.
    await rm(join(view, '.task-state', '1'), { recursive: true });
    await symlink(join(root, '.task-state', '2'), join(view, '.task-state', '1'));
  });

  afterAll(() => rm(root, { recursive: true, force: true }));

  const catThrough = (slot: WarmSlotView, file: string) => {
    const wrap = taskCommandWrapper({
      launcher,
      root,
      taskDir: join(root, '1'),
      stateDir: join(root, '.task-state', '1'),
      readable: [],
      slot,
    });
    const command = wrap({ file: '/bin/cat', args: [file], cwd: join(root, '1'), env: { PATH: '/usr/bin:/bin' } });
    return execa(command.file, command.args, { cwd: root, env: command.env, extendEnv: false, reject: false, timeout: 20_000 });
  };
  const stolenFile = () => join(root, '.task-state', '1', '.wegent-git', 'credentials');

  it('binding the host paths would hand the victim’s token over (the attack is real)', async () => {
    const result = await catThrough({}, stolenFile());
    expect(leaked(result.stdout, { victimToken })).toEqual(['victimToken']);
  });

  it('with the slot’s view bound at WORKSPACE_ROOT, the link resolves inside the sandbox, to nothing', async () => {
    const result = await catThrough({ view }, stolenFile());
    expect(leaked(`${result.stdout}\n${result.stderr}`, { victimToken })).toEqual([]);
    expect(result.exitCode).not.toBe(0);
  });

  it('the task’s own files stay where the worker’s commands look for them', async () => {
    const result = await catThrough({ view }, join(root, '1', 'own.txt'));
    expect(result.stdout).toBe('task one');
  });
});
