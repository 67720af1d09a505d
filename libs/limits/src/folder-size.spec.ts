import { link, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { folderBytes } from './folder-size';

const KiB = 1024;
const du = async (dir: string) => Number(/^(\d+)/.exec((await execa('du', ['-sxkH', dir])).stdout)![1]) * KiB;

describe('folderBytes (the task folder measured in-process)', () => {
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'folder-size-spec-'));
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it('counts what du -sxkH counts: allocated blocks, a hard-linked file once, a symlink not followed, a sparse file as allocated', async () => {
    const dir = join(base, 'task');
    await mkdir(join(dir, 'sub', 'deeper'), { recursive: true });
    await writeFile(join(dir, 'a.bin'), Buffer.alloc(300 * KiB, 1));
    await writeFile(join(dir, 'sub', 'b.txt'), 'hello');
    await writeFile(join(dir, 'sub', 'deeper', 'c.bin'), Buffer.alloc(64 * KiB, 2));
    await writeFile(join(dir, 'empty'), '');
    const plain = await folderBytes(dir, 100);
    expect(plain).toBe(await du(dir));

    await writeFile(join(base, 'outside.bin'), Buffer.alloc(2048 * KiB, 3));
    await symlink(join(base, 'outside.bin'), join(dir, 'sub', 'outside-link'));
    await link(join(dir, 'a.bin'), join(dir, 'sub', 'a-again.bin'));
    await writeFile(join(dir, 'sparse'), '');
    await truncate(join(dir, 'sparse'), 8192 * KiB);
    const more = await folderBytes(dir, 100);
    expect(more).toBe(await du(dir));
    // Neither the linked copy, the symlink's 2 MiB target nor the sparse file's 8 MiB added data blocks.
    expect(more! - plain!).toBeLessThan(64 * KiB);
    expect(plain!).toBeGreaterThanOrEqual(364 * KiB);
  });

  it('leaves a folder of more entries than it may walk to du', async () => {
    const dir = join(base, 'many');
    await mkdir(join(dir, 'sub'), { recursive: true });
    for (let i = 0; i < 5; i++) await writeFile(join(dir, 'sub', `f${i}`), 'x');
    expect(await folderBytes(dir, 6)).toBe(await du(dir)); // 1 folder + 5 files
    expect(await folderBytes(dir, 5)).toBeUndefined();
  });

  it('gives up inside a single folder of more entries than it may walk, reading no further', async () => {
    const flat = join(base, 'flat');
    await mkdir(flat);
    for (let i = 0; i < 300; i++) await writeFile(join(flat, `f${i}`), '');
    expect(await folderBytes(flat, 299)).toBeUndefined();
    expect(await folderBytes(flat, 300)).toBe(await du(flat));
  });
});
