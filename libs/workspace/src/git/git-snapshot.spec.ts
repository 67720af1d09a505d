import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { commitListSummary } from '@wegent-codex/event-log';
import { gitSnapshotSchema, type FileChange } from '@wegent-codex/contracts';
import { git } from '../../../../test/fixtures/git-http-server';
import { BwrapLauncher } from '@wegent-codex/sandbox';
import { initialCommitOf, isoLocalTime, parseCommitStats, parseRawNumstat, readGitSnapshot, unionFileChanges } from './git-snapshot';

jest.setTimeout(60_000);

const base = join(__dirname, '../../../../.data/test-git', `snapshot-${randomBytes(4).toString('hex')}`);
let repoCount = 0;

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

const lines = (n: number, prefix = 'line') => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}\n`).join('');

async function write(repo: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(repo, name)), { recursive: true });
    await writeFile(join(repo, name), content);
  }
}

async function newRepo(branch = 'main'): Promise<string> {
  const repo = join(base, `repo-${++repoCount}`);
  await mkdir(repo, { recursive: true });
  await git(repo, ['init', '-q', '-b', branch]);
  return repo;
}

/** Commits everything with a fixed date, so committed_date is known. */
async function commitAll(repo: string, message: string, date: string, author = 'Seed Author'): Promise<string> {
  await git(repo, ['add', '-A']);
  await git(repo, ['commit', '-q', '-m', message], { GIT_COMMITTER_DATE: date, GIT_AUTHOR_DATE: date, GIT_AUTHOR_NAME: author });
  return (await git(repo, ['rev-parse', 'HEAD'])).trim();
}

const change = (newPath: string, fields: Partial<FileChange> = {}): FileChange => ({
  old_path: newPath,
  new_path: newPath,
  new_file: false,
  renamed_file: false,
  deleted_file: false,
  added_lines: 0,
  removed_lines: 0,
  diff_title: newPath.split('/').pop()!,
  ...fields,
});

describe('readGitSnapshot', () => {
  let repo: string;
  let initial: { id: string; message: string };
  let first: string;
  let second: string;

  beforeAll(async () => {
    repo = await newRepo();
    await write(repo, {
      'a.txt': lines(6),
      'keep.txt': 'keep\n',
      'old-name.txt': lines(10, 'rename me'),
      'gone.txt': 'x\ny\n',
      'staged-del.txt': 's\n',
      'bin.dat': Buffer.from([0, 1, 2, 3, 0, 255]),
      'docs/readme.md': 'r\n',
      'sp ace/ü.txt': 'u\n',
    });
    await commitAll(repo, '  Initial import  \n\n', '2025-12-30T09:00:00+08:00');
    initial = await initialCommitOf(repo);

    // Commit 1: modify, add, delete.
    await write(repo, { 'a.txt': lines(6).replace('line 3\n', 'line three\n') + 'line 7\n', 'src/new.ts': lines(3, 'new') });
    await rm(join(repo, 'gone.txt'));
    first = await commitAll(repo, '\nAdd feature\n\nWith a body.\n\n', '2025-12-30T10:04:11+08:00', 'Ünï Author');
    // Commit 2: a pure rename and a binary change.
    await git(repo, ['mv', 'old-name.txt', 'new-name.txt']);
    await write(repo, { 'bin.dat': Buffer.from([0, 9, 9, 9, 0, 255]) });
    second = await commitAll(repo, 'Rename old name', '2025-12-30T10:05:00+08:00');

    // Staged: a deletion and a new file.
    await git(repo, ['rm', '-q', 'staged-del.txt']);
    await write(repo, { 'staged.ts': 'export {};\n' });
    await git(repo, ['add', 'staged.ts']);
    // Unstaged: two modifications, one of a file the task added in a commit.
    await write(repo, { 'docs/readme.md': 'r\nmore\n', 'src/new.ts': `${lines(3, 'new')}new 4\n`, 'sp ace/ü.txt': 'u\nv\n' });
    // Untracked: never listed.
    await write(repo, { 'untracked.txt': 'not added\n' });
  });

  it('records the initial commit (full SHA, trimmed message)', () => {
    expect(initial.id).toMatch(/^[0-9a-f]{40}$/);
    expect(initial.message).toBe('Initial import');
  });

  it('unions committed, staged and unstaged changes by path, later ones replacing earlier ones', async () => {
    const snapshot = await readGitSnapshot({ repoDir: repo, initialCommit: initial, sourceBranch: 'main' });
    expect(gitSnapshotSchema.parse(snapshot)).toEqual(snapshot);
    expect(snapshot.file_changes).toEqual([
      // committed (initial → HEAD), git's order
      change('a.txt', { added_lines: 2, removed_lines: 1 }),
      change('bin.dat'),
      change('gone.txt', { deleted_file: true, removed_lines: 2 }),
      change('new-name.txt', { old_path: 'old-name.txt', renamed_file: true }),
      // replaced in place by the unstaged modification below
      change('src/new.ts', { added_lines: 1 }),
      // staged (HEAD → index)
      change('staged-del.txt', { deleted_file: true, removed_lines: 1 }),
      change('staged.ts', { new_file: true, added_lines: 1 }),
      // unstaged (index → work tree)
      change('docs/readme.md', { added_lines: 1 }),
      change('sp ace/ü.txt', { added_lines: 1, diff_title: 'ü.txt' }),
    ]);
    expect(snapshot.file_changes.map((c) => c.new_path)).not.toContain('untracked.txt');
  });

  it('lists the commits since the initial one, oldest first, with GitPython-style stats', async () => {
    const snapshot = await readGitSnapshot({ repoDir: repo, initialCommit: initial, sourceBranch: 'main' });
    expect(snapshot.task_commits).toEqual([
      {
        commit_id: first,
        short_id: first.slice(0, 8),
        message: 'Add feature\n\nWith a body.',
        author: 'Ünï Author',
        author_email: 'seed@example.com',
        committed_date: isoLocalTime(Date.parse('2025-12-30T10:04:11+08:00') / 1000),
        stats: { files_changed: 3, insertions: 5, deletions: 3 },
      },
      {
        commit_id: second,
        short_id: second.slice(0, 8),
        message: 'Rename old name',
        author: 'Seed Author',
        author_email: 'seed@example.com',
        committed_date: isoLocalTime(Date.parse('2025-12-30T10:05:00+08:00') / 1000),
        // No rename detection in commit stats (as GitPython): a delete and an add; binary counts 0.
        stats: { files_changed: 3, insertions: 10, deletions: 10 },
      },
    ]);
    expect(snapshot).toMatchObject({ initial_commit_id: initial.id, initial_commit_message: 'Initial import', source_branch: 'main' });
  });

  it('gives the summary its data: commit ids and trimmed messages (§7.3)', async () => {
    const snapshot = await readGitSnapshot({ repoDir: repo, initialCommit: initial, sourceBranch: 'main' });
    expect(commitListSummary(snapshot.task_commits)).toBe(
      `### commit id: ${first}\nAdd feature\n\nWith a body.\n\n---\n\n### commit id: ${second}\nRename old name\n\n---\n`,
    );
  });

  it('has no commits when HEAD is the initial commit', async () => {
    const head = await initialCommitOf(repo);
    const snapshot = await readGitSnapshot({ repoDir: repo, initialCommit: head, sourceBranch: 'main' });
    expect(snapshot.task_commits).toEqual([]);
    // Only the uncommitted changes remain.
    expect(snapshot.file_changes.map((c) => c.new_path)).toEqual([
      'staged-del.txt',
      'staged.ts',
      'docs/readme.md',
      'sp ace/ü.txt',
      'src/new.ts',
    ]);
  });

  it('skips the committed part when the initial commit is unknown to the repository', async () => {
    const snapshot = await readGitSnapshot({ repoDir: repo, initialCommit: { id: 'f'.repeat(40), message: 'gone' }, sourceBranch: 'main' });
    expect(snapshot.task_commits).toEqual([]);
    expect(snapshot.file_changes.map((c) => c.new_path)).toEqual([
      'staged-del.txt',
      'staged.ts',
      'docs/readme.md',
      'sp ace/ü.txt',
      'src/new.ts',
    ]);
    expect(snapshot.initial_commit_id).toBe('f'.repeat(40));
  });

  it('sees a same-size change made in the second the file was added (racily clean: the index copy keeps its mtime)', async () => {
    const repo = await newRepo();
    await write(repo, { 'same.txt': 'one\n' });
    const initialId = await commitAll(repo, 'Initial', '2025-01-01T00:00:00Z');
    const added = new Date('2026-01-01T10:00:00.000Z');
    await utimes(join(repo, 'same.txt'), added, added);
    await git(repo, ['add', 'same.txt']); // the entry records that mtime
    // Rewritten in the same second, same size: only the content differs (ctime aside, which the repository may ignore).
    await git(repo, ['config', 'core.trustctime', 'false']);
    await writeFile(join(repo, 'same.txt'), 'two\n');
    await utimes(join(repo, 'same.txt'), added, added);
    // The index was written in that second too: git must compare contents, not trust the stat data.
    await utimes(join(repo, '.git', 'index'), added, added);
    const snapshot = await readGitSnapshot({ repoDir: repo, initialCommit: { id: initialId, message: 'Initial' }, sourceBranch: 'main' });
    expect(snapshot.file_changes.map((f) => f.new_path)).toEqual(['same.txt']);
  });

  it('never writes the index (no index.lock the agent could trip over)', async () => {
    const index = join(repo, '.git', 'index');
    // A touched file makes git want to refresh the index's stat data.
    const later = new Date(Date.now() + 60_000);
    await utimes(join(repo, 'keep.txt'), later, later);
    const before = await readFile(index);
    await readGitSnapshot({ repoDir: repo, initialCommit: initial, sourceBranch: 'main' });
    expect((await readFile(index)).equals(before)).toBe(true);
    // Plain `git diff` would have rewritten it.
    await git(repo, ['diff']);
    expect((await readFile(index)).equals(before)).toBe(false);
  });
});

describe('target_branch', () => {
  it('is the current branch when it differs from source_branch, else ""', async () => {
    const repo = await newRepo();
    await write(repo, { 'f.txt': 'f\n' });
    await commitAll(repo, 'one', '2025-12-30T09:00:00+08:00');
    const initial = await initialCommitOf(repo);
    const target = async (source: string) =>
      (await readGitSnapshot({ repoDir: repo, initialCommit: initial, sourceBranch: source })).target_branch;

    expect(await target('main')).toBe('');
    expect(await target('')).toBe('main');
    await git(repo, ['checkout', '-q', '-b', 'wegent/fix-login']);
    expect(await target('main')).toBe('wegent/fix-login');
    expect(await target('wegent/fix-login')).toBe('');
    await git(repo, ['checkout', '-q', '--detach']);
    expect(await target('main')).toBe('');
  });
});

describe('merges', () => {
  it('count a merge commit against its first parent', async () => {
    const repo = await newRepo();
    await write(repo, { 'f.txt': 'f\n' });
    await commitAll(repo, 'base', '2025-12-30T09:00:00+08:00');
    const initial = await initialCommitOf(repo);
    await git(repo, ['checkout', '-q', '-b', 'side']);
    await write(repo, { 'side.txt': 'one\ntwo\n' });
    await commitAll(repo, 'side work', '2025-12-30T09:01:00+08:00');
    await git(repo, ['checkout', '-q', 'main']);
    await write(repo, { 'main.txt': 'm\n' });
    await commitAll(repo, 'main work', '2025-12-30T09:02:00+08:00');
    await git(repo, ['merge', '-q', '--no-ff', '-m', 'Merge side', 'side'], { GIT_COMMITTER_DATE: '2025-12-30T09:03:00+08:00' });

    const snapshot = await readGitSnapshot({ repoDir: repo, initialCommit: initial, sourceBranch: 'main' });
    expect(snapshot.task_commits.map((c) => [c.message, c.stats])).toEqual([
      ['side work', { files_changed: 1, insertions: 2, deletions: 0 }],
      ['main work', { files_changed: 1, insertions: 1, deletions: 0 }],
      ['Merge side', { files_changed: 1, insertions: 2, deletions: 0 }],
    ]);
  });
});

describe('a repository without commits', () => {
  it("has an empty initial commit, lists staged files, and later treats every commit as the task's", async () => {
    const repo = await newRepo();
    const initial = await initialCommitOf(repo);
    expect(initial).toEqual({ id: '', message: '' });

    await write(repo, { 'first.txt': 'a\nb\n', 'untracked.txt': 'u\n' });
    await git(repo, ['add', 'first.txt']);
    expect(await readGitSnapshot({ repoDir: repo, initialCommit: initial, sourceBranch: 'main' })).toEqual({
      initial_commit_id: '',
      initial_commit_message: '',
      source_branch: 'main',
      target_branch: '',
      file_changes: [change('first.txt', { new_file: true, added_lines: 2 })],
      task_commits: [],
    });

    const sha = await commitAll(repo, 'First commit', '2025-12-30T11:00:00+08:00');
    const snapshot = await readGitSnapshot({ repoDir: repo, initialCommit: initial, sourceBranch: 'main' });
    expect(snapshot.file_changes).toEqual([
      change('first.txt', { new_file: true, added_lines: 2 }),
      change('untracked.txt', { new_file: true, added_lines: 1 }),
    ]);
    expect(snapshot.task_commits).toEqual([
      expect.objectContaining({ commit_id: sha, message: 'First commit', stats: { files_changed: 2, insertions: 3, deletions: 0 } }),
    ]);
  });

  it('rejects a directory that is no repository', async () => {
    const dir = join(base, 'not-a-repo');
    await mkdir(dir, { recursive: true });
    await expect(readGitSnapshot({ repoDir: dir, initialCommit: { id: '', message: '' }, sourceBranch: '' })).rejects.toThrow(
      /not a git repository/,
    );
    await expect(initialCommitOf(dir)).rejects.toThrow(/not a git repository/);
  });
});

describe('parsers', () => {
  it('parseRawNumstat reads renames, binaries and odd paths', () => {
    const out = [
      ':100644 100644 aaaaaaa bbbbbbb R087',
      'old\tname.txt',
      'new\tname.txt',
      ':100644 000000 aaaaaaa 0000000 D',
      'gone',
      ':100644 100644 aaaaaaa bbbbbbb M',
      ':colon',
      '3\t1\t',
      'old\tname.txt',
      'new\tname.txt',
      '0\t4\tgone',
      '-\t-\t:colon',
      '',
    ].join('\0');
    expect(parseRawNumstat(out)).toEqual([
      change('new\tname.txt', { old_path: 'old\tname.txt', renamed_file: true, added_lines: 3, removed_lines: 1 }),
      change('gone', { deleted_file: true, removed_lines: 4 }),
      change(':colon'),
    ]);
    expect(parseRawNumstat('')).toEqual([]);
  });

  it('unionFileChanges keeps first positions and last values', () => {
    expect(unionFileChanges([change('a'), change('b')], [change('a', { added_lines: 9 })], [change('c')])).toEqual([
      change('a', { added_lines: 9 }),
      change('b'),
      change('c'),
    ]);
  });

  it('parseCommitStats does not mistake a hex file name for a commit', () => {
    const id = 'a'.repeat(40);
    const out = `${id}\0\n1\t2\t${'b'.repeat(40)}\0-\t-\tbin\0${'c'.repeat(40)}\0`;
    expect([...parseCommitStats(out)]).toEqual([
      [id, { files_changed: 2, insertions: 1, deletions: 2 }],
      ['c'.repeat(40), { files_changed: 0, insertions: 0, deletions: 0 }],
    ]);
  });

  it('isoLocalTime is local time without offset or fraction (Python datetime.fromtimestamp().isoformat())', () => {
    const epoch = Date.parse('2025-12-30T02:04:11Z') / 1000;
    const text = isoLocalTime(epoch);
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    // An ISO date-time without offset is read back as local time.
    expect(new Date(text).getTime() / 1000).toBe(epoch);
  });
});

describe('readGitSnapshot on a repository whose config the task wrote', () => {
  /** A script that records that it ran (and how many processes it could see), then passes data through. */
  async function tattle(repo: string, name: string): Promise<string> {
    const path = join(repo, '.git', `${name}.sh`);
    await writeFile(path, `#!/bin/sh\nls /proc | grep -c '^[0-9]' > ${join(repo, `${name}.ran`)}\ncat\n`, { mode: 0o755 });
    return path;
  }
  const ran = (repo: string, name: string) =>
    readFile(join(repo, `${name}.ran`), 'utf8').then(
      (t) => Number(t.trim()),
      () => undefined,
    );

  it('runs no fsmonitor, external diff, textconv or pager the repository names', async () => {
    const repo = await newRepo();
    await write(repo, { 'a.md': 'one\n' });
    const initial = { id: await commitAll(repo, 'Initial', '2025-01-01T00:00:00Z'), message: 'Initial' };
    for (const [key, name] of [
      ['core.fsmonitor', 'fsmonitor'],
      ['diff.external', 'external'],
      ['diff.evil.textconv', 'textconv'],
      ['core.pager', 'pager'],
    ] as const) {
      await git(repo, ['config', key, await tattle(repo, name)]);
    }
    await write(repo, { '.gitattributes': '*.md diff=evil\n', 'a.md': 'two\n' });
    const snapshot = await readGitSnapshot({ repoDir: repo, initialCommit: initial, sourceBranch: 'main' });
    expect(snapshot.file_changes.map((f) => f.new_path)).toContain('a.md');
    for (const name of ['fsmonitor', 'external', 'textconv', 'pager'])
      expect({ name, ran: await ran(repo, name) }).toEqual({ name, ran: undefined });
  });

  it('a filter driver, which no option can switch off, runs inside the wrapper (the sandbox) when one is given', async () => {
    const launcher = new BwrapLauncher();
    const repo = await newRepo();
    await write(repo, { 'a.md': 'one\n' });
    const initial = { id: await commitAll(repo, 'Initial', '2025-01-01T00:00:00Z'), message: 'Initial' };
    await git(repo, ['config', 'filter.evil.clean', await tattle(repo, 'filter')]);
    // Another size: git must re-read the file (and run the filter) even when its mtime falls in the
    // index's second — same-size content could pass as unchanged by stat alone.
    await write(repo, { '.gitattributes': '*.md filter=evil\n', 'a.md': 'two, longer\n' });
    const scratch = join(base, `scratch-${repoCount}`);
    await mkdir(scratch, { recursive: true });
    await readGitSnapshot({
      repoDir: repo,
      initialCommit: initial,
      sourceBranch: 'main',
      scratchRoot: scratch,
      wrap: (c) => launcher.command({ ...c, cwd: c.cwd ?? repo, writable: [repo, scratch] }),
    });
    // It ran — seeing only the processes of its own PID namespace (bwrap, git, sh, ls, grep).
    const seen = await ran(repo, 'filter');
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThanOrEqual(6);
  });
});
