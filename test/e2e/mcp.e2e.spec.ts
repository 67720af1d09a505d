import { readdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { mcpCall, message, toolSearch, turn, type RecordedRequest } from '../fixtures/fake-responses';
import { startEchoHttpMcp, type EchoHttpMcp } from '../fixtures/mcp-servers/echo-http';
import { BOOM_MESSAGE, REFUSE_MESSAGE } from '../fixtures/mcp-servers/echo-tools';
import {
  blocksOf,
  expectSingleTerminalLast,
  startServiceApp,
  stepsOf,
  taskPayload,
  type Callback,
  type ServiceApp,
} from '../support/service-app';
import { eventually } from '../support/test-config';

/**
 * MCP servers of a Wegent payload end to end (docs/protocol/wegent-protocol.md §2.5, docs/protocol/codex-cli-notes.md §12): the
 * worker normalises `bot[0].mcp_servers`, fills `${{…}}` and writes them into the task's Codex
 * config; the real Codex binary starts a real stdio server (`node echo-stdio.js`) and talks to a
 * real streamable-HTTP server; the scripted model finds the tools through `tool_search` (the model
 * id is unknown to Codex, so the worker's catalog entry is a copy of gpt-5.5's, which defers MCP
 * tools behind tool_search) and calls them; the calls come back as ClaudeCode-shaped steps.
 */
const ECHO_STDIO = resolve(__dirname, '../fixtures/mcp-servers/echo-stdio.js');
const API_KEY = 'sk-mcp-SECRET-5e4d3c2b1a0918273645';
/** An encrypted-looking git token: `${{user.git_token}}` must yield it as received (§2.5 must-match). */
const GIT_TOKEN = 'q3ZxK1u0b9cM2l5eH0vW8A==';
const HTTP_PREFIX = 'over http: ';

const payload = (h: ServiceApp, taskId: number, subtaskId: number, prompt: string, mcp: Record<string, unknown>) =>
  taskPayload(h, taskId, subtaskId, prompt, {
    apiKey: API_KEY,
    modelId: 'wegent-mcp-model',
    title: `MCP ${taskId}`,
    bot: { system_prompt: 'Use the tools.', ...mcp },
    user: { id: 7, name: 'alice', git_token: GIT_TOKEN },
    git_repo: 'alice/app',
  });

const systemOf = (c: Callback) => stepsOf(c).find((s) => s.title === 'thinking.system_message_received')!.details!;
const toolUse = (c: Callback, name: string) => blocksOf(stepsOf(c)).find((b) => b.type === 'tool_use' && b.name === name);
const toolResult = (c: Callback, id: string) => blocksOf(stepsOf(c)).find((b) => b.type === 'tool_result' && b.tool_use_id === id);

/** The namespaces (and their tool names) Codex returned for the model's tool_search call. */
function searchedTools(request: RecordedRequest): Record<string, string[]> {
  const outputs = (request.body.input as Record<string, any>[]).filter((i) => i.type === 'tool_search_output');
  const namespaces = outputs.flatMap((o) => (o.tools ?? []) as Record<string, any>[]).filter((t) => t.type === 'namespace');
  return Object.fromEntries(namespaces.map((n) => [n.name, (n.tools as { name: string }[]).map((t) => t.name).sort()]));
}

/** Text of the function_call_output Codex sent back to the model for `callId`. */
function outputSeenByModel(requests: RecordedRequest[], callId: string): string {
  for (const r of requests) {
    const output = (r.body.input as Record<string, any>[]).find((i) => i.type === 'function_call_output' && i.call_id === callId);
    if (output) return JSON.stringify(output.output);
  }
  return '';
}

/** How many live processes have `needle` in their command line. */
async function processesRunning(needle: string): Promise<number> {
  let count = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(needle)) count += 1;
  }
  return count;
}

describe('e2e: MCP servers of the payload (real Codex, real stdio and HTTP MCP servers)', () => {
  let h: ServiceApp;
  let http: EchoHttpMcp;

  beforeAll(async () => {
    // The stdio server's script lives in this repository: readable inside the task sandbox.
    h = await startServiceApp('mcp', {
      env: { CODEX_STREAM_IDLE_TIMEOUT_MS: '20000', CODEX_IDLE_TIMEOUT_MS: '60000', SANDBOX_READABLE_PATHS: dirname(ECHO_STDIO) },
    });
    http = await startEchoHttpMcp({ prefix: HTTP_PREFIX });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await http?.close();
  }, 60_000);

  it('connects stdio and HTTP servers (SSE failed), fills ${{…}}, and maps MCP calls found through tool_search to mcp__<server>__<tool> steps', async () => {
    const taskId = 9301;
    h.router.script(
      taskId,
      turn([toolSearch('echo text')]),
      turn([mcpCall('echo', 'echo', { text: 'hi' }, { callId: 'call_stdio' })]),
      turn([mcpCall('docs', 'echo', { text: 'ping' }, { callId: 'call_http' })]),
      turn([mcpCall('echo', 'boom', {}, { callId: 'call_boom' })]),
      turn([mcpCall('echo', 'refuse', {}, { callId: 'call_refuse' })]),
      turn([mcpCall('echo', 'env_names', {}, { callId: 'call_env' })]),
      turn([message('All echoed.', { phase: 'final_answer' })]),
    );
    const answer = await h.execute(
      payload(h, taskId, 1, 'Echo hi with every server.', {
        // Wegent's FE nesting: {"mcpServers": {...}} inside bot.mcp_servers.
        mcp_servers: {
          mcpServers: {
            echo: { command: 'node', args: [ECHO_STDIO], env: { ECHO_PREFIX: '${{user.name}} says: ' } },
            docs: {
              type: 'streamable-http',
              url: http.url,
              headers: { 'X-Repo': '${{git_repo}}', 'X-Token': '${{user.git_token}}', 'X-Missing': '${{user.nothing_here}}' },
            },
            legacy: { type: 'sse', url: 'http://127.0.0.1:9/sse' },
          },
        },
      }),
    );
    expect(answer.status).toBe(200);
    const terminal = await h.waitTerminal(taskId, 1);
    await expectSingleTerminalLast(h, taskId, 1);
    expect(terminal).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: 'All echoed.', result: { value: 'All echoed.' } });

    // The init step: both configured servers came up, the SSE server is reported failed.
    expect(systemOf(terminal).mcp_servers).toEqual([
      { name: 'echo', status: 'connected' },
      { name: 'docs', status: 'connected' },
      { name: 'legacy', status: 'failed' },
    ]);
    // … and the operator learns why from the log.
    const skipped = h.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((l) => l.msg === 'MCP server skipped');
    expect(skipped).toMatchObject({ task_id: taskId, mcp_server: 'legacy' });
    expect(skipped!.reason).toContain('SSE');

    // Tool exposure (0.169, catalog copy of gpt-5.5): MCP tools are deferred behind tool_search …
    const requests = h.router.requestsOf(taskId);
    expect(requests).toHaveLength(7);
    const firstTools = requests[0].body.tools as Record<string, any>[];
    expect(firstTools.some((t) => t.type === 'tool_search')).toBe(true);
    expect(firstTools.map((t) => t.name)).toContain('list_mcp_resources');
    expect(JSON.stringify(firstTools)).not.toContain('mcp__');
    // … and the search answers with the matching tools, one namespace per connected server.
    const found = searchedTools(requests[1]);
    expect(Object.keys(found).sort()).toEqual(['mcp__docs', 'mcp__echo']);
    expect(found.mcp__echo).toContain('echo');
    expect(found.mcp__docs).toContain('echo');

    // stdio round trip: fake model → Codex → node echo-stdio.js (env filled from ${{user.name}}) → result.
    expect(toolUse(terminal, 'mcp__echo__echo')).toEqual({
      type: 'tool_use',
      id: 'call_stdio',
      name: 'mcp__echo__echo',
      input: { text: 'hi' },
    });
    expect(toolResult(terminal, 'call_stdio')).toEqual({
      type: 'tool_result',
      tool_use_id: 'call_stdio',
      content: 'alice says: hi',
      is_error: false,
    });
    expect(outputSeenByModel(requests, 'call_stdio')).toContain('alice says: hi');

    // HTTP round trip, and what the server saw: the filled headers on every request, never the model key.
    expect(toolUse(terminal, 'mcp__docs__echo')).toEqual({
      type: 'tool_use',
      id: 'call_http',
      name: 'mcp__docs__echo',
      input: { text: 'ping' },
    });
    expect(toolResult(terminal, 'call_http')).toEqual({
      type: 'tool_result',
      tool_use_id: 'call_http',
      content: `${HTTP_PREFIX}ping`,
      is_error: false,
    });
    expect(http.rpcMethods()).toEqual(expect.arrayContaining(['initialize', 'notifications/initialized', 'tools/list', 'tools/call']));
    expect(http.requests.length).toBeGreaterThanOrEqual(4);
    for (const r of http.requests) {
      expect(r.headers['x-repo']).toBe('alice/app');
      expect(r.headers['x-token']).toBe(GIT_TOKEN);
      expect(r.headers['x-missing']).toBe('${{user.nothing_here}}');
    }
    expect(JSON.stringify(http.requests)).not.toContain(API_KEY);

    // Both ways an MCP call fails are tool errors: a JSON-RPC error and a result with isError.
    expect(toolUse(terminal, 'mcp__echo__boom')).toMatchObject({ id: 'call_boom', input: {} });
    const boom = toolResult(terminal, 'call_boom')!;
    expect(boom).toMatchObject({ is_error: true });
    expect(boom.content).toContain(BOOM_MESSAGE);
    expect(boom.content).not.toContain('Stack backtrace');
    expect(toolResult(terminal, 'call_refuse')).toEqual({
      type: 'tool_result',
      tool_use_id: 'call_refuse',
      content: REFUSE_MESSAGE,
      is_error: true,
    });
    expect(outputSeenByModel(requests, 'call_boom')).toContain(BOOM_MESSAGE);

    // Codex starts stdio servers with a short allow-list of variables: the model key is not among them.
    const envNames = String(toolResult(terminal, 'call_env')!.content).split(' ');
    expect(envNames).toContain('ECHO_PREFIX');
    expect(envNames.filter((n) => /KEY|TOKEN|SECRET/i.test(n))).toEqual([]);

    // Each call is one assistant step (tool_use) followed by one user step (its tool_result).
    const titles = stepsOf(terminal).map((s) => s.title);
    expect(titles.filter((t) => t === 'thinking.user_message_received')).toHaveLength(5);
    expect(JSON.stringify(h.em.requests)).not.toContain(API_KEY);
    expect(JSON.stringify(h.em.requests)).not.toContain(GIT_TOKEN);

    // The stdio server ends with its job's Codex process.
    await eventually(async () => (await processesRunning(ECHO_STDIO)) === 0, 15_000, 100);
  }, 120_000);

  it("gives a follow-up subtask the MCP servers of its own payload (ClaudeCode keeps the first subtask's)", async () => {
    const taskId = 9302;
    h.router.script(
      taskId,
      turn([message('First.', { phase: 'final_answer' })]),
      turn([toolSearch('echo')]),
      turn([mcpCall('docs', 'echo', { text: 'again' }, { callId: 'call_again' })]),
      turn([message('Second.', { phase: 'final_answer' })]),
    );
    const stdioOnly = { mcp_servers: { mcp_servers: { echo: { command: 'node', args: [ECHO_STDIO] } } } };
    expect((await h.execute(payload(h, taskId, 1, 'First.', stdioOnly))).status).toBe(200);
    const first = await h.waitTerminal(taskId, 1);
    expect(first.status).toBe('COMPLETED');
    expect(systemOf(first).mcp_servers).toEqual([{ name: 'echo', status: 'connected' }]);

    // Another accepted nesting: a bare map under bot.mcpServers.
    const httpOnly = { mcp_servers: {}, mcpServers: { docs: { type: 'http', url: http.url } } };
    expect((await h.execute(payload(h, taskId, 2, 'Second.', httpOnly))).status).toBe(200);
    const second = await h.waitTerminal(taskId, 2);
    await expectSingleTerminalLast(h, taskId, 2);
    expect(second).toMatchObject({ status: 'COMPLETED', error_message: 'Second.' });
    // Same conversation, new server list.
    expect(systemOf(second).session_id).toBe(systemOf(first).session_id);
    expect(systemOf(second).mcp_servers).toEqual([{ name: 'docs', status: 'connected' }]);
    const requests = h.router.requestsOf(taskId);
    expect(Object.keys(searchedTools(requests[requests.length - 1]))).toEqual(['mcp__docs']);
    expect(toolResult(second, 'call_again')).toMatchObject({ content: `${HTTP_PREFIX}again`, is_error: false });
  }, 180_000);
});
