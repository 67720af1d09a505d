import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, readlink, realpath, rm, utimes, writeFile } from 'node:fs/promises';
import { devNull, tmpdir } from 'node:os';
import { dirname, join, posix, resolve, sep } from 'node:path';
import type { FileChange, GitSnapshot, TaskCommit } from '@wegent-codex/contracts';
import { DEFAULT_GIT_TIMEOUTS, isolatedGitEnv, runGit, type CommandWrapper } from './git-command';

/**
 * The workbench's git data (docs/protocol/wegent-protocol.md §7.2), read from the clone with plain git.
 *
 * Choices where the original (GitPython) leaves room:
 * - `committed_date` is local time without offset and without fraction (`2025-12-30T10:04:11`),
 *   exactly what `datetime.fromtimestamp(ts).isoformat()` gives; the process time zone (TZ) applies.
 * - Line counts come from `--numstat` (binary files 0), the doc's equivalent of counting patch lines.
 * - Commit stats follow GitPython's `Commit.stats`: first parent, no rename detection, a root
 *   commit against the empty tree.
 * - With no initial commit (the repository was empty when the subtask began) every commit of HEAD
 *   is the task's: committed changes are read from the empty tree. The original shows only the
 *   unstaged changes then.
 * - An initial commit the repository no longer has (history rewritten) contributes nothing:
 *   staged and unstaged changes only, no commits — as the original falls back.
 */

export interface InitialCommit {
  /** Full SHA of HEAD when the subtask began; "" for a repository without commits. */
  id: string;
  /** Its message, trimmed. */
  message: string;
}

export interface ReadGitSnapshotOptions {
  repoDir: string;
  initialCommit: InitialCommit;
  /** Payload `branch_name`. */
  sourceBranch: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Runs each git command (the task's sandbox); see CONFIG_OVERRIDES. */
  wrap?: CommandWrapper;
  /**
   * Where the index copy lives (default: the OS temp dir). Must be the worker's own, never a folder
   * of the task: the worker makes and fills it while the task's commands run. Wrapped commands get
   * the copy's folder bound in (CommandWrapper `writable`).
   */
  scratchRoot?: string;
}

/**
 * The agent owns the repository, so its config is not trusted to shape what we parse or to run
 * anything: no fsmonitor, hooks, external diff or textconv, pager or signature program; the
 * service user's config is not read at all. Filter drivers (`filter.<name>.clean`, named by the
 * repository) cannot all be switched off this way — hence `wrap`: with the sandbox on, these git
 * commands run inside the task's own boundary, where whatever the repository makes git run sees
 * only that task.
 */
const CONFIG_OVERRIDES = [
  '-c',
  'core.fsmonitor=false',
  '-c',
  'core.hooksPath=/dev/null',
  '-c',
  'core.pager=cat',
  '-c',
  'core.quotePath=false',
  '-c',
  'log.showRoot=true',
  '-c',
  'log.showSignature=false',
  '-c',
  'gpg.program=false',
  '-c',
  'protocol.allow=never',
];
const DIFF_FLAGS = ['--no-color', '--no-ext-diff', '--no-textconv', '--no-relative'];

function snapshotGit(repoDir: string, timeoutMs: number, signal?: AbortSignal, wrap?: CommandWrapper, scratchRoot = tmpdir()) {
  // The ceiling: a repoDir that is no repository must not be read as part of one above it.
  const env = { ...isolatedGitEnv({ globalConfig: devNull }), GIT_CEILING_DIRECTORIES: dirname(resolve(repoDir)) };
  const run = (args: string[], extraEnv: Record<string, string> = {}, writable?: string[]) =>
    runGit(['-C', repoDir, ...CONFIG_OVERRIDES, ...args], {
      env: { ...env, ...extraEnv },
      timeoutMs,
      signal,
      wrap,
      writable,
      cwd: wrap ? repoDir : undefined,
    });
  return {
    run,
    scratchRoot,
    /** stdout of a command that must succeed. */
    async output(args: string[], extraEnv?: Record<string, string>, writable?: string[]): Promise<string> {
      const result = await run(args, extraEnv, writable);
      if (!result.ok) throw new Error(`git ${args[0]} failed in ${repoDir}: ${result.failure}`);
      return result.stdout;
    },
  };
}

type SnapshotGit = ReturnType<typeof snapshotGit>;

/** HEAD's SHA, or null when the repository has no commit yet; throws when it is no repository. */
async function headOf(git: SnapshotGit, repoDir: string): Promise<string | null> {
  const result = await git.run(['rev-parse', '--verify', '-q', 'HEAD^{commit}']);
  if (result.ok) return result.stdout.trim();
  if (result.exitCode === 1 && result.stderr.trim() === '') return null;
  throw new Error(`git rev-parse failed in ${repoDir}: ${result.failure}`);
}

/** HEAD's id and trimmed message, taken when a subtask begins (the 55 callback). */
export async function initialCommitOf(
  repoDir: string,
  options: { timeoutMs?: number; signal?: AbortSignal; wrap?: CommandWrapper } = {},
): Promise<InitialCommit> {
  const git = snapshotGit(repoDir, options.timeoutMs ?? DEFAULT_GIT_TIMEOUTS.commandMs, options.signal, options.wrap);
  const head = await headOf(git, repoDir);
  if (!head) return { id: '', message: '' };
  const message = await git.output(['log', '-1', '--encoding=UTF-8', '--format=%B', head, '--']);
  return { id: head, message: message.trim() };
}

interface RawEntry {
  status: string;
  oldPath: string;
  newPath: string;
}

/**
 * `git diff --raw --numstat -z` output → file changes, in git's order. The raw records come
 * first (`:<modes> <shas> <status>\0path\0`, two paths for renames and copies), then one numstat
 * record per raw record (`added\tremoved\tpath\0`, or `added\tremoved\t\0old\0new\0`); `-` counts
 * (binary) are 0.
 */
export function parseRawNumstat(output: string): FileChange[] {
  const tokens = output.split('\0');
  const raw: RawEntry[] = [];
  let i = 0;
  while (i < tokens.length && tokens[i].startsWith(':')) {
    const status = tokens[i].slice(tokens[i].lastIndexOf(' ') + 1).charAt(0);
    const twoPaths = status === 'R' || status === 'C';
    raw.push({ status, oldPath: tokens[i + 1] ?? '', newPath: tokens[twoPaths ? i + 2 : i + 1] ?? '' });
    i += twoPaths ? 3 : 2;
  }
  const counts: { path: string; added: number; removed: number }[] = [];
  const count = (value: string) => (/^\d+$/.test(value) ? Number(value) : 0);
  for (; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === '') continue;
    const first = token.indexOf('\t');
    const second = token.indexOf('\t', first + 1);
    if (first < 0 || second < 0) continue;
    let path = token.slice(second + 1);
    if (path === '') {
      path = tokens[i + 2] ?? '';
      i += 2;
    }
    counts.push({ path, added: count(token.slice(0, first)), removed: count(token.slice(first + 1, second)) });
  }
  // One numstat record per raw record; should that ever not hold, match by path instead.
  const byPath = new Map(counts.map((c) => [c.path, c]));
  return raw.map((entry, index) => {
    const lines = counts.length === raw.length ? counts[index] : byPath.get(entry.newPath);
    return {
      old_path: entry.oldPath,
      new_path: entry.newPath,
      new_file: entry.status === 'A',
      renamed_file: entry.status === 'R',
      deleted_file: entry.status === 'D',
      added_lines: lines?.added ?? 0,
      removed_lines: lines?.removed ?? 0,
      diff_title: posix.basename(entry.newPath),
    };
  });
}

/** The union keyed by path (`new_path`): a later list replaces an entry in its original place. */
export function unionFileChanges(...lists: FileChange[][]): FileChange[] {
  const byPath = new Map<string, FileChange>();
  for (const list of lists) for (const change of list) byPath.set(change.new_path, change);
  return [...byPath.values()];
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/** Local time, ISO form without offset or fraction (Python's `datetime.fromtimestamp(s).isoformat()`). */
export function isoLocalTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  return `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `git log -z --format=%H%x00%an%x00%ae%x00%ct%x00%B`: five fields per commit, NUL-terminated. */
export function parseCommitLog(output: string): Omit<TaskCommit, 'stats'>[] {
  const tokens = output.split('\0');
  const commits: Omit<TaskCommit, 'stats'>[] = [];
  for (let i = 0; i + 4 < tokens.length; i += 5) {
    const [id, author, email, time, message] = tokens.slice(i, i + 5);
    commits.push({
      commit_id: id,
      short_id: id.slice(0, 8),
      message: message.trim(),
      author,
      author_email: email,
      committed_date: isoLocalTime(Number(time)),
    });
  }
  return commits;
}

const COMMIT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** `git log -z --numstat --format=%H`: a commit id, then its numstat records (the first after a newline). */
export function parseCommitStats(output: string): Map<string, TaskCommit['stats']> {
  const stats = new Map<string, TaskCommit['stats']>();
  let current: TaskCommit['stats'] | undefined;
  for (const raw of output.split('\0')) {
    const token = raw.replace(/^\n+/, '');
    if (token === '') continue;
    if (COMMIT_ID.test(token)) {
      current = { files_changed: 0, insertions: 0, deletions: 0 };
      stats.set(token, current);
      continue;
    }
    const match = /^(\d+|-)\t(\d+|-)\t/.exec(token);
    if (!match || !current) continue;
    current.files_changed += 1;
    current.insertions += match[1] === '-' ? 0 : Number(match[1]);
    current.deletions += match[2] === '-' ? 0 : Number(match[2]);
  }
  return stats;
}

export async function readGitSnapshot(options: ReadGitSnapshotOptions): Promise<GitSnapshot> {
  const { repoDir, initialCommit, sourceBranch } = options;
  const git = snapshotGit(repoDir, options.timeoutMs ?? DEFAULT_GIT_TIMEOUTS.commandMs, options.signal, options.wrap, options.scratchRoot);
  const head = await headOf(git, repoDir);

  const branch = await git.run(['symbolic-ref', '-q', '--short', 'HEAD']);
  const currentBranch = branch.ok ? branch.stdout.trim() : '';

  // Where "the task's" history starts: the initial commit, or nothing at all for a repository
  // that had no commit; null when the initial commit is unknown here.
  let base: string | null = null;
  let range: string[] | null = null;
  if (head && initialCommit.id) {
    const known = await git.run(['cat-file', '-e', `${initialCommit.id}^{commit}`]);
    if (known.ok) {
      base = initialCommit.id;
      range = [`${initialCommit.id}..${head}`];
    }
  } else if (head) {
    base = (await git.output(['hash-object', '-t', 'tree', '--stdin'])).trim();
    range = [head];
  }

  const diff = async (args: string[], env?: Record<string, string>, writable?: string[]) =>
    parseRawNumstat(await git.output(['diff', ...DIFF_FLAGS, '-M', '--raw', '--numstat', '-z', ...args, '--'], env, writable));
  const committed = head && base && base !== head ? await diff([base, head]) : [];
  const [staged, unstaged] = await withIndexCopy(git, repoDir, async (env, writable) => [
    await diff(['--cached'], env, writable),
    await diff([], env, writable),
  ]);

  const taskCommits = head && range && head !== initialCommit.id ? await commitsIn(git, range) : [];

  return {
    initial_commit_id: initialCommit.id,
    initial_commit_message: initialCommit.message,
    source_branch: sourceBranch,
    target_branch: currentBranch && currentBranch !== sourceBranch ? currentBranch : '',
    file_changes: unionFileChanges(committed, staged, unstaged),
    task_commits: taskCommits,
  };
}

/**
 * Runs `read` against a copy of the index. `git diff` refreshes the index's stat data and writes
 * it back under index.lock (GIT_OPTIONAL_LOCKS=0 does not stop it); on the real index that lock could
 * make the agent's own `git add`/`git commit` fail mid-run. The copy takes the refresh instead.
 *
 * This part runs in the worker, outside the sandbox, while the task's commands run: any path below
 * the repository may be swapped for a symlink between two system calls. So the copy's folder is the
 * worker's own (not the task's, bound into the diff commands only), and the index is read from one
 * open file that must be a regular file inside the repository — whatever the path named a moment
 * before (test/security/workbench-race.spec.ts).
 */
async function withIndexCopy<T>(
  git: SnapshotGit,
  repoDir: string,
  read: (env: Record<string, string>, writable: string[]) => Promise<T>,
): Promise<T> {
  const gitDir = (await git.output(['rev-parse', '--absolute-git-dir'])).trim();
  await mkdir(git.scratchRoot, { recursive: true, mode: 0o700 });
  const scratch = await mkdtemp(join(git.scratchRoot, 'wegent-git-index-'));
  try {
    const index = join(scratch, 'index');
    // Anything else (absent, a symlink, a FIFO, a file outside the repository) counts as empty,
    // as an absent index does: nothing ever added.
    const own = await ownIndex(join(gitDir, 'index'), repoDir);
    if (own) {
      await writeFile(index, own.content, { flag: 'wx', mode: 0o600 });
      // Git tells a file changed in the second it was added ("racily clean") by comparing entry times
      // with the index file's own mtime: a copy must keep it, or such a change is never seen.
      await utimes(index, own.mtime, own.mtime);
    }
    return await read({ GIT_INDEX_FILE: index }, [scratch]);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The bytes and mtime of `path` if, once opened (no symlink as last part), it is a regular file inside `repoDir`. */
async function ownIndex(path: string, repoDir: string): Promise<{ content: Buffer; mtime: Date } | undefined> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (!handle) return undefined;
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return undefined;
    // Where the open file really is (a swapped parent folder shows here), not where the path pointed.
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    const root = await realpath(repoDir);
    if (!opened || !opened.startsWith(root + sep)) return undefined;
    return { content: await handle.readFile(), mtime: stat.mtime };
  } finally {
    await handle.close();
  }
}

/** Commits of `range`, oldest first, with GitPython's stats. */
async function commitsIn(git: SnapshotGit, range: string[]): Promise<TaskCommit[]> {
  const log = await git.output(['log', '--reverse', '-z', '--encoding=UTF-8', '--format=%H%x00%an%x00%ae%x00%ct%x00%B', ...range, '--']);
  const commits = parseCommitLog(log);
  if (commits.length === 0) return [];
  const numstat = await git.output([
    'log',
    '--reverse',
    '-z',
    '--format=%H',
    '--numstat',
    '--no-renames',
    '--diff-merges=first-parent',
    ...DIFF_FLAGS,
    ...range,
    '--',
  ]);
  const stats = parseCommitStats(numstat);
  return commits.map((commit) => ({ ...commit, stats: stats.get(commit.commit_id) ?? { files_changed: 0, insertions: 0, deletions: 0 } }));
}
