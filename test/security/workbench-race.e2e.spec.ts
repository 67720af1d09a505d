import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ModelKeyProxy } from '../../apps/worker/src';
import { WorkspacePreparer, type PreparedWorkspace } from '../../apps/worker/src';
import { loadConfig, taskPayloadSchema } from '@wegent-codex/contracts';
import { SandboxService } from '@wegent-codex/sandbox';
import { createBareRepository } from '../fixtures/git-http-server';
import { waitUntil } from '../support/processes';
import { canary, leaked } from './canaries';
import { silentLogger as silent } from '../support/memory-logger';

jest.setTimeout(120_000);

/**
 * The workbench snapshot runs git inside the task's sandbox, but copies the index and makes its
 * scratch folder on the HOST side, while the task's commands keep running (every 5 s during a run).
 * A task that swaps what those host-side paths name at the right moment makes the worker read or
 * write through them:
 * - `.git/index` a regular file when the worker looks, a symlink to another tenant's git
 *   credentials when it copies → the copy lands in a scratch folder the task can read;
 * - the scratch root (it was `.task-state/<task>/tmp`) a symlink → the worker makes folders and
 *   writes the index copy wherever it points (another task's folder).
 * Both go through the worker's own WorkspacePreparer: its sandbox wrapper, its snapshot closure.
 */
const base = resolve(__dirname, '../../.data/test-security', `race-${randomBytes(4).toString('hex')}`);
const root = join(base, 'workspace');
const TASK = 8811;
const VICTIM = 8812;
const stateDir = join(root, '.task-state', String(TASK));
const victimState = join(root, '.task-state', String(VICTIM));
const victimCredentials = join(victimState, '.wegent-git', 'credentials');
const SECRET = canary('victimgittoken');

let prepared: PreparedWorkspace;
let repo: string;

/** A command of the task itself: in its own sandbox (the preparer's wrapper), running while the worker takes snapshots. */
function taskCommand(script: string): ChildProcess {
  const command = prepared.launch({ file: '/bin/bash', args: ['-c', script], cwd: prepared.taskDir, env: { PATH: '/usr/bin:/bin' } });
  return spawn(command.file, command.args, { cwd: command.cwd, env: command.env, stdio: 'ignore' });
}

const stop = async (child: ChildProcess) => {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
};

beforeAll(async () => {
  await mkdir(join(victimState, '.wegent-git'), { recursive: true });
  await writeFile(victimCredentials, `https://victim:${SECRET}@git.example.com\n`, { mode: 0o600 });
  const bare = await createBareRepository(join(base, 'git'), { name: 'app' });
  const config = loadConfig({ WORKSPACE_ROOT: root, ALLOW_FILE_GIT_URLS: 'true' });
  const sandbox = new SandboxService(config, silent);
  await sandbox.onModuleInit();
  const payload = taskPayloadSchema.parse({
    task_id: TASK,
    subtask_id: 1,
    type: 'online',
    task_title: 'race',
    subtask_title: 'race',
    user: { id: 1, name: 'attacker', git_token: null },
    bot: [
      {
        id: 1,
        name: 'codex',
        shell_type: 'Codex',
        agent_config: { env: { model: 'openai', model_id: 'm', api_key: 'sk-attacker', base_url: 'http://127.0.0.1:9' } },
        system_prompt: '',
        mcp_servers: {},
        skills: [],
      },
    ],
    git_url: `file://${bare}`,
    branch_name: 'main',
    prompt: 'race',
    auth_token: null,
    attachments: [],
  });
  prepared = await new WorkspacePreparer(config, silent, sandbox, new ModelKeyProxy(silent)).prepare(payload);
  repo = prepared.workDir;
  expect(repo).toBe(join(root, String(TASK), 'app'));
  expect(prepared.git).toBeDefined();
});

afterAll(() => rm(base, { recursive: true, force: true }));

describe('the workbench snapshot against a task that races it', () => {
  it('reads staged changes through its own index copy (the copy is bound into the sandboxed git)', async () => {
    const add = taskCommand(`cd ${repo} && echo new > staged.txt && git add staged.txt`);
    await new Promise((r) => add.once('exit', r));
    const snapshot = await prepared.git!();
    expect(snapshot.file_changes.map((c) => [c.new_path, c.new_file])).toEqual([['staged.txt', true]]);
  });

  it("never copies a file the task swapped in for .git/index (another tenant's credentials)", async () => {
    const loot = join(prepared.taskDir, 'loot');
    // One loop flips .git/index between the real index and a symlink to the victim's credentials
    // (a path the task cannot open itself: it is not in its sandbox); the other copies any index
    // copy holding the secret's prefix out of the scratch folder.
    const swapper = taskCommand(
      `cd ${repo}/.git && cp index real-index && exec python3 -c '
import os
while True:
    os.symlink("${victimCredentials}", "l"); os.replace("l", "index")
    os.link("real-index", "r"); os.replace("r", "index")'`,
    );
    const looter = taskCommand(
      `exec python3 -c '
import glob
while True:
    for f in glob.glob("${stateDir}/tmp/*/index"):
        try: data = open(f, "rb").read()
        except OSError: continue
        if b"https://victim" in data: open("${loot}", "ab").write(data)'`,
    );
    try {
      for (let i = 0; i < 25; i += 1) {
        await prepared.git!().catch(() => undefined);
        if ((await readFile(loot, 'utf8').catch(() => '')).length > 0) break;
      }
    } finally {
      await stop(swapper);
      await stop(looter);
    }
    const stolen = await readFile(loot, 'utf8').catch(() => '');
    expect(leaked(stolen, { VICTIM_GIT_TOKEN: SECRET })).toEqual([]);
  });

  it('never writes through a scratch folder the task replaced by a symlink', async () => {
    await rm(join(stateDir, 'tmp'), { recursive: true, force: true });
    await symlink(victimState, join(stateDir, 'tmp'));
    const seen: string[] = [];
    const watcher = watch(victimState, (_event, name) => seen.push(String(name)));
    const marker = `marker-${randomBytes(3).toString('hex')}`;
    try {
      await prepared.git!().catch(() => undefined);
      // A write of our own after git's: once the watcher reports it, it has reported every earlier one (inotify keeps order).
      await writeFile(join(victimState, marker), '');
      await waitUntil(() => seen.includes(marker), 'the watcher to report the marker file');
    } finally {
      watcher.close();
      await rm(join(victimState, marker), { force: true });
    }
    expect(seen.filter((name) => name !== marker)).toEqual([]);
  });
});
