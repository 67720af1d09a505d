import { randomInt } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RpcNotification } from '@wegent-codex/contracts';
import { exec, hang, message, patch, reasoning, startFakeResponses, type FakeResponses } from '../../../test/fixtures/fake-responses';
import { createCodexTestEnv, type CodexTestEnv } from '../../../test/fixtures/fake-responses/codex-test-env';
import { AppServerClient, AppServerExitedError, threadSettingsMismatches, type AppServerClientOptions } from './app-server-client';
import { renderCodexConfig } from './codex-home';
import { ProcessTreeTracker, readCmdline } from './process-tree';
import { running as processesRunning, waitUntil } from '../../../test/support/processes';

/** End-to-end against the real Codex binary and the fake Responses API (no Codex mocks). */
jest.setTimeout(60_000);

let fake: FakeResponses;
let env: CodexTestEnv | undefined;
let client: AppServerClient | undefined;

beforeAll(async () => {
  fake = await startFakeResponses();
});
afterEach(async () => {
  await client?.shutdown({ graceMs: 2_000 });
  client = undefined;
  await env?.remove();
  env = undefined;
  fake.reset();
});
afterAll(async () => {
  await fake.close();
});

async function start(testEnv: CodexTestEnv, extra: Partial<AppServerClientOptions> = {}) {
  const notifications: RpcNotification[] = [];
  client = await AppServerClient.start({
    bin: testEnv.bin,
    cwd: testEnv.workDir,
    env: testEnv.env,
    onNotification: (n) => notifications.push(n),
    ...extra,
  });
  return { client, notifications };
}

/** `any`: the tests read notification params freely. */
type Params = Record<string, any>;
const params = (n: RpcNotification): Params => (n.params ?? {}) as Params;
const isTurnCompleted = (n: RpcNotification): boolean => n.method === 'turn/completed';
const itemOf = (n: RpcNotification): Params => params(n).item ?? {};

/** A `sleep` nobody else runs, so /proc can be searched for it. */
function uniqueSleep(): { command: string; cmdline: string } {
  const seconds = `300.${randomInt(1000, 9999)}`;
  return { command: `sleep ${seconds}`, cmdline: `sleep ${seconds}` };
}

describe('AppServerClient against codex app-server', () => {
  it('runs a turn with reasoning, a streamed message and a command, in order, without leaking the key', async () => {
    env = await createCodexTestEnv(fake);
    fake.setScript([
      [
        reasoning('Look at the files first.'),
        message('Writing the file now.', { phase: 'commentary' }),
        exec("printf 'hello from codex' > out.txt && env | sort"),
      ],
      [message('All done here.', { phase: 'final_answer' })],
    ]);
    const { client, notifications } = await start(env, { configOverrides: { check_for_update_on_startup: false } });

    const thread = await client.threadStart({ model: 'gpt-5.5', cwd: env.workDir, developerInstructions: 'You are the test bot.' });
    expect(thread.modelProvider).toBe('wegent');
    expect(threadSettingsMismatches(thread, { modelProvider: 'wegent' })).toEqual([]);
    const completed = client.waitForNotification(isTurnCompleted, { timeoutMs: 30_000 });
    await client.turnStart({ threadId: thread.thread.id, input: 'write the file' });
    const done = await completed;

    expect(params(done).turn.status).toBe('completed');
    expect(await readFile(join(env.workDir, 'out.txt'), 'utf8')).toBe('hello from codex');

    const methods = notifications.map((n) => n.method);
    const at = (predicate: (n: RpcNotification) => boolean): number => {
      const index = notifications.findIndex(predicate);
      expect(index).toBeGreaterThanOrEqual(0);
      return index;
    };
    const started = (type: string) => (n: RpcNotification) => n.method === 'item/started' && itemOf(n).type === type;
    const completedItem = (type: string) => (n: RpcNotification) => n.method === 'item/completed' && itemOf(n).type === type;

    const order = [
      at((n) => n.method === 'turn/started'),
      at(started('reasoning')),
      at((n) => n.method === 'item/reasoning/summaryTextDelta'),
      at(completedItem('reasoning')),
      at(started('agentMessage')),
      at((n) => n.method === 'item/agentMessage/delta'),
      at(completedItem('agentMessage')),
      at(started('commandExecution')),
      at(completedItem('commandExecution')),
      at((n) => completedItem('agentMessage')(n) && itemOf(n).phase === 'final_answer'),
      methods.lastIndexOf('turn/completed'),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);

    const reasoningItem = itemOf(notifications[at(completedItem('reasoning'))]!);
    expect(reasoningItem.summary).toEqual(['Look at the files first.']);
    const summaryDeltas = notifications.filter((n) => n.method === 'item/reasoning/summaryTextDelta').map((n) => params(n).delta);
    expect(summaryDeltas.join('')).toBe('Look at the files first.');

    const commentary = itemOf(notifications[at(completedItem('agentMessage'))]!);
    expect(commentary).toMatchObject({ text: 'Writing the file now.', phase: 'commentary' });
    const deltas = notifications
      .filter((n) => n.method === 'item/agentMessage/delta' && params(n).itemId === commentary.id)
      .map((n) => params(n).delta as string);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('Writing the file now.');

    const command = itemOf(notifications[at(completedItem('commandExecution'))]!);
    expect(command).toMatchObject({ status: 'completed', exitCode: 0 });
    // Model commands never see the key (shell_environment_policy, docs/protocol/codex-cli-notes.md §9).
    expect(command.aggregatedOutput).toContain('HOME=');
    expect(command.aggregatedOutput).not.toContain(env.apiKey);
    expect(command.aggregatedOutput).not.toContain('WEGENT_CODEX_API_KEY');

    // The model saw the developer instructions and, in its second request, the command output.
    const [first, second] = fake.modelRequests();
    expect(fake.modelRequests()).toHaveLength(2);
    expect(JSON.stringify(first!.body.input)).toContain('You are the test bot.');
    expect(second!.body.input).toContainEqual(expect.objectContaining({ type: 'function_call_output', call_id: 'call_1_2' }));
    expect(first!.headers.authorization).toBe(`Bearer ${env.apiKey}`);
    expect(first!.headers.originator).toBe('wegent_codex');

    // The key is in the environment only, never in argv.
    const cmdline = readCmdline(client.pid!);
    expect(cmdline).toContain('app-server');
    expect(cmdline).toContain('check_for_update_on_startup=false');
    expect(cmdline).not.toContain(env.apiKey);

    const exit = await client.shutdown({ graceMs: 3_000 });
    expect(exit).toMatchObject({ code: 0, survivors: [] });
  });

  it('gives an unknown model id the apply_patch tool and no metadata warning (model catalog)', async () => {
    env = await createCodexTestEnv(fake, { model: 'my-gateway-model', modelContextWindow: 131_072 });
    expect(env.files.knownModel).toBe(false);
    expect(env.files.catalogPath).toBeDefined();
    fake.setScript([
      [patch('*** Begin Patch\n*** Add File: hello.txt\n+hello world\n*** End Patch\n')],
      [message('Patched.', { phase: 'final_answer' })],
    ]);
    const { client, notifications } = await start(env);
    const thread = await client.threadStart({ model: 'my-gateway-model', cwd: env.workDir });
    const completed = client.waitForNotification(isTurnCompleted, { timeoutMs: 30_000 });
    await client.turnStart({ threadId: thread.thread.id, input: 'add hello.txt' });
    expect(params(await completed).turn.status).toBe('completed');

    const [request] = fake.modelRequests();
    expect(request!.body.model).toBe('my-gateway-model');
    const toolNames = (request!.body.tools as { name?: string; type: string }[]).map((t) => t.name ?? t.type);
    expect(toolNames).toEqual(expect.arrayContaining(['apply_patch', 'exec_command', 'update_plan']));
    expect(notifications.filter((n) => n.method === 'warning').map((n) => params(n).message)).not.toContainEqual(
      expect.stringContaining('Model metadata'),
    );
    expect(await readFile(join(env.workDir, 'hello.txt'), 'utf8')).toBe('hello world\n');
    const change = notifications.find((n) => n.method === 'item/completed' && itemOf(n).type === 'fileChange');
    expect(itemOf(change!).changes).toEqual([expect.objectContaining({ path: join(env.workDir, 'hello.txt'), kind: { type: 'add' } })]);
    // The reasoning summary is requested (model_reasoning_summary = "auto").
    expect(request!.body.reasoning).toMatchObject({ summary: 'auto' });
  });

  it('without a catalog an unknown model is degraded (guards the catalog test above)', async () => {
    env = await createCodexTestEnv(fake, { model: 'my-gateway-model' });
    await writeFile(env.files.configPath, renderCodexConfig({ model: 'my-gateway-model', provider: { baseUrl: fake.baseUrl } }));
    const { client, notifications } = await start(env);
    const thread = await client.threadStart({ model: 'my-gateway-model', cwd: env.workDir });
    const completed = client.waitForNotification(isTurnCompleted, { timeoutMs: 30_000 });
    await client.turnStart({ threadId: thread.thread.id, input: 'hi' });
    await completed;
    const toolNames = (fake.modelRequests()[0]!.body.tools as { name?: string; type: string }[]).map((t) => t.name ?? t.type);
    expect(toolNames).not.toContain('apply_patch');
    expect(notifications.filter((n) => n.method === 'warning').map((n) => params(n).message)).toContainEqual(
      expect.stringContaining('Model metadata for `my-gateway-model` not found'),
    );
  });

  it('hides key and secret-header variables from commands whatever their names, and still sends them', async () => {
    env = await createCodexTestEnv(fake, {
      provider: { envKey: 'LLM_CREDENTIAL', envHttpHeaders: { 'X-Gateway-Secret': 'GATEWAY_HDR' }, httpHeaders: { 'X-Team': 'platform' } },
    });
    fake.setScript([[exec('env')], [message('ok', { phase: 'final_answer' })]]);
    const { client, notifications } = await start(env, { env: { ...env.env, GATEWAY_HDR: 'hdr-secret-value' } });
    expect(env.env.LLM_CREDENTIAL).toBe(env.apiKey);
    const thread = await client.threadStart({ model: 'gpt-5.5', cwd: env.workDir });
    const completed = client.waitForNotification(isTurnCompleted, { timeoutMs: 30_000 });
    await client.turnStart({ threadId: thread.thread.id, input: 'print the environment' });
    await completed;
    const command = notifications.find((n) => n.method === 'item/completed' && itemOf(n).type === 'commandExecution');
    const output = itemOf(command!).aggregatedOutput as string;
    expect(output).toContain('CODEX_HOME=');
    for (const hidden of [env.apiKey, 'LLM_CREDENTIAL', 'hdr-secret-value', 'GATEWAY_HDR']) expect(output).not.toContain(hidden);
    expect(fake.modelRequests()[0]!.headers).toMatchObject({
      authorization: `Bearer ${env.apiKey}`,
      'x-gateway-secret': 'hdr-secret-value',
      'x-team': 'platform',
    });
  });

  it('interrupts a hung model stream; the turn ends "interrupted" and the thread stays usable', async () => {
    env = await createCodexTestEnv(fake);
    fake.setScript([hang([message('Thinking about it.', { phase: 'commentary' })])]);
    const { client, notifications } = await start(env);
    const thread = await client.threadStart({ model: 'gpt-5.5', cwd: env.workDir });
    const streaming = client.waitForNotification((n) => n.method === 'item/completed' && itemOf(n).type === 'agentMessage');
    const turnStarted = client.waitForNotification((n) => n.method === 'turn/started');
    await client.turnStart({ threadId: thread.thread.id, input: 'take your time' });
    const turnId = params(await turnStarted).turn.id as string;
    await streaming;

    const completed = client.waitForNotification(isTurnCompleted);
    await client.turnInterrupt(thread.thread.id, turnId);
    expect(params(await completed).turn).toMatchObject({ id: turnId, status: 'interrupted' });
    expect(notifications.filter((n) => n.method === 'error')).toEqual([]);

    // The next turn gets the default answer ("Done.").
    const next = client.waitForNotification(isTurnCompleted, { timeoutMs: 30_000 });
    await client.turnStart({ threadId: thread.thread.id, input: 'go on' });
    expect(params(await next).turn.status).toBe('completed');
  });

  it('resumes a thread in a new process with the same CODEX_HOME', async () => {
    env = await createCodexTestEnv(fake);
    const first = await start(env);
    const thread = await first.client.threadStart({ model: 'gpt-5.5', cwd: env.workDir });
    const completed = first.client.waitForNotification(isTurnCompleted, { timeoutMs: 30_000 });
    await first.client.turnStart({ threadId: thread.thread.id, input: 'first question' });
    await completed;
    await first.client.shutdown();

    const second = await start(env);
    const resumed = await second.client.threadResume({ threadId: thread.thread.id, model: 'gpt-5.5', cwd: env.workDir });
    expect(resumed.thread.id).toBe(thread.thread.id);
    expect(threadSettingsMismatches(resumed, { modelProvider: 'wegent' })).toEqual([]);
    const next = second.client.waitForNotification(isTurnCompleted, { timeoutMs: 30_000 });
    await second.client.turnStart({ threadId: thread.thread.id, input: 'second question' });
    expect(params(await next).turn.status).toBe('completed');
    const input = JSON.stringify(fake.modelRequests()[1]!.body.input);
    expect(input).toContain('first question');
    expect(input).toContain('second question');

    await expect(second.client.threadResume({ threadId: '01a00000-0000-7000-8000-000000000000', cwd: env.workDir })).rejects.toMatchObject({
      name: 'AppServerRpcError',
      code: -32600,
    });
  });

  it('leaves no process behind when shutting down during a foreground command', async () => {
    env = await createCodexTestEnv(fake);
    const sleep = uniqueSleep();
    fake.setScript([[exec(sleep.command, { yieldTimeMs: 120_000 })]]);
    const { client } = await start(env);
    const thread = await client.threadStart({ model: 'gpt-5.5', cwd: env.workDir });
    const commandStarted = client.waitForNotification((n) => n.method === 'item/started' && itemOf(n).type === 'commandExecution');
    await client.turnStart({ threadId: thread.thread.id, input: 'sleep' });
    await commandStarted;
    await waitUntil(() => processesRunning(sleep.cmdline).length === 1, 'the sleep command', 15_000);

    const exit = await client.shutdown({ graceMs: 3_000 });
    expect(exit.survivors).toEqual([]);
    expect(processesRunning(sleep.cmdline)).toEqual([]);
  });

  it('leaves no process behind when shutting down after a command went to the background', async () => {
    env = await createCodexTestEnv(fake);
    const sleep = uniqueSleep();
    fake.setScript([[exec(sleep.command, { yieldTimeMs: 250 })], [message('It runs in the background.', { phase: 'final_answer' })]]);
    const { client } = await start(env);
    const thread = await client.threadStart({ model: 'gpt-5.5', cwd: env.workDir });
    const completed = client.waitForNotification(isTurnCompleted, { timeoutMs: 30_000 });
    await client.turnStart({ threadId: thread.thread.id, input: 'sleep in the background' });
    expect(params(await completed).turn.status).toBe('completed');
    expect(JSON.stringify(fake.modelRequests()[1]!.body.input)).toContain('Process running with session ID');
    expect(processesRunning(sleep.cmdline)).toHaveLength(1);

    await client.shutdown({ graceMs: 3_000 });
    expect(processesRunning(sleep.cmdline)).toEqual([]);
  });

  it('kills the commands of an app-server that died abruptly (orphans found through the recorded tree)', async () => {
    env = await createCodexTestEnv(fake);
    const sleep = uniqueSleep();
    // nohup: the command would survive the hang-up of its terminal when Codex dies.
    fake.setScript([[exec(`nohup ${sleep.command} >/dev/null 2>&1`, { yieldTimeMs: 120_000 })]]);
    const scans = jest.spyOn(ProcessTreeTracker.prototype, 'scan');
    const { client } = await start(env, { descendantScanMs: 100 });
    const thread = await client.threadStart({ model: 'gpt-5.5', cwd: env.workDir });
    await client.turnStart({ threadId: thread.thread.id, input: 'sleep' });
    await waitUntil(() => processesRunning(sleep.cmdline).length === 1, 'the sleep command', 15_000);
    const [sleepPid] = processesRunning(sleep.cmdline);
    // Only a recorded tree finds the orphan once Codex is dead: wait for a periodic scan begun after
    // the command was running (a scan reads /proc synchronously, so it has seen the command).
    const scansBefore = scans.mock.calls.length;
    await waitUntil(() => scans.mock.calls.length > scansBefore, 'a descendant scan after the command started', 15_000);
    scans.mockRestore();

    process.kill(client.pid!, 'SIGKILL'); // SIGKILL alone leaves Codex's commands running (§15.1)
    const exit = await client.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(exit.killedDescendants).toContain(sleepPid);
    expect(processesRunning(sleep.cmdline)).toEqual([]);
  });

  it('rejects pending requests and waits when the process exits before the turn completes', async () => {
    env = await createCodexTestEnv(fake);
    fake.setScript([hang()]);
    const { client } = await start(env);
    const thread = await client.threadStart({ model: 'gpt-5.5', cwd: env.workDir });
    await client.turnStart({ threadId: thread.thread.id, input: 'hang' });
    await fake.waitForModelRequests(1);

    const pid = client.pid!;
    process.kill(pid, 'SIGSTOP'); // a stopped process cannot answer: the request below stays pending
    const pending = client.request('config/read', {});
    const turnDone = client.waitForNotification(isTurnCompleted);
    process.kill(pid, 'SIGKILL');

    await expect(pending).rejects.toBeInstanceOf(AppServerExitedError);
    await expect(pending).rejects.toMatchObject({ what: 'config/read', signal: 'SIGKILL' });
    await expect(turnDone).rejects.toBeInstanceOf(AppServerExitedError);
    await client.exited;
    await expect(client.request('config/read', {})).rejects.toBeInstanceOf(AppServerExitedError);
  });

  it('fails to start with a clear error when the binary cannot be spawned', async () => {
    await expect(AppServerClient.start({ bin: '/nonexistent/codex', cwd: process.cwd(), env: {} })).rejects.toThrow(
      /could not start \/nonexistent\/codex: .*ENOENT/,
    );
  });

  it('writes a config.toml that Codex reads back value for value (TOML escaping)', async () => {
    const tricky = 'quote " backslash \\ tab \t newline \n unicode ü € 🚀 bell \u0007';
    env = await createCodexTestEnv(fake, {
      provider: {
        httpHeaders: { 'X-Team': tricky, 'x.dotted key': 'plain' },
        envHttpHeaders: { 'X-Secret-Header': 'WEGENT_HDR_1' },
      },
      mcpServers: {
        local: { type: 'stdio', command: '/bin/true', args: ['--flag', tricky, ''], env: { TOKEN_X: tricky } },
        'remote-docs': { type: 'http', url: 'http://127.0.0.1:9/mcp', httpHeaders: { Authorization: 'Bearer x"y' } },
      },
      shellEnvironment: { set: { GIT_CONFIG_GLOBAL: '/work/x/.gitconfig' } },
    });
    const { client } = await start(env);
    const { config } = (await client.request('config/read', {})) as { config: Params };

    expect(config.model_provider).toBe('wegent');
    expect(config.web_search).toBe('disabled');
    expect(config.analytics).toMatchObject({ enabled: false });
    expect(config.model_providers.wegent).toMatchObject({
      base_url: fake.baseUrl,
      wire_api: 'responses',
      env_key: 'WEGENT_CODEX_API_KEY',
      http_headers: { 'X-Team': tricky, 'x.dotted key': 'plain' },
      env_http_headers: { 'X-Secret-Header': 'WEGENT_HDR_1' },
      request_max_retries: 0,
      stream_max_retries: 0,
      stream_idle_timeout_ms: 5_000,
    });
    expect(config.mcp_servers.local).toMatchObject({ command: '/bin/true', args: ['--flag', tricky, ''], env: { TOKEN_X: tricky } });
    expect(config.mcp_servers['remote-docs']).toMatchObject({
      url: 'http://127.0.0.1:9/mcp',
      http_headers: { Authorization: 'Bearer x"y' },
    });
    expect(config.shell_environment_policy).toMatchObject({
      ignore_default_excludes: false,
      exclude: ['WEGENT_CODEX_API_KEY', 'WEGENT_HDR_1'],
      set: { GIT_CONFIG_GLOBAL: '/work/x/.gitconfig' },
    });
  });
});
