import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { FakeExecutorManager } from '../fixtures/fake-executor-manager';
import { exec, message, startFakeResponses, turn, type FakeResponses, type RecordedRequest } from '../fixtures/fake-responses';
import { FakeWegentBackend } from '../fixtures/fake-wegent-backend';
import { createBareRepository, GitHttpServer } from '../fixtures/git-http-server';
import { freePort, ServiceProcess } from '../support/service-process';
import { running } from '../support/processes';
import { ModelRouter, taskMarker } from '../support/service-app';
import { eventually } from '../support/test-config';
import { canary, leaked, type Canaries } from './canaries';

/**
 * The hostile-task suite (issue 10): the service runs as in production — its own process, every
 * secret a unique canary, Redis with a password — and a scripted model whose commands attack
 * everything a task command could reach: the worker's and the other tenant's environment through
 * /proc, argv, the other task's files, Redis over raw RESP, the API and Bull Board on loopback, a
 * symlinked attachment folder, and a repository config that makes the worker's git run a command.
 * No canary may reach the model requests, events, callbacks or logs — plain, base64 or hex.
 *
 * SANDBOX_FOR_TESTS=off runs the same suite without the sandbox: it must fail (see the report).
 */
const SANDBOX = process.env.SANDBOX_FOR_TESTS ?? 'bwrap';
const VICTIM = 8801;
const ATTACKER = 8802;
const GIT_ATTACKER = 8803;
const LOOT = '(?:KEY|TOKEN|PASS|URL|SECRET|_IV)';

function encryptToken(token: string, key: string, iv: string): string {
  const cipher = createCipheriv('aes-256-cbc', Buffer.from(key), Buffer.from(iv));
  return Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]).toString('base64');
}

/** A private redis-server with a password (in its config file, not argv), on a free port. */
async function startPasswordRedis(dir: string, password: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  await mkdir(dir, { recursive: true });
  const conf = join(dir, 'redis.conf');
  await writeFile(
    conf,
    [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'save ""', 'appendonly no', `requirepass ${password}`, ''].join('\n'),
    { mode: 0o600 },
  );
  const child = spawn('redis-server', [conf], { stdio: 'ignore' });
  const redis = new Redis({ port, password, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await redis.connect();
      await redis.ping();
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      redis.disconnect();
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  redis.disconnect();
  return { port, child };
}

/** What Codex returned to the model for one command (its output), by call id. */
function outputOf(requests: RecordedRequest[], callId: string): string {
  for (const r of requests) {
    const item = ((r.body?.input ?? []) as Record<string, any>[]).find((i) => i.type === 'function_call_output' && i.call_id === callId);
    if (item) return typeof item.output === 'string' ? item.output : JSON.stringify(item.output);
  }
  return '';
}

describe(`hostile tasks (sandbox: ${SANDBOX})`, () => {
  const base = resolve(__dirname, '../../.data/test-security', randomBytes(4).toString('hex'));
  const root = join(base, 'workspace');
  const outside = join(base, 'outside');
  const canaries: Canaries = {
    API_TOKEN: canary('apitoken'),
    SECRETS_KEY: canary('secretskey'),
    GIT_TOKEN_AES_KEY: canary('aeskey', 32),
    GIT_TOKEN_AES_IV: canary('aesiv', 16),
    BOARD_PASSWORD: canary('boardpw'),
    OPENAI_API_KEY: canary('defaultmodelkey'),
    CALLBACK_PASSWORD: canary('callbackpw'),
    REDIS_PASSWORD: canary('redispw'),
    VICTIM_API_KEY: canary('victimkey'),
    VICTIM_GIT_TOKEN: canary('victimgittoken'),
    VICTIM_MCP_ENV: canary('victimmcpenv'),
  };
  const BOARD_USER = 'board-ops';
  let redis: { port: number; child: ChildProcess };
  let fake: FakeResponses;
  let router: ModelRouter;
  let em: FakeExecutorManager;
  let backend: FakeWegentBackend;
  let privateGit: GitHttpServer;
  let publicGit: GitHttpServer;
  let service: ServiceProcess;
  let apiPort: number;
  const AUTH_TOKEN = canary('victimauth');

  const api = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${canaries.API_TOKEN}`, ...(init.headers ?? {}) },
    });
    return { status: res.status, text: await res.text() };
  };
  const callbacksOf = (taskId: number, subtaskId: number) =>
    em.requests
      .filter((r) => (r.body as any)?.task_id === taskId && (r.body as any)?.subtask_id === subtaskId)
      .map((r) => r.body as Record<string, any>);
  const waitTerminal = (taskId: number, subtaskId: number, timeoutMs = 120_000) =>
    em.waitFor(
      () => callbacksOf(taskId, subtaskId).some((c) => c.progress === 100),
      timeoutMs,
      `terminal callback of ${taskId}.${subtaskId}`,
    );

  const modelKey = (key: string) => ({ env: { model: 'openai', model_id: 'wegent-e2e-model', api_key: key, base_url: fake.baseUrl } });
  const payload = (
    taskId: number,
    subtaskId: number,
    prompt: string,
    extra: Record<string, unknown> = {},
    bot: Record<string, unknown> = {},
  ) => ({
    task_id: taskId,
    subtask_id: subtaskId,
    type: 'online',
    task_title: `Task ${taskId}`,
    subtask_title: `Task ${taskId}.${subtaskId}`,
    user: { id: taskId, name: `user${taskId}`, git_token: null },
    bot: [
      {
        id: 1,
        name: 'codex',
        shell_type: 'Codex',
        agent_config: modelKey(canary('attackerkey')),
        system_prompt: '',
        mcp_servers: {},
        skills: [],
        ...bot,
      },
    ],
    git_url: '',
    prompt: `${taskMarker(taskId)} ${prompt}`,
    auth_token: null,
    attachments: [],
    ...extra,
  });

  beforeAll(async () => {
    await mkdir(outside, { recursive: true });
    redis = await startPasswordRedis(join(base, 'redis'), canaries.REDIS_PASSWORD);
    fake = await startFakeResponses();
    router = new ModelRouter(fake);
    em = await FakeExecutorManager.start();
    backend = await FakeWegentBackend.start({ token: AUTH_TOKEN, attachments: { 77: { body: 'attached bytes\n' } } });
    await createBareRepository(join(base, 'private'), { name: 'victim-app' });
    await createBareRepository(join(base, 'public'), {
      name: 'evil-app',
      commits: [{ message: 'Initial commit', files: { 'README.md': '# evil\n' } }],
    });
    privateGit = await GitHttpServer.start({ root: join(base, 'private'), auth: { user: 'victim', token: canaries.VICTIM_GIT_TOKEN } });
    publicGit = await GitHttpServer.start({ root: join(base, 'public') });
    apiPort = await freePort();
    const callback = new URL(em.url);
    callback.username = 'em-user';
    callback.password = canaries.CALLBACK_PASSWORD;
    service = await ServiceProcess.start('hostile', ['api', 'worker', 'relay'], {
      HOST: '127.0.0.1',
      PORT: String(apiPort),
      REDIS_URL: `redis://:${canaries.REDIS_PASSWORD}@127.0.0.1:${redis.port}`,
      REDIS_PREFIX: `test-hostile-${randomBytes(4).toString('hex')}`,
      WORKSPACE_ROOT: root,
      CALLBACK_URL: callback.toString(),
      CALLBACK_COALESCE_MS: '100',
      CALLBACK_RETRY_BASE_MS: '50',
      CODEX_REQUEST_MAX_RETRIES: '0',
      CODEX_STREAM_MAX_RETRIES: '0',
      API_TOKEN: canaries.API_TOKEN,
      SECRETS_KEY: canaries.SECRETS_KEY,
      GIT_TOKEN_AES_KEY: canaries.GIT_TOKEN_AES_KEY,
      GIT_TOKEN_AES_IV: canaries.GIT_TOKEN_AES_IV,
      BOARD_USER,
      BOARD_PASSWORD: canaries.BOARD_PASSWORD,
      OPENAI_API_KEY: canaries.OPENAI_API_KEY,
      TASK_API_DOMAIN: backend.apiDomain,
      WORKER_CONCURRENCY: '3',
      SANDBOX,
      LOG_LEVEL: 'debug',
    });

    // The victim: its own model key, git token (a private clone) and MCP env value; a long command
    // keeps its Codex process alive while the attacker runs.
    router.script(
      VICTIM,
      turn([exec('sleep 20; echo victim-done', { callId: 'victim-sleep', yieldTimeMs: 30_000 })]),
      turn([message('Victim done.', { phase: 'final_answer' })]),
    );
    const victim = payload(
      VICTIM,
      1,
      'Work on the app.',
      {
        user: {
          id: 1,
          name: 'victim',
          git_domain: '127.0.0.1',
          git_token: encryptToken(canaries.VICTIM_GIT_TOKEN, canaries.GIT_TOKEN_AES_KEY, canaries.GIT_TOKEN_AES_IV),
          git_login: 'victim',
          git_email: 'v@example.com',
          user_name: 'victim',
        },
        git_url: privateGit.url('victim-app'),
        git_domain: '127.0.0.1',
        git_repo: 'victim/victim-app',
        branch_name: 'main',
      },
      {
        agent_config: modelKey(canaries.VICTIM_API_KEY),
        mcp_servers: { mcpServers: { secretive: { command: 'false', env: { VICTIM_MCP_SECRET: canaries.VICTIM_MCP_ENV } } } },
      },
    );
    expect((await api('/api/tasks/execute', { method: 'POST', body: JSON.stringify(victim) })).status).toBe(200);
    await fake.waitForModelRequests(1, 60_000);
    // The victim's clone is in place and its long command runs: the attacker's /proc reads find it.
    const cloned = async () => (await readdir(join(root, String(VICTIM))).catch((): string[] => [])).includes('victim-app');
    await eventually(cloned, "the victim's clone", 30_000);
    await eventually(() => running('sleep 20').length > 0, "the victim's command (sleep 20)", 30_000);

    const victimState = [join(root, '.task-state', String(VICTIM)), join(root, String(VICTIM))];
    const files = [
      ...victimState.flatMap((d) => [
        join(d, '.wegent-git', 'credentials'),
        join(d, '.wegent', 'codex-home', 'config.toml'),
        join(d, 'codex-home', 'config.toml'),
      ]),
    ].join(' ');
    router.script(
      ATTACKER,
      turn([
        exec(
          `cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -aE '${LOOT}' | sort -u > /tmp/loot; cat /tmp/loot; base64 -w0 /tmp/loot; echo; od -An -v -tx1 /tmp/loot | tr -d ' \\n'`,
          { callId: 'environ' },
        ),
      ]),
      turn([
        exec(`echo "b64:$(for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done 2>/dev/null | base64 -w0)"`, {
          callId: 'cmdline',
        }),
      ]),
      turn([
        exec(`ls -la ${root} ${root}/.task-state 2>&1; find ${root} -maxdepth 3 2>&1 | head -40; cat ${files} 2>&1 | base64 -w0`, {
          callId: 'files',
        }),
      ]),
      turn([
        exec(
          `pw=$(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -a '^REDIS_URL=' | head -1 | sed -E 's#^[^:]*://[^:]*:([^@]*)@.*#\\1#'); ` +
            `exec 3<>/dev/tcp/127.0.0.1/${redis.port} && printf 'PING\\r\\nAUTH %s\\r\\nCONFIG GET requirepass\\r\\nKEYS *\\r\\n' "$pw" >&3 && echo "b64:$(timeout 2 cat <&3 | base64 -w0)"`,
          { callId: 'redis' },
        ),
      ]),
      turn([
        exec(
          `env_of() { cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -a "^$1=" | head -1 | cut -d= -f2-; }; ` +
            `tok=$(env_of API_TOKEN); bu=$(env_of BOARD_USER); bp=$(env_of BOARD_PASSWORD); ` +
            `echo "events $(curl -s -o /tmp/ev -w '%{http_code}' -H "Authorization: Bearer $tok" http://127.0.0.1:${apiPort}/v1/tasks/${VICTIM}/subtasks/1/events)"; base64 -w0 /tmp/ev; echo; ` +
            `echo "board $(curl -s -o /dev/null -w '%{http_code}' -u "$bu:$bp" http://127.0.0.1:${apiPort}/admin/queues/api/queues)"; ` +
            `echo "board-anon $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${apiPort}/admin/queues/api/queues)"`,
          { callId: 'loopback' },
        ),
      ]),
      turn([
        exec(
          `echo "cwd: $(ls -A | tr '\n' ' ')"; ln -s ${outside} "${root}/${ATTACKER}/${ATTACKER}:executor:attachments" && echo planted`,
          { callId: 'plant' },
        ),
      ]),
      turn([message('Attack done.', { phase: 'final_answer' })]),
    );
    expect((await api('/api/tasks/execute', { method: 'POST', body: JSON.stringify(payload(ATTACKER, 1, 'Attack.')) })).status).toBe(200);
    // Bounded, and not fatal: without the sandbox an attack may break a run; each test then says which.
    const settle = (taskId: number, subtaskId: number) => waitTerminal(taskId, subtaskId, 90_000).catch(() => undefined);
    await settle(ATTACKER, 1);

    // A follow-up with an attachment: must land in the task, not where the planted link points.
    const withAttachment = payload(ATTACKER, 2, 'See [attachment:77].', {
      auth_token: AUTH_TOKEN,
      attachments: [{ id: 77, original_filename: 'notes.txt', file_extension: '.txt', file_size: 15, mime_type: 'text/plain' }],
    });
    router.script(ATTACKER, turn([message('Read it.', { phase: 'final_answer' })]));
    expect((await api('/api/tasks/execute', { method: 'POST', body: JSON.stringify(withAttachment) })).status).toBe(200);

    // The git-config escape: a filter driver the worker's own git (workbench refresh) would run.
    const repo = join(root, String(GIT_ATTACKER), 'evil-app');
    const filter = [
      '#!/bin/sh',
      `cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -aE '${LOOT}' | base64 -w0 > ${repo}/leak.b64`,
      `ls /proc | grep -c '^[0-9]' > ${repo}/leak.pids`,
      'cat',
      '',
    ].join('\n');
    router.script(
      GIT_ATTACKER,
      turn([
        exec(
          `cd ${repo} && echo ${Buffer.from(filter).toString('base64')} | base64 -d > .git/evil.sh && chmod +x .git/evil.sh && ` +
            `git config filter.evil.clean ${repo}/.git/evil.sh && printf '*.md filter=evil\\n' > .gitattributes && echo change >> README.md && ` +
            `for i in $(seq 40); do [ -s leak.pids ] && break; sleep 0.5; done; sleep 1; echo "pids $(cat leak.pids 2>&1)"; echo "leak $(cat leak.b64 2>&1)"`,
          { callId: 'git-escape', yieldTimeMs: 30_000 },
        ),
      ]),
      turn([message('Git done.', { phase: 'final_answer' })]),
    );
    const gitTask = payload(GIT_ATTACKER, 1, 'Edit the repo.', {
      git_url: publicGit.url('evil-app'),
      git_repo: 'evil/evil-app',
      branch_name: 'main',
      git_domain: '127.0.0.1',
    });
    expect((await api('/api/tasks/execute', { method: 'POST', body: JSON.stringify(gitTask) })).status).toBe(200);

    await settle(ATTACKER, 2);
    await settle(GIT_ATTACKER, 1);
    await settle(VICTIM, 1);
  }, 420_000);

  afterAll(async () => {
    await service?.signal('SIGTERM', 30_000).catch(() => service?.kill());
    redis?.child.kill('SIGTERM');
    await em?.close();
    await fake?.close();
    await backend?.close();
    await privateGit?.close();
    await publicGit?.close();
    await rm(base, { recursive: true, force: true });
  }, 60_000);

  const attackerRequests = () => fake.modelRequests().filter((r) => [ATTACKER, GIT_ATTACKER].includes(ModelRouter.taskOf(r) ?? -1));

  it('/proc/*/environ shows no secret of the worker or of the other task', () => {
    const output = outputOf(attackerRequests(), 'environ');
    expect(output).not.toBe('');
    expect(leaked(output, canaries)).toEqual([]);
  });

  it('/proc/*/cmdline shows no secret and no other process', () => {
    const output = outputOf(attackerRequests(), 'cmdline');
    expect(output).not.toBe('');
    const decoded = Buffer.from(/b64:([A-Za-z0-9+/=]*)/.exec(output)?.[1] ?? '', 'base64').toString();
    expect(decoded).toContain('app-server'); // it did read command lines: its own Codex's
    expect(leaked(output + decoded, canaries)).toEqual([]);
    expect(decoded).not.toContain('main.js');
    expect(decoded).not.toContain('redis-server');
  });

  it("the other task's folder and the service's files are not there", () => {
    const output = outputOf(attackerRequests(), 'files');
    expect(output).not.toBe('');
    expect(leaked(output, canaries)).toEqual([]);
    expect(output).not.toContain(`${root}/${VICTIM}`);
  });

  it('Redis over raw RESP refuses the task (no password inside)', () => {
    const output = outputOf(attackerRequests(), 'redis');
    const decoded = Buffer.from(/b64:([A-Za-z0-9+/=]*)/.exec(output)?.[1] ?? '', 'base64').toString();
    expect(decoded).toMatch(/NOAUTH|WRONGPASS|invalid password/i);
    expect(decoded).not.toContain('+PONG');
    expect(leaked(output + decoded, canaries)).toEqual([]);
  });

  it('the API and Bull Board on loopback answer 401 to the task', () => {
    const output = outputOf(attackerRequests(), 'loopback');
    expect(output).toContain('events 401');
    expect(output).toContain('board 401');
    expect(output).toContain('board-anon 401');
    expect(leaked(output, canaries)).toEqual([]);
  });

  it("the agent's folder shows only the user's files (no CODEX_HOME, git credentials, HOME)", () => {
    // Codex's cwd of a task without repository: nothing but what the agent made (here, nothing).
    expect(outputOf(attackerRequests(), 'plant')).toMatch(/cwd: *\n/);
  });

  it('a symlinked attachment folder does not redirect the download', async () => {
    expect(outputOf(attackerRequests(), 'plant')).toContain('planted');
    expect(await readdir(outside)).toEqual([]);
    const folder = join(root, String(ATTACKER), `${ATTACKER}:executor:attachments`);
    expect((await lstat(folder)).isDirectory()).toBe(true);
    expect(await readFile(join(folder, '2', 'notes.txt'), 'utf8')).toBe('attached bytes\n');
  });

  it("a repository's filter driver run by the worker's git stays inside the task's sandbox", () => {
    const output = outputOf(attackerRequests(), 'git-escape');
    const pids = Number(/pids (\d+)/.exec(output)?.[1]);
    const leak = Buffer.from(/leak ([A-Za-z0-9+/=]*)/.exec(output)?.[1] ?? '', 'base64').toString();
    expect(leaked(output + leak, canaries)).toEqual([]);
    // It did run — in a PID namespace of its own (bwrap, git, the filter, ls, grep).
    expect(pids).toBeGreaterThan(0);
    expect(pids).toBeLessThanOrEqual(8);
  });

  it('no canary reaches the model, the events, the callbacks or the logs', async () => {
    const bodies = fake
      .modelRequests()
      .map((r) => JSON.stringify(r.body))
      .join('\n');
    expect(leaked(bodies, canaries)).toEqual([]);
    const callbacks = em.requests.map((r) => JSON.stringify(r.body)).join('\n');
    expect(leaked(callbacks, canaries)).toEqual([]);
    let events = '';
    for (const [t, s] of [
      [VICTIM, 1],
      [ATTACKER, 1],
      [ATTACKER, 2],
      [GIT_ATTACKER, 1],
    ]) {
      const res = await api(`/v1/tasks/${t}/subtasks/${s}/events`);
      expect(res.status).toBe(200);
      events += res.text;
      // The SSE tail of a finished subtask replays every event and ends at the terminal one.
      const sse = await api(`/v1/tasks/${t}/subtasks/${s}/events`, {
        headers: { accept: 'text/event-stream' },
        signal: AbortSignal.timeout(15_000),
      });
      expect(sse.status).toBe(200);
      expect(sse.text).toContain('data:');
      events += sse.text;
    }
    expect(leaked(events, canaries)).toEqual([]);
    const logs = service.lines.map((l) => JSON.stringify(l)).join('\n') + service.stderr;
    expect(leaked(logs, canaries)).toEqual([]);
    // The victim ran to the end unharmed, with its own key.
    expect(callbacksOf(VICTIM, 1).find((c) => c.progress === 100)).toMatchObject({ status: 'COMPLETED' });
  });
});
