import { randomBytes } from 'node:crypto';
import { lstat, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadConfig, taskPayloadSchema } from '@wegent-codex/contracts';
import { SandboxService } from '@wegent-codex/sandbox';
import { createBareRepository } from '../../../test/fixtures/git-http-server';
import { ModelKeyProxy } from './model-key-proxy';
import { WorkspacePreparer } from './workspace-preparer';
import { silentLogger as silent } from '../../../test/support/memory-logger';

jest.setTimeout(60_000);

const base = resolve(__dirname, '../../../.data/test-e2e', `preparer-${randomBytes(4).toString('hex')}`);
const root = join(base, 'workspace');

/**
 * The run's `started` event is appended while the workspace is prepared (apps/worker/src/task-runner.ts);
 * the clone, which cannot simply be made again by a redelivered job, waits for it.
 */
describe('WorkspacePreparer: the clone waits for the run to have begun', () => {
  let preparer: WorkspacePreparer;
  let bare: string;

  beforeAll(async () => {
    bare = await createBareRepository(join(base, 'git'), { name: 'app' });
    const config = loadConfig({ WORKSPACE_ROOT: root, ALLOW_FILE_GIT_URLS: 'true' });
    const sandbox = new SandboxService(config, silent);
    await sandbox.onModuleInit();
    preparer = new WorkspacePreparer(config, silent, sandbox, new ModelKeyProxy(silent));
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  const payload = (taskId: number, gitUrl: string) =>
    taskPayloadSchema.parse({
      task_id: taskId,
      subtask_id: 1,
      type: 'online',
      task_title: 'begun',
      subtask_title: 'begun',
      user: { id: 1, name: 'alice', git_token: null },
      bot: [
        {
          id: 1,
          name: 'codex',
          shell_type: 'Codex',
          agent_config: { env: { model: 'openai', model_id: 'm', api_key: 'sk-begun-test', base_url: 'http://127.0.0.1:9' } },
          system_prompt: '',
          mcp_servers: {},
          skills: [],
        },
      ],
      git_url: gitUrl,
      branch_name: 'main',
      prompt: 'hello',
      auth_token: null,
      attachments: [],
    });

  it('a run whose `started` could not be appended clones nothing', async () => {
    const notAppended = Promise.reject(new Error('started: Redis answered an error'));
    await expect(preparer.prepare(payload(7701, `file://${bare}`), { begun: notAppended })).rejects.toThrow(
      'started: Redis answered an error',
    );
    expect(await readdir(join(root, '7701'))).toEqual([]);
  });

  it('once `started` is appended the clone is made', async () => {
    const prepared = await preparer.prepare(payload(7702, `file://${bare}`), { begun: Promise.resolve() });
    prepared.release();
    expect(prepared.workDir).toBe(join(root, '7702', 'app'));
    expect((await lstat(join(root, '7702', 'app', '.git'))).isDirectory()).toBe(true);
  });

  it('without a repository nothing waits for it: the workspace is made while `started` is still on its way', async () => {
    const never = new Promise<never>(() => undefined);
    const prepared = await preparer.prepare(payload(7703, ''), { begun: never });
    prepared.release();
    expect(prepared.workDir).toBe(join(root, '7703'));
  });
});
