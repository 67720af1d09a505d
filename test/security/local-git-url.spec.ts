import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { localRepositoryBind } from '@wegent-codex/sandbox';
import { createBareRepository, git } from '../fixtures/git-http-server';

/**
 * ALLOW_FILE_GIT_URLS (tests, `npm run demo`) binds a local git_url read-only into the run. The URL
 * is the user's: `file:///` bound the whole host — the host's /proc too, so every process's
 * environment — and a path into WORKSPACE_ROOT bound another tenant's clone.
 */
const base = resolve(__dirname, '../../.data/test-security', `localgit-${randomBytes(4).toString('hex')}`);
const workspace = join(base, 'workspace');
let bare: string;
let victimClone: string;
let workTree: string;

beforeAll(async () => {
  bare = await createBareRepository(join(base, 'git'), { name: 'app' });
  victimClone = join(workspace, '8851', 'victim-app');
  await mkdir(victimClone, { recursive: true });
  await git(victimClone, ['init', '-q', '-b', 'main']);
  // The demo's kind: a work tree outside WORKSPACE_ROOT.
  workTree = join(base, 'repos', 'greeting');
  await mkdir(workTree, { recursive: true });
  await git(workTree, ['init', '-q', '-b', 'main']);
});
afterAll(() => rm(base, { recursive: true, force: true }));

describe("a local git_url and the run's read-only view", () => {
  it('binds a repository outside WORKSPACE_ROOT, nothing else', () => {
    expect(localRepositoryBind(`file://${bare}`, workspace)).toBe(bare);
    expect(localRepositoryBind(`file://${workTree}`, workspace)).toBe(workTree);
    expect(localRepositoryBind(join(base, 'repos'), workspace)).toBeUndefined();
    expect(localRepositoryBind(bare, workspace)).toBe(bare);
    expect(localRepositoryBind('file:///', workspace)).toBeUndefined();
    expect(localRepositoryBind('/', workspace)).toBeUndefined();
    expect(localRepositoryBind('/etc', workspace)).toBeUndefined();
    expect(localRepositoryBind(base, workspace)).toBeUndefined();
    expect(localRepositoryBind(`file://${victimClone}/.git`, workspace)).toBeUndefined();
    expect(localRepositoryBind(victimClone, workspace)).toBeUndefined();
    expect(localRepositoryBind('relative/app.git', workspace)).toBeUndefined();
    expect(localRepositoryBind(`${bare}/../app.git/objects/..`, workspace)).toBe(bare);
  });
});
