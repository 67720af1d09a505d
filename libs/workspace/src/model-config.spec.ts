import { taskPayloadSchema, type TaskPayload } from '@wegent-codex/contracts';
import { isSecretName } from '@wegent-codex/redaction';
import { collectSecrets, looksSecretValue, missingApiKey, resolveModel, type ModelDefaults } from './model-config';

const payloadWith = (agentConfig: unknown, extra: Record<string, unknown> = {}): TaskPayload =>
  taskPayloadSchema.parse({ task_id: 1, subtask_id: 2, bot: [{ shell_type: 'Codex', agent_config: agentConfig, ...extra }] });

const defaults: ModelDefaults = { apiKey: 'sk-service-default-key', model: 'gpt-5.5', baseUrl: 'http://127.0.0.1:8080/v1/' };
const noDefaults: ModelDefaults = { baseUrl: 'https://api.openai.com/v1' };

describe('resolveModel', () => {
  it('maps the §2.9 example', () => {
    const payload = payloadWith({
      env: {
        model: 'openai',
        model_id: 'gpt-5.5',
        api_key: 'sk-proj-EXAMPLEONLY',
        base_url: 'https://llm-gateway.example.com/v1',
        custom_headers: { 'X-Team': 'platform' },
      },
    });
    expect(resolveModel(payload, defaults)).toEqual({
      ok: true,
      modelId: 'gpt-5.5',
      baseUrl: 'https://llm-gateway.example.com/v1',
      apiKey: 'sk-proj-EXAMPLEONLY',
      staticHeaders: { 'X-Team': 'platform' },
      secretHeaders: {},
      extraEnv: {},
      source: 'bot',
      warnings: [],
    });
  });

  it.each([
    [{ model_id: ' my-model ', base_url: 'https://gw.example.com/v1//' }, 'my-model', 'https://gw.example.com/v1'],
    [{ model_id: 'm', base_url: '' }, 'm', 'https://api.openai.com/v1'],
    [{ model_id: 'm' }, 'm', 'https://api.openai.com/v1'],
  ])('normalises model id and base_url (%j)', (env, modelId, baseUrl) => {
    const model = resolveModel(payloadWith({ env }), defaults);
    expect(model).toMatchObject({ ok: true, modelId, baseUrl, source: 'bot' });
  });

  it('never lends the service key to a bot model', () => {
    const model = resolveModel(payloadWith({ env: { model_id: 'm', base_url: 'https://elsewhere.example.com' } }), defaults);
    expect(model.ok && model.apiKey).toBeUndefined();
  });

  it('splits custom headers into static and secret ones', () => {
    const model = resolveModel(
      payloadWith({
        env: {
          model_id: 'm',
          custom_headers: {
            'X-Team': 'platform',
            'X-Num': 5,
            Authorization: 'Bearer abc',
            'X-Api-Key': 'k-123',
            'X-Session-Token': 'zzz',
            'X-Trace': 'Bearer hidden-in-value',
            'X Bad': 'v',
            'X-Obj': { a: 1 },
            'X-Inject': 'a\r\nX-Evil: 1',
          },
        },
      }),
      defaults,
    );
    expect(model).toMatchObject({
      ok: true,
      staticHeaders: { 'X-Team': 'platform', 'X-Num': '5' },
      secretHeaders: { Authorization: 'Bearer abc', 'X-Api-Key': 'k-123', 'X-Session-Token': 'zzz', 'X-Trace': 'Bearer hidden-in-value' },
      warnings: [
        'custom header "X Bad" has an invalid name; ignored',
        'custom header "X-Obj" is not a string; ignored',
        'custom header "X-Inject" contains a line break; ignored',
      ],
    });
  });

  it('passes other string env keys through, except reserved and invalid names', () => {
    const model = resolveModel(
      payloadWith({
        env: {
          model: 'openai',
          model_id: 'm',
          api_key: 'k',
          base_url: 'https://gw',
          custom_headers: {},
          HTTP_PROXY: 'http://proxy:3128',
          EMPTY: '',
          NUM: 5,
          NULLED: null,
          'bad-name': 'v',
          PATH: '/evil',
          LD_PRELOAD: '/evil.so',
          CODEX_HOME: '/elsewhere',
        },
      }),
      defaults,
    );
    expect(model).toMatchObject({
      ok: true,
      extraEnv: { HTTP_PROXY: 'http://proxy:3128', EMPTY: '' },
      warnings: [
        'env key "bad-name" is not a valid variable name; ignored',
        'env key "PATH" is reserved by the service; ignored',
        'env key "LD_PRELOAD" is reserved by the service; ignored',
        'env key "CODEX_HOME" is reserved by the service; ignored',
      ],
    });
  });

  it.each([
    ['agent_config {}', {}],
    ['unresolved binding keys', { bind_model: 'gpt', bind_model_type: 'public' }],
    ['env without model_id', { env: { api_key: 'bot-key-not-used', base_url: 'https://bot.example.com', X: 'y' } }],
    ['blank model_id', { env: { model_id: '  ' } }],
    ['no agent_config', undefined],
  ])('falls back to the default model for %s, without any of the bot env', (_what, agentConfig) => {
    expect(resolveModel(payloadWith(agentConfig), defaults)).toEqual({
      ok: true,
      modelId: 'gpt-5.5',
      baseUrl: 'http://127.0.0.1:8080/v1',
      apiKey: 'sk-service-default-key',
      staticHeaders: {},
      secretHeaders: {},
      extraEnv: {},
      source: 'default',
      warnings: [],
    });
  });

  it('falls back for an empty bot list too', () => {
    const payload = taskPayloadSchema.parse({ task_id: 1, subtask_id: 2, bot: [] });
    expect(resolveModel(payload, { model: 'x', baseUrl: '' })).toMatchObject({
      ok: true,
      modelId: 'x',
      baseUrl: 'https://api.openai.com/v1',
      source: 'default',
    });
  });

  it('is a no_model error when neither the bot nor the service names a model', () => {
    const model = resolveModel(payloadWith({}), noDefaults);
    expect(model).toEqual({
      ok: false,
      code: 'no_model',
      error:
        'No model configured: the bot has no model (bot[0].agent_config.env.model_id is empty) and the service has no default model (set CODEX_MODEL, and OPENAI_API_KEY / OPENAI_BASE_URL as needed)',
    });
  });

  it('is an invalid_base_url error for a non-http base_url, without repeating it', () => {
    const model = resolveModel(payloadWith({ env: { model_id: 'm', base_url: 'ftp://user:hunter2@host' } }), defaults);
    expect(model).toMatchObject({ ok: false, code: 'invalid_base_url' });
    expect(JSON.stringify(model)).not.toContain('hunter2');
    expect(resolveModel(payloadWith({}), { model: 'm', baseUrl: 'not a url' })).toMatchObject({ ok: false, code: 'invalid_base_url' });
  });
});

describe('isSecretName / looksSecretValue', () => {
  it.each([
    ['Authorization', true],
    ['Proxy-Authorization', true],
    ['X-Api-Key', true],
    ['X-Auth-Token', true],
    ['Cookie', true],
    ['client_secret', true],
    ['DB_PASSWORD', true],
    ['X-Team', false],
    ['Content-Type', false],
    ['X-User', false],
  ])('name %s → %s', (name, secret) => expect(isSecretName(name)).toBe(secret));

  it.each([
    ['Bearer abc', true],
    ['basic dXNlcjpwYXNz', true],
    [`ghp_${'a'.repeat(36)}`, true],
    ['token=abcdef', true],
    ['platform', false],
    ['https://mcp.example.com/mcp', false],
    ['alice', false],
  ])('value %j → %s', (value, secret) => expect(looksSecretValue(value)).toBe(secret));
});

describe('collectSecrets', () => {
  const payload = taskPayloadSchema.parse({
    task_id: 305,
    subtask_id: 812,
    user: { name: 'alice', git_token: 'q3ZxK1u0b9cM2l5eH0vW8A==' },
    auth_token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl',
    bot: [
      {
        agent_config: {
          env: {
            model_id: 'gpt-5.5',
            api_key: 'sk-proj-EXAMPLEONLY',
            custom_headers: { 'X-Team': 'platform', Authorization: 'Bearer sk-live-abcdef' },
            MY_SECRET: 'top-secret-value',
            FEATURE_TOKEN_ENABLED: 'true',
            REGION: 'eu-west-1',
          },
        },
        mcp_servers: {
          github: {
            command: 'gh-mcp',
            args: ['--api-key=abcdef123456', '--verbose'],
            env: { GITHUB_PERSONAL_ACCESS_TOKEN: '${{user.git_token}}', LOG_LEVEL: 'debug' },
          },
          docs: {
            type: 'http',
            url: 'https://mcp.example.com/mcp',
            headers: { 'X-User': '${{user.name}}', 'X-Docs-Key': 'docs-key-123456' },
          },
        },
      },
      { agent_config: { env: { model_id: 'other', api_key: 'sk-other-bot-key' } } },
    ],
  });

  it('lists every secret of the payload, and nothing ordinary', () => {
    const secrets = collectSecrets(payload, 'ghp_decryptedToken123');
    expect(secrets.sort()).toEqual(
      [
        'sk-proj-EXAMPLEONLY',
        'Bearer sk-live-abcdef',
        'sk-live-abcdef',
        'top-secret-value',
        'sk-other-bot-key',
        'q3ZxK1u0b9cM2l5eH0vW8A==', // raw (and what ${{user.git_token}} resolves to in the MCP env)
        'ghp_decryptedToken123',
        'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl',
        '--api-key=abcdef123456',
        'docs-key-123456',
      ].sort(),
    );
    for (const ordinary of ['platform', 'true', 'eu-west-1', 'alice', 'debug', '--verbose', 'https://mcp.example.com/mcp', 'gh-mcp']) {
      expect(secrets).not.toContain(ordinary);
    }
  });

  it('leaves out "***", blank and too-short values', () => {
    const p = taskPayloadSchema.parse({
      task_id: 1,
      subtask_id: 1,
      user: { git_token: '***' },
      auth_token: '',
      bot: [{ agent_config: { env: { model_id: 'm', api_key: 'abc' } } }],
    });
    expect(collectSecrets(p, null)).toEqual([]);
  });
});

describe('missingApiKey (issue 9: no internal variable names in the message)', () => {
  const resolved = (env: Record<string, unknown>, d: ModelDefaults = defaults) => {
    const model = resolveModel(payloadWith({ env }), d);
    if (!model.ok) throw new Error(model.error);
    return model;
  };

  it('tells the user to enter the key in the model settings', () => {
    const text = missingApiKey(resolved({ model_id: 'gpt-5.1-codex', base_url: 'https://gw.example.com/v1' }));
    expect(text).toBe(
      'The model "gpt-5.1-codex" has no API key. Open this model\'s settings in Wegent (Models), enter its API key, and send the message again.',
    );
    expect(text).not.toContain('WEGENT_CODEX_API_KEY');
  });

  it('tells the operator when the service default model has none', () => {
    expect(missingApiKey(resolved({}, { model: 'gpt-5.5', baseUrl: 'https://api.openai.com/v1' }))).toBe(
      'The service\'s default model "gpt-5.5" has no API key: the operator of the Codex service must set OPENAI_API_KEY.',
    );
  });

  it('lets a model run that has a key, or a credential header instead', () => {
    expect(missingApiKey(resolved({ model_id: 'm', api_key: 'k-1' }))).toBeNull();
    expect(missingApiKey(resolved({ model_id: 'm', custom_headers: { Authorization: 'Bearer gw-token-123456' } }))).toBeNull();
    expect(missingApiKey(resolved({ model_id: 'm', custom_headers: { 'X-Team': 'platform' } }))).not.toBeNull();
  });
});
