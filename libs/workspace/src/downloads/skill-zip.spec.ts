import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { bombZip, buildZip, skillMd, skillZip, symlinkZip, zipSlipZip } from '../../../../test/fixtures/fake-wegent-backend';
import { DEFAULT_ZIP_LIMITS, extractSkillZip, invalidSkillName, UnsafeZipError, unsafeEntryName } from './skill-zip';

const SCRATCH = resolve(__dirname, '../../../../.data/test-downloads');

describe('unsafeEntryName', () => {
  it.each(['demo/SKILL.md', 'demo/', 'demo/scripts/run.sh', 'demo/.hidden', 'demo/a.b.c'])('%j is fine', (name) =>
    expect(unsafeEntryName(name)).toBeNull(),
  );

  it.each([
    ['', 'empty'],
    ['/etc/passwd', 'absolute'],
    ['C:/Windows/x', 'absolute'],
    ['../x', '".."'],
    ['demo/../../x', '".."'],
    ['demo/..', '".."'],
    ['demo/notes..md', '".."'], // §11.8 refuses any ".." (stricter than a segment check)
    ['demo\\SKILL.md', 'backslash'],
    ['demo/a\u0000b', 'NUL'],
  ])('%j is refused (%s)', (name, why) => expect(unsafeEntryName(name)).toContain(why));
});

describe('invalidSkillName', () => {
  it.each(['demo', 'my-skill', 'my_skill.v2', 'A1'])('%j is valid', (name) => expect(invalidSkillName(name)).toBeNull());
  it.each(['', '.', '..', '.system', '.hidden', 'a/b', 'a\\b', 'a b', 'é'])('%j is invalid', (name) =>
    expect(invalidSkillName(name)).not.toBeNull(),
  );
  it('a name longer than 255 characters is invalid', () => expect(invalidSkillName('x'.repeat(256))).not.toBeNull());
});

describe('extractSkillZip', () => {
  let base: string;
  let root: string;

  beforeEach(async () => {
    await mkdir(SCRATCH, { recursive: true });
    base = await mkdtemp(join(SCRATCH, 'zip-'));
    root = join(base, 'skills');
    await mkdir(root);
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  /** Every path under `dir`, relative, sorted. */
  async function tree(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true });
    return entries.map(String).sort();
  }

  it('extracts <name>/ into the root, with the executable bit of scripts', async () => {
    const zip = await buildZip([
      { name: 'demo/', directory: true },
      { name: 'demo/SKILL.md', data: skillMd('demo') },
      { name: 'demo/scripts/run.sh', data: '#!/bin/sh\necho hi\n', mode: 0o100755 },
      { name: 'demo/empty/', directory: true },
    ]);
    const result = await extractSkillZip(zip, 'demo', root);
    expect(result).toEqual({ path: join(root, 'demo'), files: 2, bytes: expect.any(Number), hasSkillMd: true, ignored: 0 });
    expect(await tree(root)).toEqual(['demo', 'demo/SKILL.md', 'demo/empty', 'demo/scripts', 'demo/scripts/run.sh']);
    expect(await readFile(join(root, 'demo/SKILL.md'), 'utf8')).toBe(skillMd('demo'));
    expect((await stat(join(root, 'demo/scripts/run.sh'))).mode & 0o111).not.toBe(0);
    expect((await stat(join(root, 'demo/SKILL.md'))).mode & 0o111).toBe(0);
  });

  it('replaces an existing folder of the same name', async () => {
    await mkdir(join(root, 'demo'));
    await writeFile(join(root, 'demo', 'stale.txt'), 'old');
    await extractSkillZip(await skillZip('demo'), 'demo', root);
    expect(await tree(root)).toEqual(['demo', 'demo/SKILL.md']);
  });

  it('extracts only <name>/ and counts the other entries as ignored', async () => {
    const zip = await buildZip([
      { name: 'demo/SKILL.md', data: skillMd('demo') },
      { name: '.system/imagegen/SKILL.md', data: 'overwritten!' },
      { name: 'other/SKILL.md', data: skillMd('other') },
      { name: 'README.md', data: 'top level' },
    ]);
    const result = await extractSkillZip(zip, 'demo', root);
    expect(result.ignored).toBe(3);
    expect(await tree(root)).toEqual(['demo', 'demo/SKILL.md']);
  });

  it('reports a skill without SKILL.md', async () => {
    const result = await extractSkillZip(await buildZip([{ name: 'demo/readme.txt', data: 'x' }]), 'demo', root);
    expect(result.hasSkillMd).toBe(false);
  });

  it.each([
    ['parent escape', 'demo/../../escaped.txt'],
    ['plain parent', '../escaped.txt'],
    ['absolute', '/tmp/wegent-codex-escaped.txt'],
    ['backslashes', 'demo\\..\\..\\escaped.txt'],
    ['dots in a name', 'demo/notes..txt'],
  ])('refuses the whole zip on an unsafe name (%s) and writes nothing', async (_why, evil) => {
    const zip = await zipSlipZip('demo', evil);
    await expect(extractSkillZip(zip, 'demo', root)).rejects.toBeInstanceOf(UnsafeZipError);
    expect(await tree(base)).toEqual(['skills']);
  });

  it('refuses symlink entries', async () => {
    await expect(extractSkillZip(await symlinkZip('demo'), 'demo', root)).rejects.toThrow(/symlink entry "demo\/link"/);
    expect(await tree(root)).toEqual([]);
  });

  it('refuses duplicate entries', async () => {
    const zip = await buildZip([
      { name: 'demo/SKILL.md', data: 'a' },
      { name: 'demo/SKILL.md', data: 'b' },
    ]);
    await expect(extractSkillZip(zip, 'demo', root)).rejects.toThrow(/duplicate entry/);
  });

  it('refuses a zip expanding past the uncompressed limit, before writing anything', async () => {
    const zip = await bombZip('demo', { bytesPerEntry: 2 * 1024 * 1024 });
    expect(zip.length).toBeLessThan(64 * 1024);
    await expect(extractSkillZip(zip, 'demo', root, { ...DEFAULT_ZIP_LIMITS, maxUncompressedBytes: 1024 * 1024 })).rejects.toThrow(
      /uncompressed size over the limit of 1048576 bytes/,
    );
    expect(await tree(root)).toEqual([]);
  });

  it('refuses a zip with too many entries', async () => {
    const zip = await bombZip('demo', { entries: 50, bytesPerEntry: 1 });
    await expect(extractSkillZip(zip, 'demo', root, { ...DEFAULT_ZIP_LIMITS, maxEntries: 20 })).rejects.toThrow(
      /51 entries, more than the limit of 20/,
    );
  });

  it('fails on bytes that are not a zip', async () => {
    await expect(extractSkillZip(Buffer.from('not a zip at all'), 'demo', root)).rejects.toThrow(/^Invalid zip: /);
  });

  it('fails when the zip has no <name>/ folder', async () => {
    await expect(extractSkillZip(await skillZip('other'), 'demo', root)).rejects.toThrow('no "demo/" folder in the zip');
    expect(await tree(root)).toEqual([]);
  });

  it('refuses an invalid skill name before touching the disk', async () => {
    await expect(extractSkillZip(await skillZip('demo'), '..', root)).rejects.toThrow(/invalid skill name/);
  });
});
