import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { WorkspacePreparer } from '../../apps/worker/src/workspace-preparer';
import { loadConfig, taskPayloadSchema } from '../../libs/contracts/src';
import { SandboxService } from '../../libs/sandbox/src';
import { canary, leaked } from './canaries';

/**
 * KNOWN HOLE (not fixed here): a bot without `model_id` runs on the service's default model, and
 * the service's OPENAI_API_KEY then becomes the Codex process's `WEGENT_CODEX_API_KEY` — inside the
 * task's sandbox, where every command of the task can read `/proc/<codex>/environ` (same PID
 * namespace, same uid). Any tenant whose bot has no model of its own can print the operator's key.
 * The hostile-task suite gives every task a key of its own, so it never saw this.
 *
 * Fix (not small): keep the default key out of the sandbox — Codex talks to a key-adding proxy of
 * the worker that only a run using the default model may use (per-run credential on a unix socket
 * bound into that run, or once runs have their own network namespace), so a task can use the
 * default model but never learn its key. `it.failing` until then; then make it a plain `it`.
 */
const base = resolve(__dirname, '../../.data/test-security', `defkey-${randomBytes(4).toString('hex')}`);
const DEFAULT_KEY = canary('defaultmodelkey');
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, child: () => silent } as never;

afterAll(() => rm(base, { recursive: true, force: true }));

describe('the service default model key and a task that uses the default model', () => {
  it.failing("is not readable by the task's commands", async () => {
    const config = loadConfig({ WORKSPACE_ROOT: join(base, 'workspace'), CODEX_MODEL: 'gpt-default', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_API_KEY: DEFAULT_KEY });
    const sandbox = new SandboxService(config, silent);
    await sandbox.onModuleInit();
    const payload = taskPayloadSchema.parse({
      task_id: 8841,
      subtask_id: 1,
      type: 'online',
      task_title: 'default model',
      subtask_title: 'default model',
      user: { id: 1, name: 'tenant', git_token: null },
      // Wegent sends `{}` when the bot has no model of its own: the service default applies.
      bot: [{ id: 1, name: 'codex', shell_type: 'Codex', agent_config: {}, system_prompt: '', mcp_servers: {}, skills: [] }],
      git_url: '',
      prompt: 'hi',
      auth_token: null,
      attachments: [],
    });
    const prepared = await new WorkspacePreparer(config, silent, sandbox).prepare(payload);
    // What Codex runs in: its environment is the run's; a task command reads it through /proc.
    const command = prepared.launch({ file: '/bin/sh', args: ['-c', "sleep 1 & cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | base64 -w0"], cwd: prepared.workDir, env: prepared.env });
    const result = await execa(command.file, command.args, { cwd: command.cwd, env: command.env, extendEnv: false, reject: false, timeout: 20_000, stdin: 'ignore' });
    const output = String(result.stdout);
    expect(output.length).toBeGreaterThan(0);
    expect(leaked(output + Buffer.from(output, 'base64').toString(), { OPENAI_API_KEY: DEFAULT_KEY })).toEqual([]);
  });
});
