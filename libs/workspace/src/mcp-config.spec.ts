import { taskPayloadSchema, type Bot, type TaskPayload } from '@wegent-codex/contracts';
import { examplePayload } from '../../../test/support/wegent-payload';
import { normalizeMcpServers, substitutePlaceholders, toCodexMcpServers } from './mcp-config';

/** The example of docs/protocol/wegent-protocol.md §2.9, plus values of every JSON type for the substitution rules. */
const payload: TaskPayload = taskPayloadSchema.parse({
  ...examplePayload(),
  flags: { on: true, off: false, ratio: 1.5, list: [1, 'two'] },
});

describe('normalizeMcpServers', () => {
  const A = { a: { command: 'a' } };
  const B = { b: { command: 'b' } };
  const C = { c: { command: 'c' } };
  const D = { d: { command: 'd' } };
  it.each<[string, Partial<Bot>, unknown]>([
    ['1. mcpServers.mcpServers', { mcpServers: { mcpServers: A, mcp_servers: B }, mcp_servers: { mcp_servers: C } }, A],
    ['2. mcpServers.mcp_servers', { mcpServers: { mcp_servers: B }, mcp_servers: { mcp_servers: C } }, B],
    [
      '3. mcp_servers.mcp_servers (a double nesting beats a single one)',
      { mcpServers: { mcpServers: {} }, mcp_servers: { mcp_servers: C, mcpServers: D } },
      C,
    ],
    ['4. mcp_servers.mcpServers', { mcpServers: {}, mcp_servers: { mcpServers: D } }, D],
    ['5. mcpServers itself', { mcpServers: A, mcp_servers: { x: {} } }, A],
    [
      '5. mcpServers itself, empty inner maps kept as servers',
      { mcpServers: { mcpServers: {}, a: { command: 'a' } } },
      { mcpServers: {}, a: { command: 'a' } },
    ],
    ['6. mcp_servers itself', { mcpServers: {}, mcp_servers: B }, B],
    ['7. mcp_servers as is', { mcp_servers: {} }, {}],
    ['7. nothing', {}, {}],
    ['7. null', { mcp_servers: null }, {}],
  ])('%s', (_step, bot, expected) => expect(normalizeMcpServers(bot as Bot)).toEqual(expected));

  it('is {} without a bot', () => {
    expect(normalizeMcpServers(undefined)).toEqual({});
    expect(normalizeMcpServers(null)).toEqual({});
  });
});

describe('substitutePlaceholders', () => {
  it.each([
    ['${{user.git_token}}', 'q3ZxK1u0b9cM2l5eH0vW8A=='], // the encrypted token, as sent (must-match)
    ['${{ user.name }}', 'alice'],
    ['Bearer ${{bot.0.agent_config.env.api_key}}', 'Bearer sk-proj-EXAMPLEONLY'],
    ['${{git_repo}}@${{branch_name}}#${{task_id}}', 'alice/app@main#305'],
    ['${{git_repo_id}}', '998877'],
    ['${{flags.on}}/${{flags.off}}', 'True/False'],
    ['${{flags.ratio}}', '1.5'],
    ['${{flags.list.1}}', 'two'],
    ['${{flags.list}}', '[1,"two"]'],
    ['${{user.git_email}}', '${{user.git_email}}'], // null stays
    ['${{user.missing}}', '${{user.missing}}'],
    ['${{bot.5.name}}', '${{bot.5.name}}'],
    ['${{bot.-1.name}}', '${{bot.-1.name}}'],
    ['${{bot.name}}', '${{bot.name}}'],
    ['${{user.name.first}}', '${{user.name.first}}'],
    ['${{constructor}}', '${{constructor}}'],
    ['${{ }}', '${{ }}'],
    ['${{user.name}', '${{user.name}'],
    ['no placeholders', 'no placeholders'],
  ])('%s → %s', (text, expected) => expect(substitutePlaceholders(text, payload)).toBe(expected));

  it('substitutes string values anywhere, never keys, and keeps other values', () => {
    const servers = { s: { '${{user.name}}': '${{user.name}}', args: ['--user', '${{user.name}}', 3, true, null] } };
    expect(substitutePlaceholders(servers, payload)).toEqual({
      s: { '${{user.name}}': 'alice', args: ['--user', 'alice', 3, true, null] },
    });
  });
});

describe('toCodexMcpServers', () => {
  it('maps the §2.9 example after substitution', () => {
    const servers = substitutePlaceholders(normalizeMcpServers(payload.bot[0]), payload);
    expect(toCodexMcpServers(servers)).toEqual({
      supported: {
        github: {
          kind: 'stdio',
          command: 'docker',
          args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'ghcr.io/github/github-mcp-server'],
          env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'q3ZxK1u0b9cM2l5eH0vW8A==' },
        },
        docs: { kind: 'http', url: 'https://mcp.example.com/mcp', headers: { 'X-User': 'alice' } },
      },
      unsupported: [],
    });
  });

  it.each([
    [{ command: 'npx' }, { kind: 'stdio', command: 'npx', args: [], env: {} }],
    [
      { type: 'stdio', command: 'srv', args: ['--port', 8080, false], env: { PORT: 8080 } },
      { kind: 'stdio', command: 'srv', args: ['--port', '8080', 'false'], env: { PORT: '8080' } },
    ],
    [
      { type: 'http', url: 'http://localhost:3000/mcp' },
      { kind: 'http', url: 'http://localhost:3000/mcp', headers: {} },
    ],
    [
      { type: 'streamable-http', url: 'https://h/mcp' },
      { kind: 'http', url: 'https://h/mcp', headers: {} },
    ],
    [
      { type: 'streamableHttp', url: 'https://h/mcp', headers: { Authorization: 'Bearer x' } },
      { kind: 'http', url: 'https://h/mcp', headers: { Authorization: 'Bearer x' } },
    ],
    [
      { type: 'streamable_http', url: 'https://h/mcp' },
      { kind: 'http', url: 'https://h/mcp', headers: {} },
    ],
  ])('supports %j', (config, expected) => {
    expect(toCodexMcpServers({ s: config })).toEqual({ supported: { s: expected }, unsupported: [] });
  });

  it.each([
    ['sse', { type: 'sse', url: 'https://h/sse' }, 'SSE transport'],
    ['unknown type', { type: 'websocket', url: 'wss://h' }, 'unknown transport type "websocket"'],
    ['type not a string', { type: 1, command: 'x' }, '"type" is not a string'],
    ['no command', { args: ['x'] }, '"command" is missing'],
    ['url without type', { url: 'https://h/mcp' }, 'no "type": "http"'],
    ['not an object', 'docker run', 'not an object'],
    ['null config', null, 'not an object'],
    ['args not a list', { command: 'x', args: '--a' }, 'args is not a list'],
    ['object in args', { command: 'x', args: [{}] }, 'args[0] is not a string'],
    ['env not an object', { command: 'x', env: ['A=1'] }, 'env is not an object'],
    ['object in env', { command: 'x', env: { A: { b: 1 } } }, 'env.A is not a string'],
    ['"=" in an env name', { command: 'x', env: { 'A=B': '1' } }, 'invalid name "A=B"'],
    ['http without url', { type: 'http' }, '"url" is missing'],
    ['http with a bad url', { type: 'http', url: 'not a url' }, 'not a valid URL'],
    ['http with a non-http url', { type: 'http', url: 'file:///etc/passwd' }, 'not an http(s) URL'],
    ['invalid header name', { type: 'http', url: 'https://h', headers: { 'X Bad': 'v' } }, 'invalid name "X Bad"'],
    ['header injection', { type: 'http', url: 'https://h', headers: { 'X-A': 'v\r\nX-B: w' } }, 'line break'],
  ])('reports %s as unsupported', (_what, config, reason) => {
    const result = toCodexMcpServers({ s: config });
    expect(result.supported).toEqual({});
    expect(result.unsupported).toEqual([{ name: 's', reason: expect.stringContaining(reason) }]);
  });

  it('never puts a configured value into a reason', () => {
    const result = toCodexMcpServers({ s: { type: 'http', url: 'ftp://user:hunter2@h', headers: {} } });
    expect(JSON.stringify(result.unsupported)).not.toContain('hunter2');
  });

  it.each(['my server', 'a.b', 'ünï', '', 'x]\n[y', 'a"b'])('refuses the server name %j', (name) => {
    expect(toCodexMcpServers({ [name]: { command: 'x' } })).toEqual({
      supported: {},
      unsupported: [{ name, reason: expect.stringContaining('letters, digits') }],
    });
  });

  it('keeps a "__proto__" server as data', () => {
    const servers = JSON.parse('{"__proto__": {"command": "x"}, "ok": {"command": "y"}}') as Record<string, unknown>;
    const { supported } = toCodexMcpServers(servers);
    expect(Object.getPrototypeOf(supported)).toBe(Object.prototype);
    expect(Object.keys(supported)).toEqual(['__proto__', 'ok']);
  });
});
