import { randomBytes } from 'node:crypto';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadCustomInstructions } from '@wegent-codex/workspace';
import { canary, leaked } from './canaries';

/**
 * A follow-up finds its clone where the last run left it ("Repository already cloned"), and the
 * worker reads the repository's instruction files on the host. If the task replaced the clone's
 * folder by a symlink to another tenant's repository, realpath made that repository the root —
 * so its `.cursorrules` went into this task's developer instructions.
 */
const base = resolve(__dirname, '../../.data/test-security', `planted-${randomBytes(4).toString('hex')}`);
const SECRET = canary('victimrules');

afterAll(() => rm(base, { recursive: true, force: true }));

describe("a task's repository folder replaced by a symlink (planted in an earlier run)", () => {
  it("does not make the worker read another tenant's repository instructions", async () => {
    const victimRepo = join(base, 'workspace', '8832', 'victim-app');
    const taskDir = join(base, 'workspace', '8833');
    await mkdir(victimRepo, { recursive: true });
    await mkdir(taskDir, { recursive: true });
    await writeFile(join(victimRepo, '.cursorrules'), `victim rules ${SECRET}\n`);
    const planted = join(taskDir, 'app');
    await symlink(victimRepo, planted);
    const loaded = await loadCustomInstructions(planted, '.cursorrules,.windsurfrules');
    expect(leaked(JSON.stringify(loaded), { VICTIM_RULES: SECRET })).toEqual([]);
    expect(loaded).toEqual({ files: [], skipped: [{ entry: '.', reason: 'the repository folder is a symlink' }] });
  });
});
