import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import fsp = require('node:fs/promises');
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyDirectory, realDirectory, replaceFile } from './safe-paths';

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

  describe('emptyDirectory', () => {
    const skills = () => join(base, 'task', 'home', 'skills');

    it('makes a missing folder, and its missing parents', async () => {
      await expect(emptyDirectory(join(base, 'task'), skills(), 0o700)).resolves.toBe(skills());
      expect(await readdir(skills())).toEqual([]);
      expect((await lstat(skills())).mode & 0o777).toBe(0o700);
    });

    it('keeps an empty folder as it is (the same folder, not a new one)', async () => {
      await mkdir(skills(), { recursive: true });
      const before = await lstat(skills());
      await emptyDirectory(join(base, 'task'), skills());
      const after = await lstat(skills());
      expect([after.isDirectory(), after.ino]).toEqual([true, before.ino]);
    });

    it('empties a folder with files and subfolders', async () => {
      await mkdir(join(skills(), 'old_skill', 'scripts'), { recursive: true });
      await writeFile(join(skills(), 'old_skill', 'SKILL.md'), 'old\n');
      await writeFile(join(skills(), '.hidden'), 'x');
      await emptyDirectory(join(base, 'task'), skills());
      expect(await readdir(skills())).toEqual([]);
    });

    it('replaces a symlink to another folder, a file, and a symlinked parent, never touching what they point at', async () => {
      await mkdir(join(base, 'task', 'home'), { recursive: true });
      await symlink(victim, skills());
      await emptyDirectory(join(base, 'task'), skills());
      expect([(await lstat(skills())).isDirectory(), await readdir(skills())]).toEqual([true, []]);

      await rm(skills(), { recursive: true });
      await writeFile(skills(), 'not a folder');
      await emptyDirectory(join(base, 'task'), skills());
      expect([(await lstat(skills())).isDirectory(), await readdir(skills())]).toEqual([true, []]);

      await rm(join(base, 'task', 'home'), { recursive: true });
      await symlink(victim, join(base, 'task', 'home'));
      await mkdir(join(victim, 'skills'));
      await writeFile(join(victim, 'skills', 'theirs'), 'victim skill\n');
      await emptyDirectory(join(base, 'task'), skills());
      expect((await lstat(join(base, 'task', 'home'))).isDirectory()).toBe(true);
      expect(await readdir(skills())).toEqual([]);
      expect(await readFile(join(victim, 'skills', 'theirs'), 'utf8')).toBe('victim skill\n');
      expect((await readdir(victim)).sort()).toEqual(['credentials', 'skills']);
    });

    it('refuses its base itself and a path outside it', async () => {
      await expect(emptyDirectory(join(base, 'task'), join(base, 'task'))).rejects.toThrow('is ' + join(base, 'task') + ' itself');
      await expect(emptyDirectory(join(base, 'task'), victim)).rejects.toThrow('is not inside');
      expect(await readdir(victim)).toEqual(['credentials']);
    });
  });
});
