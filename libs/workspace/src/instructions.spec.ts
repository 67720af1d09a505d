import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeDeveloperInstructions, loadCustomInstructions, parseCustomInstructionFiles } from './instructions';

describe('parseCustomInstructionFiles', () => {
  it.each<[string | null | undefined, string[], string[]]>([
    ['.cursorrules,.windsurfrules', ['.cursorrules', '.windsurfrules'], []],
    [' .cursorrules , ,docs/rules.md,', ['.cursorrules', 'docs/rules.md'], []],
    ['./x,a//b,.cursorrules,./.cursorrules', ['x', 'a/b', '.cursorrules'], []],
    ['/etc/passwd,../x,a/../b,a\\..\\b,.,dir/,ok', ['ok'], ['/etc/passwd', '../x', 'a/../b', 'a\\..\\b', '.', 'dir/']],
    [null, [], []],
    ['', [], []],
  ])('%j', (list, files, rejected) => {
    const parsed = parseCustomInstructionFiles(list);
    expect(parsed.files).toEqual(files);
    expect(parsed.rejected.map((r) => r.entry)).toEqual(rejected);
  });

  it('says why an entry is rejected', () => {
    expect(parseCustomInstructionFiles('/abs,../up,.').rejected).toEqual([
      { entry: '/abs', reason: 'absolute paths are not allowed' },
      { entry: '../up', reason: '".." segments are not allowed' },
      { entry: '.', reason: 'names a directory, not a file' },
    ]);
  });
});

describe('loadCustomInstructions', () => {
  let base: string;
  let repo: string;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'wegent-instructions-'));
    repo = join(base, 'repo');
    await mkdir(join(repo, 'docs'), { recursive: true });
    await writeFile(join(repo, '.cursorrules'), 'Use tabs.\n');
    await writeFile(join(repo, 'docs', 'rules.md'), '# Rules\nNo any.');
    await writeFile(join(base, 'outside.md'), 'secret outside the repo');
    await symlink(join(repo, 'docs', 'rules.md'), join(repo, 'inside-link.md'));
    await symlink(join(base, 'outside.md'), join(repo, 'outside-link.md'));
    await symlink(join(repo, 'nowhere.md'), join(repo, 'dangling.md'));
    await writeFile(join(repo, 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    await writeFile(join(repo, 'big.md'), 'x'.repeat(64));
    execFileSync('mkfifo', [join(repo, 'pipe')]);
  });

  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('reads existing files in list order and skips missing ones silently', async () => {
    const loaded = await loadCustomInstructions(repo, 'docs/rules.md,.cursorrules,.windsurfrules,dangling.md');
    expect(loaded).toEqual({
      files: [
        { name: 'docs/rules.md', content: '# Rules\nNo any.' },
        { name: '.cursorrules', content: 'Use tabs.\n' },
      ],
      skipped: [],
    });
  });

  it('follows symlinks that stay inside the repository, refuses the others', async () => {
    const loaded = await loadCustomInstructions(repo, ['inside-link.md', 'outside-link.md']);
    expect(loaded.files).toEqual([{ name: 'inside-link.md', content: '# Rules\nNo any.' }]);
    expect(loaded.skipped).toEqual([{ entry: 'outside-link.md', reason: 'is a symlink pointing outside the repository' }]);
  });

  it('refuses directories, FIFOs (without blocking), invalid UTF-8 and oversized files', async () => {
    const loaded = await loadCustomInstructions(repo, 'docs,pipe,latin1.txt,big.md,.cursorrules', { maxBytes: 32 });
    expect(loaded.files).toEqual([{ name: '.cursorrules', content: 'Use tabs.\n' }]);
    expect(loaded.skipped).toEqual([
      { entry: 'docs', reason: 'is not a regular file' },
      { entry: 'pipe', reason: 'is not a regular file' },
      { entry: 'latin1.txt', reason: 'is not valid UTF-8' },
      { entry: 'big.md', reason: 'is larger than 32 bytes' },
    ]);
  });

  it('applies the list rules to an array too', async () => {
    const loaded = await loadCustomInstructions(repo, [join(base, 'outside.md'), '../outside.md', '.cursorrules']);
    expect(loaded.files.map((f) => f.name)).toEqual(['.cursorrules']);
  });

  it('finds nothing in a repository that does not exist', async () => {
    expect(await loadCustomInstructions(join(base, 'missing'), '.cursorrules')).toEqual({ files: [], skipped: [] });
  });
});

describe('composeDeveloperInstructions', () => {
  const files = [
    { name: '.cursorrules', content: 'Use tabs.\n' },
    { name: 'docs/rules.md', content: '# Rules\nNo any.' },
  ];

  it('appends one delimited block per file', () => {
    expect(composeDeveloperInstructions('You are a senior engineer.', files)).toBe(
      'You are a senior engineer.\n\n' +
        '<custom_instructions file=".cursorrules">\nUse tabs.\n</custom_instructions>\n\n' +
        '<custom_instructions file="docs/rules.md">\n# Rules\nNo any.\n</custom_instructions>',
    );
  });

  it('returns the system prompt unchanged without files', () => {
    expect(composeDeveloperInstructions('Be brief.', [])).toBe('Be brief.');
    expect(composeDeveloperInstructions(null, [])).toBe('');
  });

  it('works without a system prompt, leaves blank files out and escapes the name', () => {
    expect(
      composeDeveloperInstructions('', [
        { name: 'a"<b>&', content: 'x' },
        { name: 'blank', content: ' \n' },
      ]),
    ).toBe('<custom_instructions file="a&quot;&lt;b>&amp;">\nx\n</custom_instructions>');
  });
});
