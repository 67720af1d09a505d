import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { z } from 'zod';
import { tomlDocument, type TomlTable } from './toml';

/**
 * A task's CODEX_HOME: its `config.toml` (docs/protocol/codex-cli-notes.md §8, §9, §12) and, for model ids
 * the binary does not know, a one-entry model catalog (§8.3).
 */

/** The custom provider id; the built-in `openai` cannot be redefined (§8.2). */
export const WEGENT_PROVIDER_ID = 'wegent';
/** Contains "KEY", so Codex's default environment excludes hide it from model commands (§9). */
export const DEFAULT_API_KEY_ENV = 'WEGENT_CODEX_API_KEY';
/** The bundled entry copied for unknown model ids: it has the shell and freeform apply_patch tools. */
export const CATALOG_TEMPLATE_SLUG = 'gpt-5.5';
export const CONFIG_FILE = 'config.toml';
export const MODEL_CATALOG_FILE = 'model-catalog.json';

export interface CodexProviderOptions {
  /** Responses API root; Codex POSTs `<baseUrl>/responses`. */
  baseUrl: string;
  /**
   * Environment variable holding the API key (sent as `Authorization: Bearer`). `null`: no key
   * at all (a gateway authenticated by a header); Codex then requires no variable.
   */
  envKey?: string | null;
  name?: string;
  /** Static, non-secret headers. */
  httpHeaders?: Record<string, string>;
  /** Header name → environment variable holding its (secret) value. */
  envHttpHeaders?: Record<string, string>;
  requestMaxRetries?: number;
  streamMaxRetries?: number;
  streamIdleTimeoutMs?: number;
}

export type McpServerOptions =
  | {
      type: 'stdio';
      command: string;
      args?: string[];
      env?: Record<string, string>;
      cwd?: string;
      startupTimeoutSec?: number;
      toolTimeoutSec?: number;
    }
  | {
      type: 'http';
      url: string;
      httpHeaders?: Record<string, string>;
      /** Environment variable whose value is sent as a bearer token. */
      bearerTokenEnvVar?: string;
      startupTimeoutSec?: number;
      toolTimeoutSec?: number;
    };

export interface CodexConfigOptions {
  model: string;
  provider: CodexProviderOptions;
  reasoningEffort?: 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max';
  /** Default `auto`: OpenAI models only return reasoning summaries when asked (§8.6). */
  reasoningSummary?: 'auto' | 'concise' | 'detailed' | 'none';
  /** Context window of a custom model (Codex caps unknown models at its default otherwise). */
  modelContextWindow?: number;
  /** `service_tier` of the model requests (Wegent's `model_config.service_tier`, e.g. `priority`). */
  serviceTier?: string;
  /** Absolute path of a model catalog (`model_catalog_json`); it replaces the bundled catalog. */
  modelCatalogPath?: string;
  mcpServers?: Record<string, McpServerOptions>;
  /** Extra variables for model commands, and more names (globs) to hide from them. */
  shellEnvironment?: { set?: Record<string, string>; exclude?: string[] };
}

/** The config.toml text. Secrets never appear in it except MCP `env` values the caller puts there. */
export function renderCodexConfig(options: CodexConfigOptions): string {
  return tomlDocument(codexConfigTable(options));
}

/** config.toml as a table (the cold file, and the source of a warm process's per-thread config). */
export function codexConfigTable(options: CodexConfigOptions): TomlTable {
  const { provider } = options;
  const envKey = provider.envKey === null ? undefined : (provider.envKey ?? DEFAULT_API_KEY_ENV);
  // Commands must never see the key variables, whatever their names (§9).
  const exclude = [
    ...new Set([
      ...(envKey ? [envKey] : []),
      ...Object.values(provider.envHttpHeaders ?? {}),
      ...(options.shellEnvironment?.exclude ?? []),
    ]),
  ];
  const config: TomlTable = {
    model: options.model,
    model_provider: WEGENT_PROVIDER_ID,
    model_reasoning_summary: options.reasoningSummary ?? 'auto',
    model_reasoning_effort: options.reasoningEffort,
    model_context_window: options.modelContextWindow,
    service_tier: options.serviceTier,
    model_catalog_json: options.modelCatalogPath,
    web_search: 'disabled',
    analytics: { enabled: false },
    // shell_snapshot: at every thread's start Codex runs a login shell to capture its environment
    // for later commands; a task's HOME is a fresh, empty folder, so it captures nothing a command's
    // own `bash -lc` does not set, and it delayed the first model request by ~45 ms (measured, 0.169).
    features: { plugins: false, tool_call_mcp_elicitation: false, shell_snapshot: false },
    tools: { update_plan: { enabled: true } },
    shell_environment_policy: {
      ignore_default_excludes: false,
      exclude,
      set: options.shellEnvironment?.set,
    },
    model_providers: {
      [WEGENT_PROVIDER_ID]: {
        name: provider.name ?? 'Wegent',
        base_url: provider.baseUrl,
        wire_api: 'responses',
        env_key: envKey,
        request_max_retries: provider.requestMaxRetries,
        stream_max_retries: provider.streamMaxRetries,
        stream_idle_timeout_ms: provider.streamIdleTimeoutMs,
        http_headers: provider.httpHeaders,
        env_http_headers: provider.envHttpHeaders,
      },
    },
    mcp_servers: options.mcpServers ? mcpServersTable(options.mcpServers) : undefined,
  };
  return config;
}

/** Keys a warm process must have from its start: they are not re-read per thread. */
const PROCESS_WIDE_KEYS = ['web_search', 'analytics', 'features', 'tools', 'shell_environment_policy'] as const;

/**
 * config.toml of a warm `codex app-server` started before its task is known (codex-cli-notes.md
 * §8.1): the service-wide flags only — no model, provider or MCP server, so a process that is
 * never bound has nothing of any task. Its shell policy hides every key-like variable from
 * commands, as a cold task's does.
 */
export function renderWarmCodexConfig(): string {
  const cold = codexConfigTable({ model: 'unused', provider: { baseUrl: 'http://127.0.0.1:9/v1' } });
  const table: TomlTable = {};
  for (const key of PROCESS_WIDE_KEYS) table[key] = cold[key];
  return tomlDocument(table);
}

/** Codex's default command-environment excludes (§9): names holding KEY, SECRET or TOKEN. */
const DEFAULT_EXCLUDED = /KEY|SECRET|TOKEN/i;

/**
 * What a cold task's config.toml and process environment carry, as the `config` of `thread/start`
 * for a warm process (measured on 0.169: per-thread model, provider, catalog, MCP servers and
 * shell variables apply; the process's environment and CODEX_HOME are fixed at its start).
 * The provider keeps the id `wegent`, so the thread's rollout resumes in a cold process with the
 * task's config.toml. The key goes as the provider's bearer token and secret headers as plain
 * headers: they travel on the process's stdin only — never argv, environment, disk or rollout.
 * `commandEnv` is the environment a cold task's commands would see (HOME, git, repository
 * coordinates); key-like names are dropped as Codex's default excludes would drop them.
 */
export function warmThreadConfig(
  options: CodexConfigOptions & { modelCatalogPath?: string },
  secrets: { apiKey?: string; secretHeaders?: Record<string, string> },
  commandEnv: Record<string, string>,
): Record<string, unknown> {
  const table = codexConfigTable(options);
  const provider = { ...((table.model_providers as TomlTable)[WEGENT_PROVIDER_ID] as TomlTable) };
  delete provider.env_key;
  delete provider.env_http_headers;
  provider.http_headers = { ...((provider.http_headers as TomlTable | undefined) ?? {}), ...(secrets.secretHeaders ?? {}) };
  if (secrets.apiKey !== undefined) provider.experimental_bearer_token = secrets.apiKey;
  const set: Record<string, string> = {};
  for (const [name, value] of Object.entries(commandEnv)) if (!DEFAULT_EXCLUDED.test(name)) set[name] = value;
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(table)) {
    if (
      value === undefined ||
      key === 'model_providers' ||
      key === 'shell_environment_policy' ||
      (PROCESS_WIDE_KEYS as readonly string[]).includes(key)
    )
      continue;
    config[key] = value;
  }
  config[`model_providers.${WEGENT_PROVIDER_ID}`] = dropUndefined(provider);
  config['shell_environment_policy.set'] = set;
  return dropUndefined(config) as Record<string, unknown>;
}

function dropUndefined(table: TomlTable | Record<string, unknown>): TomlTable {
  const out: TomlTable = {};
  for (const [key, value] of Object.entries(table)) {
    if (value === undefined) continue;
    out[key] =
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? dropUndefined(value as TomlTable)
        : (value as TomlTable[string]);
  }
  return out;
}

function mcpServersTable(servers: Record<string, McpServerOptions>): TomlTable {
  const table: TomlTable = {};
  for (const [name, server] of Object.entries(servers)) {
    const timeouts = { startup_timeout_sec: server.startupTimeoutSec, tool_timeout_sec: server.toolTimeoutSec };
    table[name] =
      server.type === 'stdio'
        ? { command: server.command, args: server.args, cwd: server.cwd, ...timeouts, env: server.env }
        : {
            url: server.url,
            bearer_token_env_var: server.bearerTokenEnvVar,
            ...timeouts,
            http_headers: server.httpHeaders,
          };
  }
  return table;
}

// ---- model catalog ----

const modelCatalogSchema = z.object({ models: z.array(z.looseObject({ slug: z.string() })) });
export type ModelCatalog = z.infer<typeof modelCatalogSchema>;
export type ModelCatalogEntry = ModelCatalog['models'][number];

const bundledCatalogs = new Map<string, Promise<ModelCatalog>>();

/**
 * The catalog compiled into the binary (`codex debug models --bundled`, no network), cached per
 * binary path. `scratchHome` is an existing directory used as CODEX_HOME/HOME for that call.
 */
export function loadBundledModelCatalog(bin: string, scratchHome: string): Promise<ModelCatalog> {
  let pending = bundledCatalogs.get(bin);
  if (!pending) {
    pending = execa(bin, ['debug', 'models', '--bundled'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: scratchHome, CODEX_HOME: scratchHome },
      extendEnv: false,
      stdin: 'ignore',
      timeout: 30_000,
      maxBuffer: 64 * 1024 * 1024,
    }).then(
      (result) => modelCatalogSchema.parse(JSON.parse(result.stdout)),
      (err: unknown) => {
        bundledCatalogs.delete(bin);
        throw new Error(`could not read the bundled model catalog of ${bin}: ${(err as Error).message}`);
      },
    );
    bundledCatalogs.set(bin, pending);
  }
  return pending;
}

/**
 * A catalog entry for `slug`: a copy of the bundled `gpt-5.5` entry (shell_type, freeform
 * apply_patch, reasoning summaries, …) renamed to `slug`, without its upgrade prompt.
 */
export function catalogEntryFor(
  bundled: ModelCatalog,
  slug: string,
  options: { contextWindow?: number; overrides?: Record<string, unknown> } = {},
): ModelCatalogEntry {
  const template = bundled.models.find((m) => m.slug === CATALOG_TEMPLATE_SLUG);
  if (!template) throw new Error(`the bundled model catalog has no ${CATALOG_TEMPLATE_SLUG} entry to copy`);
  const entry: ModelCatalogEntry = { ...structuredClone(template), slug, display_name: slug, upgrade: null };
  if (options.contextWindow) {
    entry.context_window = options.contextWindow;
    entry.max_context_window = options.contextWindow;
  }
  return { ...entry, ...options.overrides, slug };
}

// ---- the whole home ----

export interface WriteCodexHomeOptions extends Omit<CodexConfigOptions, 'modelCatalogPath'> {
  /** Absolute CODEX_HOME; keep it at the same path for the task's whole life (resume, §10). */
  codexHome: string;
  /** The Codex binary, to read its bundled catalog. */
  bin: string;
  /** Fields merged into the catalog entry of an unknown model (e.g. `supports_search_tool`). */
  catalogOverrides?: Record<string, unknown>;
}

export interface CodexHomeFiles {
  configPath: string;
  /** Set when the model is unknown to the binary and got its own catalog. */
  catalogPath?: string;
  /** The model id is in the binary's bundled catalog. */
  knownModel: boolean;
}

/** Creates CODEX_HOME (0700) and writes config.toml (0600) and, for unknown models, the catalog (0600). */
export async function writeCodexHome(options: WriteCodexHomeOptions): Promise<CodexHomeFiles> {
  const { codexHome, bin, catalogOverrides, ...config } = options;
  mkdirSync(codexHome, { recursive: true, mode: 0o700 });
  // Never the task's CODEX_HOME: its commands may have written a config.toml there.
  const bundled = await loadBundledModelCatalog(bin, await scratchCodexHome());
  const knownModel = bundled.models.some((m) => m.slug === config.model);
  let catalogPath: string | undefined;
  if (!knownModel) {
    catalogPath = join(codexHome, MODEL_CATALOG_FILE);
    writePrivateFile(catalogPath, catalogText(bin, bundled, config.model, config.modelContextWindow, catalogOverrides));
  }
  const configPath = join(codexHome, CONFIG_FILE);
  writePrivateFile(configPath, renderCodexConfig({ ...config, modelCatalogPath: catalogPath }));
  return { configPath, catalogPath, knownModel };
}

/**
 * The catalog file of an unknown model (~45 KB: a clone of the template entry, serialised), made
 * once per model and context window and reused: the same text every run of that model writes,
 * without the clone and the serialisation on the way to Codex's spawn. A few dozen models at most.
 */
const catalogTexts = new Map<string, string>();
const MAX_CATALOG_TEXTS = 64;
function catalogText(
  bin: string,
  bundled: ModelCatalog,
  slug: string,
  contextWindow: number | undefined,
  overrides: Record<string, unknown> | undefined,
): string {
  const key = JSON.stringify([bin, slug, contextWindow ?? null, overrides ?? null]);
  let text = catalogTexts.get(key);
  if (text === undefined) {
    text = `${JSON.stringify({ models: [catalogEntryFor(bundled, slug, { contextWindow, overrides })] })}\n`;
    if (catalogTexts.size >= MAX_CATALOG_TEXTS) catalogTexts.delete(catalogTexts.keys().next().value!);
    catalogTexts.set(key, text);
  }
  return text;
}

/** An empty CODEX_HOME of the service's own, for `codex debug models` (made once per process). */
let scratch: Promise<string> | undefined;
function scratchCodexHome(): Promise<string> {
  const made = scratch ?? mkdtemp(join(tmpdir(), 'wegent-codex-catalog-'));
  scratch = made;
  return made;
}

/**
 * A fresh file: whatever is at `path` (a symlink the task's commands put there, pointing at
 * another task's files) is removed first, never written through.
 */
function writePrivateFile(path: string, content: string): void {
  // Small files on the way to Codex's spawn: written at once (as libs/workspace's safe paths).
  rmSync(path, { force: true });
  writeFileSync(path, content, { mode: 0o600, flag: 'wx' });
}

/** Variables of the service's own environment that Codex and its commands may see (nothing else). */
const PASSED_ENV = [
  'LANG',
  'LC_ALL',
  'TZ',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'NODE_EXTRA_CA_CERTS',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
] as const;

const PROXY_VARS = new Set(['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']);

/**
 * The locale, CA and proxy settings of `env` that a Codex process (cold or warm) is given. A
 * proxy's user and password are the service's: a task can read its own environment, so it gets
 * the proxy's address only (a proxy that must authenticate tasks should do it by source address),
 * and a proxy value that is not a URL is not passed at all.
 */
export function passedServiceEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const passed: Record<string, string> = {};
  for (const name of PASSED_ENV) {
    const value = env[name];
    if (value === undefined) continue;
    if (!PROXY_VARS.has(name)) passed[name] = value;
    else {
      const address = proxyAddress(value);
      if (address !== undefined) passed[name] = address;
    }
  }
  return passed;
}

/** The proxy variables of `env` whose credentials are kept from tasks (for the worker's boot log). */
export function proxyVariablesWithCredentials(env: NodeJS.ProcessEnv = process.env): string[] {
  return [...PROXY_VARS].filter((name) => env[name] !== undefined && proxyAddress(env[name]) !== env[name]);
}

function proxyAddress(value: string): string | undefined {
  if (!value.includes('@')) return value;
  try {
    const url = new URL(value);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return undefined;
  }
}

/**
 * The complete environment of a Codex process: nothing inherited from the service, the API key
 * only in its `env_key` variable, `HOME` pointing at a clean per-task directory (commands run
 * through a login shell, §9).
 */
export function codexProcessEnv(options: {
  home: string;
  codexHome: string;
  apiKey?: string;
  envKey?: string;
  path?: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: options.path ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: options.home,
    CODEX_HOME: options.codexHome,
    LANG: process.env.LANG ?? 'C.UTF-8',
    ...options.extra,
  };
  if (options.apiKey !== undefined) env[options.envKey ?? DEFAULT_API_KEY_ENV] = options.apiKey;
  return env;
}
