import { createCipheriv, randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { FakeWegentBackend, skillZip } from '../fixtures/fake-wegent-backend';
import { exec, message, turn } from '../fixtures/fake-responses';
import { createBareRepository, git, GitHttpServer } from '../fixtures/git-http-server';
import { startServiceApp, taskMarker, type ServiceApp, type ThinkingStep } from '../support/service-app';

/**
 * Parity of the task workspace, end to end with the real Codex binary: a private repository cloned
 * over HTTP with an encrypted token, git identity and hooks, custom instruction files, skills and
 * attachments from the Wegent backend (images passed to the model), and the git-derived workbench.
 */
const USER = 'alice-gh';
const TOKEN = 'glpat-e2eSECRETtoken1234567890';
const AUTH_TOKEN = 'wegent-auth-e2e-SECRET-0987654321';
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

/** user.git_token as Wegent's backend sends it: AES-256-CBC with the default key and IV, base64. */
function encryptToken(token: string): string {
  const cipher = createCipheriv('aes-256-cbc', Buffer.from('12345678901234567890123456789012'), Buffer.from('1234567890123456'));
  return Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]).toString('base64');
}

describe('e2e: workspace parity (repository, instructions, skills, attachments, workbench)', () => {
  const reposRoot = resolve(__dirname, '../../.data/test-e2e', `repos-${randomBytes(4).toString('hex')}`);
  let gitServer: GitHttpServer;
  let backend: FakeWegentBackend;
  let svc: ServiceApp;

  beforeAll(async () => {
    await createBareRepository(reposRoot, {
      name: 'app',
      githooks: true,
      commits: [
        {
          message: 'Initial commit',
          files: { 'README.md': '# app\n', '.cursorrules': 'Always answer in haiku-free prose (rule from .cursorrules).\n' },
        },
      ],
    });
    gitServer = await GitHttpServer.start({ root: reposRoot, auth: { user: USER, token: TOKEN } });
    backend = await FakeWegentBackend.start({
      token: AUTH_TOKEN,
      skills: { wiki_submit: { zip: await skillZip('wiki_submit') } },
      attachments: { 55: { body: PNG }, 56: { body: 'plain notes\n' }, 57: { status: 404 } },
    });
    svc = await startServiceApp('workspace', { env: { TASK_API_DOMAIN: backend.apiDomain } });
  }, 60_000);

  afterAll(async () => {
    await svc?.close();
    await backend?.close();
    await gitServer?.close();
    await rm(reposRoot, { recursive: true, force: true });
  }, 60_000);

  const payload = (taskId: number, overrides: Record<string, unknown> = {}) => ({
    task_id: taskId,
    subtask_id: 1,
    type: 'online',
    task_title: 'Workspace parity',
    subtask_title: 'Workspace parity - Assistant',
    // The credential's own domain is the local git server: the token goes nowhere else.
    user: {
      id: 7,
      name: 'alice',
      git_domain: new URL(gitServer.url('app')).host,
      git_token: encryptToken(TOKEN),
      git_id: '123',
      git_login: USER,
      git_email: null,
      user_name: USER,
    },
    bot: [
      {
        shell_type: 'Codex',
        agent_config: { env: { model_id: 'wegent-e2e-model', api_key: 'sk-e2e-workspace-key-000111', base_url: svc.fake.baseUrl } },
        system_prompt: 'You are careful.',
        skills: ['wiki_submit'],
      },
    ],
    git_domain: 'gitlab.example.com',
    git_repo: 'alice/app',
    branch_name: 'main',
    git_url: gitServer.url('app'),
    auth_token: AUTH_TOKEN,
    prompt: `Fix it, see [attachment:55], [attachment:56] and [attachment:57] ${taskMarker(taskId)}`,
    attachments: [
      { id: 55, original_filename: 'screen.png', file_extension: '.png', file_size: PNG.length, mime_type: 'image/png' },
      { id: 56, original_filename: '../../notes.txt', file_extension: '.txt', file_size: 12, mime_type: 'text/plain' },
      { id: 57, original_filename: 'gone.log', file_extension: '.log', file_size: 1280, mime_type: 'text/plain' },
    ],
    ...overrides,
  });

  it('clones with the token, loads instructions, skills and attachments, and reports the git workbench', async () => {
    const taskId = 9301;
    svc.router.script(
      taskId,
      turn([exec("printf 'changed\\n' >> README.md && git add README.md && git commit -qm 'Codex change' && echo committed")]),
      turn([message('Committed the change.', { phase: 'final_answer' })]),
    );
    expect((await svc.execute(payload(taskId))).status).toBe(200);
    const done = await svc.waitTerminal(taskId, 1, 90_000);
    expect(done).toMatchObject({ status: 'COMPLETED', error_message: 'Committed the change.' });
    const result = done.result as Record<string, any>;

    const repoDir = join(svc.workspaceRoot, String(taskId), 'app');
    const thinking = result.thinking as ThinkingStep[];
    expect(thinking.find((s) => s.title === 'thinking.system_message_received')?.details?.cwd).toBe(repoDir);
    expect(thinking.find((s) => s.title === 'thinking.attachments_downloaded')).toEqual({
      title: 'thinking.attachments_downloaded',
      next_action: 'continue',
      details: { count: 2 },
    });

    // The clone: token never left in .git/config; repository-local identity and hooks.
    const gitConfig = await readFile(join(repoDir, '.git', 'config'), 'utf8');
    expect(gitConfig).not.toContain(TOKEN);
    expect(gitConfig).toContain('hooksPath = .githooks');
    expect((await git(repoDir, ['config', '--local', 'user.email'])).trim()).toBe(`123+${USER}@users.noreply.github.com`);
    expect(gitServer.authorizations.length).toBeGreaterThan(0);

    // What the model saw: developer instructions with .cursorrules, the skill list, the rewritten
    // prompt with the attachment paths and the exact suffix, and the image as an input image.
    const request = JSON.stringify(svc.router.requestsOf(taskId)[0].body);
    expect(request).toContain('You are careful.');
    expect(request).toContain('rule from .cursorrules');
    expect(request).toContain('wiki_submit');
    // Attachments live in the task folder, outside the clone; the service's own files elsewhere.
    const attachmentsDir = join(svc.workspaceRoot, String(taskId), `${taskId}:executor:attachments`, '1');
    expect((await readdir(join(svc.workspaceRoot, String(taskId)))).sort()).toEqual([`${taskId}:executor:attachments`, 'app']);
    expect(request).toContain(JSON.stringify(`[Attachment downloaded to: ${join(attachmentsDir, 'screen.png')}]`).slice(1, -1));
    expect(request).toContain(JSON.stringify(`[Attachment downloaded to: ${join(attachmentsDir, 'notes.txt')}]`).slice(1, -1));
    expect(request).toContain('[Attachment 57 unavailable - download failed]');
    expect(request).toContain('- gone.log (Error: HTTP 404)');
    expect(request).toContain(JSON.stringify(`\nCurrent working directory: ${repoDir}\n project url:${gitServer.url('app')}`).slice(1, -1));
    expect(request).toContain('data:image/png;base64,');
    expect(await readFile(join(attachmentsDir, 'notes.txt'), 'utf8')).toBe('plain notes\n');
    expect(
      await readFile(join(svc.workspaceRoot, '.task-state', String(taskId), 'codex-home', 'skills', 'wiki_submit', 'SKILL.md'), 'utf8'),
    ).toContain('name: wiki_submit');

    // The workbench describes the commit the agent made during this subtask.
    const workbench = result.workbench;
    expect(workbench).toMatchObject({
      status: 'completed',
      repository: 'alice/app',
      branch: 'main',
      git_domain: 'gitlab.example.com',
      git_type: 'gitlab',
    });
    expect(workbench.git_info.initial_commit_message).toBe('Initial commit');
    expect(workbench.git_info.task_commits).toHaveLength(1);
    expect(workbench.git_info.task_commits[0]).toMatchObject({
      message: 'Codex change',
      stats: { files_changed: 1, insertions: 1, deletions: 0 },
    });
    expect(workbench.file_changes).toEqual([
      {
        old_path: 'README.md',
        new_path: 'README.md',
        new_file: false,
        renamed_file: false,
        deleted_file: false,
        added_lines: 1,
        removed_lines: 0,
        diff_title: 'README.md',
      },
    ]);
    expect(workbench.summary).toContain(`### commit id: ${workbench.git_info.task_commits[0].commit_id}\nCodex change`);

    // No secret anywhere: callbacks, events, logs.
    const encrypted = encryptToken(TOKEN);
    const redis = new Redis(svc.config.REDIS_URL);
    try {
      const events = JSON.stringify(await new EventLogRepository(redis, new RedisKeys(svc.config.REDIS_PREFIX)).read(taskId, 1));
      for (const secret of [TOKEN, encrypted, AUTH_TOKEN]) {
        expect(JSON.stringify(svc.em.requests)).not.toContain(secret);
        expect(events).not.toContain(secret);
        expect(svc.logs.join('')).not.toContain(secret);
      }
    } finally {
      redis.disconnect();
    }
  }, 120_000);

  it("keeps the clone for a follow-up and starts the workbench from the new subtask's commit", async () => {
    const taskId = 9302;
    svc.router.script(
      taskId,
      turn([exec("printf 'one\\n' > one.txt && git add one.txt && git commit -qm 'first' && echo ok")]),
      turn([message('First done.', { phase: 'final_answer' })]),
    );
    await svc.execute(payload(taskId, { attachments: [] }));
    await svc.waitTerminal(taskId, 1, 90_000);
    svc.router.script(taskId, turn([message('Nothing to change.', { phase: 'final_answer' })]));
    await svc.execute({ ...payload(taskId, { attachments: [] }), subtask_id: 2 });
    const second = await svc.waitTerminal(taskId, 2, 90_000);
    expect(second.status).toBe('COMPLETED');
    const workbench = (second.result as Record<string, any>).workbench;
    expect(workbench.git_info.initial_commit_message).toBe('first');
    expect(workbench.git_info.task_commits).toEqual([]);
    expect(await readFile(join(svc.workspaceRoot, String(taskId), 'app', 'one.txt'), 'utf8')).toBe('one\n');
  }, 120_000);

  it('fails a clone with the wrong token as a pre-execute failure, masked', async () => {
    const taskId = 9303;
    await svc.execute(
      payload(taskId, {
        user: { name: 'alice', git_token: encryptToken('glpat-wrongTOKEN-000000000000'), git_login: USER, user_name: USER },
      }),
    );
    const callbacks = await waitAll(svc, taskId);
    expect(callbacks.map((c) => [c.status, c.progress, c.error_message])).toEqual([
      ['RUNNING', 50, 'Task execution started'],
      ['RUNNING', 50, 'Thinking: Pre-execution Failed'],
      ['FAILED', 100, `Agent[Codex][${taskId}] handle: pre_execute failed.`],
    ]);
    const step = ((callbacks[1].result as Record<string, any>).thinking as ThinkingStep[])[1];
    expect(step.title).toBe('Pre-execution Failed');
    expect(step.details?.error).toContain(
      `Agent[Codex][${taskId}] Failed to clone project to ${join(svc.workspaceRoot, String(taskId), 'app')}`,
    );
    expect(JSON.stringify(callbacks)).not.toContain('wrongTOKEN');
    expect(callbacks[2].result).toBeUndefined();
  }, 60_000);

  it('refuses file:// repositories unless ALLOW_FILE_GIT_URLS is set', async () => {
    const taskId = 9304;
    await svc.execute(payload(taskId, { git_url: `file://${join(reposRoot, 'app.git')}` }));
    const callbacks = await waitAll(svc, taskId);
    expect(callbacks.map((c) => c.status)).toEqual(['RUNNING', 'RUNNING', 'FAILED']);
    expect(((callbacks[1].result as Record<string, any>).thinking as ThinkingStep[])[1].details?.error).toMatch(/file/i);
  }, 60_000);
});

async function waitAll(svc: ServiceApp, taskId: number) {
  await svc.waitTerminal(taskId, 1, 60_000);
  return svc.callbacksOf(taskId, 1);
}
