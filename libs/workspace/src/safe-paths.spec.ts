import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import fsp = require('node:fs/promises');
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realDirectory, replaceFile } from './safe-paths';

describe('safe paths (nothing a task planted is followed)', () => {
  let base: string;
  let victim: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'safe-paths-'));
    victim = join(base, 'victim');
    await mkdir(join(base, 'task'), { recursive: true });
    await mkdir(victim);
    await writeFile(join(victim, 'credentials'), 'victim token\n');
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it('realDirectory replaces a symlinked component by a real directory', async () => {
    await symlink(victim, join(base, 'task', 'attachments'));
    const dir = await realDirectory(join(base, 'task'), join(base, 'task', 'attachments', '7'));
    expect((await lstat(join(base, 'task', 'attachments'))).isDirectory()).toBe(true);
    await writeFile(join(dir, 'file.txt'), 'x');
    expect(await readdir(victim)).toEqual(['credentials']);
  });

  it('realDirectory: a shared parent made by another run between its check and its mkdir is used, not an error', async () => {
    const root = join(base, 'fresh-root');
    await mkdir(join(root, '.task-state'), { recursive: true });
    // The race, made certain: the check finds .task-state missing, the other run has made it by the mkdir.
    const check = jest.spyOn(fsp, 'lstat').mockRejectedValueOnce(Object.assign(new Error('ENOENT: gone'), { code: 'ENOENT' }));
    try {
      await expect(realDirectory(root, join(root, '.task-state', '1020'))).resolves.toBe(join(root, '.task-state', '1020'));
    } finally {
      check.mockRestore();
    }
    expect((await lstat(join(root, '.task-state', '1020'))).isDirectory()).toBe(true);
  });

  it('realDirectory replaces a file in the way, and refuses a path outside its base', async () => {
    await writeFile(join(base, 'task', 'home'), 'not a dir');
    await realDirectory(join(base, 'task'), join(base, 'task', 'home'));
    expect((await lstat(join(base, 'task', 'home'))).isDirectory()).toBe(true);
    await expect(realDirectory(join(base, 'task'), victim)).rejects.toThrow(`${victim} is not inside ${join(base, 'task')}`);
  });

  it('replaceFile writes a fresh file where a symlink to another task was', async () => {
    const path = join(base, 'task', 'credentials');
    await symlink(join(victim, 'credentials'), path);
    await replaceFile(path, 'own token\n');
    expect(await readFile(join(victim, 'credentials'), 'utf8')).toBe('victim token\n');
    expect(await readFile(path, 'utf8')).toBe('own token\n');
    expect((await lstat(path)).isSymbolicLink()).toBe(false);
    expect((await lstat(path)).mode & 0o777).toBe(0o600);
  });
});
