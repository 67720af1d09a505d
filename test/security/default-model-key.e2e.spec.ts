import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { ModelKeyProxy } from '../../apps/worker/src';
import { WorkspacePreparer, type PreparedWorkspace } from '../../apps/worker/src';
import { loadConfig, taskPayloadSchema } from '@wegent-codex/contracts';
import { SandboxService } from '@wegent-codex/sandbox';
import { canary, leaked } from './canaries';
import { silentLogger as silent } from '../support/memory-logger';

/**
 * A bot without `model_id` runs on the service's default model. The service's OPENAI_API_KEY must
 * still never enter the task's sandbox (where every command of the task can read Codex's
 * environment and files): Codex gets a per-run lease on the worker's key proxy instead, and the
 * worker adds the key on the way out.
 */
const base = resolve(__dirname, '../../.data/test-security', `defkey-${randomBytes(4).toString('hex')}`);
const DEFAULT_KEY = canary('defaultmodelkey');

interface Seen {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  body: string;
}
let upstream: Server;
let upstreamUrl: string;
const seen: Seen[] = [];
let proxy: ModelKeyProxy;
let prepared: PreparedWorkspace;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: {"type":"response.completed"}\n\n');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;

  const config = loadConfig({
    WORKSPACE_ROOT: join(base, 'workspace'),
    CODEX_MODEL: 'gpt-default',
    OPENAI_BASE_URL: upstreamUrl,
    OPENAI_API_KEY: DEFAULT_KEY,
  });
  const sandbox = new SandboxService(config, silent);
  await sandbox.onModuleInit();
  proxy = new ModelKeyProxy(silent);
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
  prepared = await new WorkspacePreparer(config, silent, sandbox, proxy).prepare(payload);
});

afterAll(async () => {
  await proxy.onModuleDestroy();
  await new Promise<void>((r) => upstream.close(() => r()));
  await rm(base, { recursive: true, force: true });
});

const leaseBaseUrl = async (): Promise<string> => {
  const toml = await readFile(join(prepared.codexHome, 'config.toml'), 'utf8');
  const found = /base_url = "([^"]+)"/.exec(toml);
  expect(found).not.toBeNull();
  return found![1]!;
};

describe('the service default model key and a task that uses the default model', () => {
  it("is not readable by the task's commands: not in any environment, not in CODEX_HOME", async () => {
    const script = `sleep 1 & cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; cat ${prepared.codexHome}/config.toml; ls -la ${prepared.codexHome}`;
    const command = prepared.launch({
      file: '/bin/sh',
      args: ['-c', `(${script}) | base64 -w0`],
      cwd: prepared.workDir,
      env: prepared.env,
    });
    const result = await execa(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      extendEnv: false,
      reject: false,
      timeout: 20_000,
      stdin: 'ignore',
    });
    const output = Buffer.from(String(result.stdout), 'base64').toString();
    expect(output).toContain('base_url = "http://127.0.0.1:');
    expect(leaked(`${result.stdout}\n${output}`, { OPENAI_API_KEY: DEFAULT_KEY })).toEqual([]);
    expect(prepared.env.WEGENT_CODEX_API_KEY).toBeUndefined();
  });

  it('reaches the model with the key added by the worker, only while the run lasts', async () => {
    const baseUrl = await leaseBaseUrl();
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/r\/[0-9a-f]{64}$/);
    const answer = await fetch(`${baseUrl}/responses?stream=1`, {
      method: 'POST',
      headers: { authorization: 'Bearer not-the-key', 'content-type': 'application/json' },
      body: '{"model":"gpt-default"}',
    });
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('data: {"type":"response.completed"}\n\n');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v1/responses?stream=1', body: '{"model":"gpt-default"}' });
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${DEFAULT_KEY}`);

    prepared.release();
    const after = await fetch(`${baseUrl}/responses`, { method: 'POST', body: '{}' });
    expect(after.status).toBe(404);
    expect(await after.text()).not.toContain(DEFAULT_KEY);
    expect(seen).toHaveLength(1);
  });

  it('answers an unknown lease with 404 and forwards nothing', async () => {
    const baseUrl = await leaseBaseUrl();
    const forged = baseUrl.replace(/[0-9a-f]{64}$/, 'a'.repeat(64));
    expect((await fetch(`${forged}/responses`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect(seen).toHaveLength(1);
  });
});
