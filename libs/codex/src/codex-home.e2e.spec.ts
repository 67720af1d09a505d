import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { resolveCodexBinary } from './codex-binary';
import {
  CATALOG_TEMPLATE_SLUG,
  catalogEntryFor,
  codexProcessEnv,
  loadBundledModelCatalog,
  renderCodexConfig,
  renderWarmCodexConfig,
  warmThreadConfig,
  writeCodexHome,
} from './codex-home';

const DATA_ROOT = resolve(__dirname, '../../../.data/test-codex');

describe('warm Codex configuration', () => {
  it('starts a warm process with the service-wide flags only: no model, provider, MCP server or key', () => {
    expect(renderWarmCodexConfig()).toBe(
      [
        'web_search = "disabled"',
        '',
        '[analytics]',
        'enabled = false',
        '',
        '[features]',
        'plugins = false',
        'tool_call_mcp_elicitation = false',
        'shell_snapshot = false',
        '',
        '[tools.update_plan]',
        'enabled = true',
        '',
        '[shell_environment_policy]',
        'ignore_default_excludes = false',
        'exclude = ["WEGENT_CODEX_API_KEY"]',
        '',
      ].join('\n'),
    );
  });

  it("hands the task's whole configuration to thread/start: key as bearer token, secret headers as headers, no key-like names for commands", () => {
    const config = warmThreadConfig(
      {
        model: 'my-model',
        provider: {
          baseUrl: 'https://gw.example.com/v1',
          httpHeaders: { 'X-Team': 'platform' },
          envHttpHeaders: { 'X-Secret': 'WEGENT_CODEX_HEADER_1_KEY' },
          requestMaxRetries: 2,
        },
        modelContextWindow: 262_144,
        modelCatalogPath: '/ws/.task-state/5/codex-home/model-catalog.json',
        mcpServers: { docs: { type: 'http', url: 'https://mcp.example.com/mcp' } },
      },
      { apiKey: 'sk-task-5', secretHeaders: { 'X-Secret': 'hdr-secret' } },
      { HOME: '/ws/.task-state/5/home', GIT_REPO: 'alice/app', GH_TOKEN: 'ghp-x', MY_API_KEY: 'k', CLIENT_SECRET: 's' },
    );
    expect(config).toEqual({
      model: 'my-model',
      model_provider: 'wegent',
      model_reasoning_summary: 'auto',
      model_context_window: 262_144,
      model_catalog_json: '/ws/.task-state/5/codex-home/model-catalog.json',
      mcp_servers: { docs: { url: 'https://mcp.example.com/mcp' } },
      'model_providers.wegent': {
        name: 'Wegent',
        base_url: 'https://gw.example.com/v1',
        wire_api: 'responses',
        request_max_retries: 2,
        http_headers: { 'X-Team': 'platform', 'X-Secret': 'hdr-secret' },
        experimental_bearer_token: 'sk-task-5',
      },
      'shell_environment_policy.set': { HOME: '/ws/.task-state/5/home', GIT_REPO: 'alice/app' },
    });
  });
});

describe('renderCodexConfig', () => {
  it('writes the provider, offline flags, environment policy and MCP servers', () => {
    const text = renderCodexConfig({
      model: 'my-model',
      provider: {
        baseUrl: 'https://llm-gateway.example.com/v1',
        httpHeaders: { 'X-Team': 'platform' },
        envHttpHeaders: { 'X-Secret-Header': 'WEGENT_HDR_1' },
        requestMaxRetries: 4,
        streamMaxRetries: 5,
        streamIdleTimeoutMs: 300_000,
      },
      reasoningEffort: 'high',
      modelContextWindow: 262_144,
      modelCatalogPath: '/data/ws/305/codex-home/model-catalog.json',
      mcpServers: {
        github: { type: 'stdio', command: 'docker', args: ['run', '-i'], env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'ghp_x' } },
        docs: { type: 'http', url: 'https://mcp.example.com/mcp', httpHeaders: { 'X-User': 'alice' } },
      },
    });
    expect(text).toBe(`model = "my-model"
model_provider = "wegent"
model_reasoning_summary = "auto"
model_reasoning_effort = "high"
model_context_window = 262144
model_catalog_json = "/data/ws/305/codex-home/model-catalog.json"
web_search = "disabled"

[analytics]
enabled = false

[features]
plugins = false
tool_call_mcp_elicitation = false
shell_snapshot = false

[tools.update_plan]
enabled = true

[shell_environment_policy]
ignore_default_excludes = false
exclude = ["WEGENT_CODEX_API_KEY", "WEGENT_HDR_1"]

[model_providers.wegent]
name = "Wegent"
base_url = "https://llm-gateway.example.com/v1"
wire_api = "responses"
env_key = "WEGENT_CODEX_API_KEY"
request_max_retries = 4
stream_max_retries = 5
stream_idle_timeout_ms = 300000

[model_providers.wegent.http_headers]
X-Team = "platform"

[model_providers.wegent.env_http_headers]
X-Secret-Header = "WEGENT_HDR_1"

[mcp_servers.github]
command = "docker"
args = ["run", "-i"]

[mcp_servers.github.env]
GITHUB_PERSONAL_ACCESS_TOKEN = "ghp_x"

[mcp_servers.docs]
url = "https://mcp.example.com/mcp"

[mcp_servers.docs.http_headers]
X-User = "alice"
`);
  });

  it('writes the service tier and the context window of a 2026 model_config', () => {
    const text = renderCodexConfig({
      model: 'gpt-5.5',
      provider: { baseUrl: 'http://x/v1' },
      serviceTier: 'priority',
      modelContextWindow: 272000,
    });
    expect(text).toContain('service_tier = "priority"');
    expect(text).toContain('model_context_window = 272000');
    expect(renderCodexConfig({ model: 'gpt-5.5', provider: { baseUrl: 'http://x/v1' } })).not.toContain('service_tier');
  });

  it('configures no key variable for a key-less provider (a header carries the credential)', () => {
    const text = renderCodexConfig({
      model: 'gpt-5.5',
      provider: { baseUrl: 'http://x/v1', envKey: null, envHttpHeaders: { Authorization: 'WEGENT_CODEX_HEADER_1_KEY' } },
    });
    expect(text).not.toContain('env_key');
    expect(text).toContain('exclude = ["WEGENT_CODEX_HEADER_1_KEY"]');
  });

  it('hides a custom key variable from commands even when its name has no KEY/TOKEN/SECRET', () => {
    const text = renderCodexConfig({ model: 'gpt-5.5', provider: { baseUrl: 'http://x/v1', envKey: 'LLM_CREDENTIAL' } });
    expect(text).toContain('env_key = "LLM_CREDENTIAL"');
    expect(text).toContain('exclude = ["LLM_CREDENTIAL"]');
    expect(text).not.toContain('model_catalog_json');
  });
});

describe('model catalog and writeCodexHome (real binary)', () => {
  const bin = resolveCodexBinary();
  let home: string;

  beforeEach(async () => {
    await mkdir(DATA_ROOT, { recursive: true });
    home = await mkdtemp(join(DATA_ROOT, 'home-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('reads the bundled catalog from the binary', async () => {
    const catalog = await loadBundledModelCatalog(bin, home);
    expect(catalog.models.map((m) => m.slug)).toContain(CATALOG_TEMPLATE_SLUG);
  });

  it('copies the gpt-5.5 entry for an unknown slug', async () => {
    const catalog = await loadBundledModelCatalog(bin, home);
    const entry = catalogEntryFor(catalog, 'my-gateway-model', { contextWindow: 131_072, overrides: { supports_search_tool: false } });
    expect(entry).toMatchObject({
      slug: 'my-gateway-model',
      display_name: 'my-gateway-model',
      apply_patch_tool_type: 'freeform',
      context_window: 131_072,
      max_context_window: 131_072,
      supports_search_tool: false,
      upgrade: null,
    });
    const template = catalog.models.find((m) => m.slug === CATALOG_TEMPLATE_SLUG)!;
    expect(entry.shell_type).toBe(template.shell_type);
    expect(template.slug).toBe(CATALOG_TEMPLATE_SLUG); // the cached catalog is not modified
  });

  it('writes config.toml and, only for unknown models, a catalog; both private', async () => {
    const provider = { baseUrl: 'http://127.0.0.1:1/v1' };
    const known = await writeCodexHome({ codexHome: join(home, 'known'), bin, model: 'gpt-5.5', provider });
    expect(known).toEqual({ configPath: join(home, 'known', 'config.toml'), catalogPath: undefined, knownModel: true });
    expect((await stat(known.configPath)).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, 'known'))).mode & 0o777).toBe(0o700);

    const unknown = await writeCodexHome({ codexHome: join(home, 'unknown'), bin, model: 'acme-coder', provider });
    expect(unknown.knownModel).toBe(false);
    expect((await stat(unknown.catalogPath!)).mode & 0o777).toBe(0o600);
    const catalog = JSON.parse(await readFile(unknown.catalogPath!, 'utf8'));
    expect(catalog.models.map((m: { slug: string }) => m.slug)).toEqual(['acme-coder']);
    expect(await readFile(unknown.configPath, 'utf8')).toContain(`model_catalog_json = "${unknown.catalogPath}"`);
  });

  it("each home's catalog says its own model, context window and overrides, also when written again", async () => {
    const provider = { baseUrl: 'http://127.0.0.1:1/v1' };
    const entryOf = async (dir: string, model: string, modelContextWindow?: number, catalogOverrides?: Record<string, unknown>) => {
      const files = await writeCodexHome({ codexHome: join(home, dir), bin, model, provider, modelContextWindow, catalogOverrides });
      const { models } = JSON.parse(await readFile(files.catalogPath!, 'utf8'));
      expect(models).toHaveLength(1);
      const { slug, context_window, max_context_window, supports_search_tool } = models[0];
      return { slug, context_window, max_context_window, supports_search_tool };
    };
    const template = (await loadBundledModelCatalog(bin, home)).models.find((m) => m.slug === CATALOG_TEMPLATE_SLUG)!;
    expect(await entryOf('a', 'acme-coder', 131_072)).toEqual({
      slug: 'acme-coder',
      context_window: 131_072,
      max_context_window: 131_072,
      supports_search_tool: template.supports_search_tool,
    });
    expect(await entryOf('b', 'acme-coder', 262_144)).toMatchObject({ slug: 'acme-coder', context_window: 262_144 });
    expect(await entryOf('c', 'other-model', 131_072)).toMatchObject({ slug: 'other-model', context_window: 131_072 });
    expect(await entryOf('d', 'acme-coder', 131_072, { supports_search_tool: false })).toMatchObject({
      slug: 'acme-coder',
      supports_search_tool: false,
    });
    expect(await entryOf('e', 'acme-coder', 131_072)).toEqual(await entryOf('a', 'acme-coder', 131_072));
    expect((await entryOf('f', 'acme-coder')).context_window).toBe(template.context_window);
  });
});

describe('codexProcessEnv', () => {
  it('builds the whole environment, the key only in its variable', () => {
    const env = codexProcessEnv({ home: '/h', codexHome: '/c', apiKey: 'sk-1', path: '/usr/bin', extra: { GIT_CONFIG_GLOBAL: '/g' } });
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/h',
      CODEX_HOME: '/c',
      LANG: expect.any(String),
      GIT_CONFIG_GLOBAL: '/g',
      WEGENT_CODEX_API_KEY: 'sk-1',
    });
  });
});
