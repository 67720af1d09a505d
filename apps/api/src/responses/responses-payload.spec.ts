import { taskPayloadSchema } from '@wegent-codex/contracts';
import { exampleResponsesBody, RESPONSES_SECRETS as S } from '../../../../test/support/wegent-2026-body';
import { mergeMcpServers, normalizeReasoning, parseResponsesBody, promptOf, serviceTierOf, skillsOf } from './responses-payload';

const payloadOf = (body: unknown) => {
  const parsed = parseResponsesBody(body);
  if (!parsed.ok) throw new Error(`rejected: ${JSON.stringify(parsed.error.issues)}`);
  return parsed.payload;
};
const pathsOf = (body: unknown) => {
  const parsed = parseResponsesBody(body);
  if (parsed.ok) throw new Error('accepted');
  return parsed.error.issues.map((i) => [parsed.prefix, ...i.path.map(String)].filter(Boolean).join('.'));
};

describe('2026 Responses body → task payload (docs/protocol/wegent-protocol-2026.md §2)', () => {
  it('maps the §2.11 example to the 2025 payload the worker runs, field by field', () => {
    const payload = payloadOf(exampleResponsesBody());

    expect(payload).toEqual({
      task_id: 4711,
      subtask_id: 9902,
      type: null,
      executor_name: 'wegent-task-alice-3f9c1a0b7d2e4c1',
      executor_namespace: '',
      subtask_title: null,
      task_title: null,
      user: {
        id: 12,
        name: 'alice',
        git_domain: 'github.com',
        git_token: S.gitToken,
        git_id: '98765',
        git_login: 'alice',
        git_email: 'alice@example.com',
      },
      bot: [
        {
          id: 77,
          name: 'codex-dev-bot',
          shell_type: 'Codex',
          agent_config: {
            env: {
              model: 'openai',
              model_id: 'gpt-5.1-codex',
              api_key: S.apiKey,
              base_url: 'https://api.openai.com/v1',
              custom_headers: {},
            },
            protocol: 'openai-responses',
          },
          system_prompt: '<base_prompt>You are a senior TypeScript engineer. Keep diffs minimal.</base_prompt>',
          mcp_servers: {
            issues: {
              type: 'streamable-http',
              url: 'https://mcp.example.internal/mcp',
              headers: { Authorization: `Bearer ${S.authToken}` },
            },
          },
          skills: ['repo-conventions'],
          skill_refs: { 'repo-conventions': { skill_id: 310, namespace: 'default', is_public: false, content_hash: 'sha256:ab12' } },
          role: 'worker',
          base_image: null,
        },
      ],
      team_id: 55,
      mode: 'solo',
      git_domain: 'github.com',
      git_repo: 'acme/api',
      git_repo_id: 42,
      branch_name: 'main',
      git_url: 'https://github.com/acme/api.git',
      prompt:
        '[Attachment 1]\n[Attachment: error.log | ID: 301 | Type: text/plain | Size: 2.0 KB | URL: /api/attachments/301/download | Local File Path: /workspace/4711/4711:executor:attachments/9901/error.log]\n\nThe CI job fails, see the log. Please fix the parser test.',
      auth_token: S.authToken,
      attachments: [
        {
          id: 301,
          original_filename: 'error.log',
          status: 'success',
          local_path: '/workspace/4711/4711:executor:attachments/9901/error.log',
          mime_type: 'text/plain',
          file_size: 2048,
          subtask_id: 9901,
        },
      ],
      protocol: '2026',
      responses: {
        message_id: 2,
        model: 'gpt-5.1-codex',
        bot_name: 'codex-dev-bot',
        shell_type: 'Codex',
        executor_name: 'wegent-task-alice-3f9c1a0b7d2e4c1',
        executor_namespace: '',
        reasoning_effort: 'high',
        reasoning_summary: 'auto',
        service_tier: 'priority',
        context_window: 272000,
        request_id: 'req_9902',
      },
      skill_refs: { 'repo-conventions': { skill_id: '310', namespace: 'default' } },
      backend_url: 'http://wegent-backend:8000',
    });
    // What the intake enqueues must pass the payload schema unchanged.
    expect(taskPayloadSchema.parse(payload)).toEqual(payload);
  });

  it('reads the legacy flat form (no task_id in metadata) from the top level, null as absent', () => {
    const payload = payloadOf({
      model: 'm-1',
      input: 'hello',
      instructions: null,
      tools: null,
      metadata: { request_id: 'ignored' },
      task_id: 5,
      subtask_id: 6,
      bot: [{ name: 'b', shell_type: 'codex', agent_config: null, system_prompt: 'Be brief.', mcp_servers: null, skills: null }],
      message_id: null,
      git_url: null,
      model_config: { model_id: null, api_key: 'k-flat', base_url: null, reasoning: null },
    });
    expect(payload).toMatchObject({
      task_id: 5,
      subtask_id: 6,
      prompt: 'hello',
      git_url: null,
      bot: [
        {
          name: 'b',
          shell_type: 'codex',
          system_prompt: 'Be brief.',
          mcp_servers: {},
          skills: [],
          agent_config: { env: { model_id: 'm-1', api_key: 'k-flat' } },
        },
      ],
      responses: {
        message_id: null,
        bot_name: 'b',
        shell_type: 'codex',
        reasoning_effort: null,
        reasoning_summary: null,
        request_id: null,
      },
    });
  });

  it.each([
    ['not an object', 'text', ['']],
    ['no input', { metadata: { task_id: 1, subtask_id: 2, bot: [{}] } }, ['input']],
    ['input a number', { input: 3, metadata: { task_id: 1, subtask_id: 2, bot: [{}] } }, ['input']],
    ['no subtask_id', { input: 'x', metadata: { task_id: 1, bot: [{}] } }, ['metadata.subtask_id']],
    ['a string task_id', { input: 'x', metadata: { task_id: '1', subtask_id: 2, bot: [{}] } }, ['metadata.task_id']],
    ['no bot', { input: 'x', metadata: { task_id: 1, subtask_id: 2 } }, ['metadata.bot']],
    ['an empty bot list', { input: 'x', metadata: { task_id: 1, subtask_id: 2, bot: [] } }, ['metadata.bot']],
    [
      'a negative context_window',
      { input: 'x', metadata: { task_id: 1, subtask_id: 2, bot: [{}] }, model_config: { context_window: -1 } },
      ['model_config.context_window'],
    ],
    [
      'attachments without ids',
      { input: 'x', metadata: { task_id: 1, subtask_id: 2, bot: [{}], attachments: [{ original_filename: 'a' }] } },
      ['metadata.attachments.0.id'],
    ],
  ])('rejects %s, naming the field', (_name, body, paths) => {
    expect(pathsOf(body)).toEqual(paths);
  });

  it('passes skip_git_clone and new_session on only when true', () => {
    const body = exampleResponsesBody(1, 2);
    Object.assign(body.metadata, { skip_git_clone: true, new_session: true });
    expect(payloadOf(body)).toMatchObject({ skip_git_clone: true, new_session: true });
    const plain = payloadOf(exampleResponsesBody(1, 3));
    expect('skip_git_clone' in plain || 'new_session' in plain).toBe(false);
  });

  it('ignores unknown keys and the retry counter', () => {
    const body = { ...exampleResponsesBody(1, 2), _retry_count: 2, brand_new: { x: 1 } };
    expect(payloadOf(body)).toMatchObject({ task_id: 1, subtask_id: 2 });
  });
});

describe('normalizeReasoning (§2.4)', () => {
  it.each([
    [
      { effort: 'high', summary: 'auto' },
      { effort: 'high', summary: 'auto' },
    ],
    [
      { effort: 'XHigh', summary: 'Detailed' },
      { effort: 'xhigh', summary: 'detailed' },
    ],
    [{ effort: 'ultra' }, { effort: 'max' }],
    [{ effort: 'turbo', summary: 'verbose' }, { effort: 'medium' }],
    [{ summary: 'concise' }, { effort: 'medium', summary: 'concise' }],
    [null, {}],
    ['high', {}],
  ])('%j → %j', (input, expected) => expect(normalizeReasoning(input)).toEqual(expected));
});

describe('serviceTierOf (§2.4)', () => {
  it.each([
    ['priority', 'priority'],
    [' Default ', 'default'],
    ['flex', 'flex'],
    ['x"\nmodel = "evil', null],
    ['', null],
    [null, null],
  ])('%j → %j', (input, expected) => expect(serviceTierOf(input)).toBe(expected));
});

describe('promptOf (§2.5)', () => {
  it('joins text parts and collects images', () => {
    expect(
      promptOf([
        { type: 'input_text', text: 'What is this?' },
        { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=' },
        { type: 'input_image', image_url: { url: 'https://img.example.com/a.png' } },
        { type: 'input_text', text: 'Be short.' },
        { type: 'input_file', file_id: 'f' },
      ]),
    ).toEqual({ prompt: 'What is this?\n\nBe short.', images: ['data:image/png;base64,iVBORw0KGgo=', 'https://img.example.com/a.png'] });
  });

  it('takes the last user message of a conversation', () => {
    expect(
      promptOf([
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'answer' },
        { role: 'user', content: [{ type: 'input_text', text: 'second' }] },
        { role: 'assistant', content: 'later' },
      ]),
    ).toEqual({ prompt: 'second', images: [] });
    expect(promptOf([{ role: 'assistant', content: 'only me' }])).toEqual({ prompt: '', images: [] });
  });
});

describe('mergeMcpServers (§2.6)', () => {
  it('lists the bot servers first, lets tools override field by field, keeps headers a later entry lacks', () => {
    const bot = {
      mcp_servers: [
        { name: 'a', url: 'https://a.example/mcp', type: 'streamable-http', headers: { 'X-Key': 'from-bot' } },
        { name: 'local', command: 'node', args: ['s.js'], env: { K: 'V' } },
        { url: 'https://nameless.example' },
      ],
    };
    const tools = [
      { type: 'mcp', server_label: 'a', server_url: 'https://a2.example/mcp', server_type: 'streamable-http', require_approval: 'never' },
      {
        type: 'mcp',
        server_label: 'b',
        server_url: 'https://b.example/mcp',
        server_type: 'sse',
        server_auth: { Authorization: 'Bearer t' },
      },
      { type: 'mcp', server_label: 'c', command: 'python3', args: ['-m', 'srv'] },
      { type: 'function', name: 'not-mcp' },
    ];
    expect(mergeMcpServers(bot as never, tools)).toEqual({
      a: { url: 'https://a2.example/mcp', type: 'streamable-http', headers: { 'X-Key': 'from-bot' } },
      local: { command: 'node', args: ['s.js'], env: { K: 'V' } },
      b: { type: 'sse', url: 'https://b.example/mcp', headers: { Authorization: 'Bearer t' } },
      c: { type: 'stdio', command: 'python3', args: ['-m', 'srv'] },
    });
  });

  it('accepts the 2025 object form in bot[0].mcp_servers', () => {
    expect(mergeMcpServers({ mcp_servers: { mcpServers: { x: { type: 'http', url: 'https://x.example' } } } } as never, null)).toEqual({
      x: { type: 'http', url: 'https://x.example' },
    });
  });
});

describe('skillsOf (§2.10)', () => {
  it('unites the names in order and takes ids from refs, then skill_configs; namespace defaults to the team namespace', () => {
    const fields = {
      task_id: 1,
      subtask_id: 2,
      bot: [],
      team_namespace: 'team-ns',
      skill_names: ['b', 'c', 'a'],
      preload_skills: ['d'],
      skill_refs: { b: { skill_id: 21, namespace: 'shared' } },
      preload_skill_refs: { d: { skill_id: '40', namespace: null } },
      skill_configs: [
        { name: 'c', skill_id: 30 },
        { name: 'b', skill_id: 99 },
        { name: 'unused', skill_id: 5 },
      ],
    };
    expect(skillsOf(fields as never, { skills: ['a', 'b'], skill_refs: { a: { skill_id: 11 } } } as never)).toEqual({
      names: ['a', 'b', 'c', 'd'],
      refs: {
        a: { skill_id: '11', namespace: 'team-ns' },
        b: { skill_id: '21', namespace: 'shared' },
        c: { skill_id: '30', namespace: 'team-ns' },
        d: { skill_id: '40', namespace: 'team-ns' },
      },
    });
  });
});
