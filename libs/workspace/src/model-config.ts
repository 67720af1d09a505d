import type { TaskPayload } from '@wegent-codex/contracts';
import { isSecretName, maskText } from '@wegent-codex/redaction';
import { normalizeMcpServers, substitutePlaceholders } from './mcp-config';

/**
 * The model a task runs with (docs/protocol/wegent-protocol.md §2.4; docs/protocol/codex-cli-notes.md §8.2, §9):
 * `bot[0].agent_config.env`, or the service's default model when the bot names none.
 */

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

export interface ModelDefaults {
  /** OPENAI_API_KEY */
  apiKey?: string;
  /** CODEX_MODEL */
  model?: string;
  /** OPENAI_BASE_URL */
  baseUrl: string;
}

export interface ResolvedModel {
  ok: true;
  /** Thread `model`. */
  modelId: string;
  /** Provider `base_url`, without trailing `/`. */
  baseUrl: string;
  /** For the provider's `env_key` variable; never on a command line. */
  apiKey?: string;
  /** Provider `http_headers`. */
  staticHeaders: Record<string, string>;
  /** Provider `env_http_headers`: header → value, each value passed through its own env var. */
  secretHeaders: Record<string, string>;
  /** Other string `env.*` keys, for the Codex process environment (ClaudeCode parity). */
  extraEnv: Record<string, string>;
  source: 'bot' | 'default';
  /** What was ignored and why (names only, never values), for the log. */
  warnings: string[];
}

export interface ModelConfigError {
  ok: false;
  code: 'no_model' | 'invalid_base_url';
  /** Ready for the FAILED callback; holds no configured value. */
  error: string;
}

export type ModelResolution = ResolvedModel | ModelConfigError;

const MODEL_KEYS = new Set(['model', 'model_id', 'api_key', 'base_url', 'custom_headers']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Variables the service sets itself, or that would change how the Codex binary itself runs. */
const RESERVED_ENV = new Set([
  'PATH',
  'HOME',
  'SHELL',
  'ENV',
  'BASH_ENV',
  'NODE_OPTIONS',
  'GIT_CONFIG_GLOBAL',
  'GIT_CONFIG_SYSTEM',
  'GH_CONFIG_DIR',
  'GLAB_CONFIG_DIR',
  'GIT_ASKPASS',
  'SSH_ASKPASS',
  'GIT_SSH',
  'GIT_SSH_COMMAND',
]);
const RESERVED_ENV_PREFIXES = ['LD_', 'DYLD_', 'CODEX_', 'WEGENT_'];

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const nonBlank = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';
const withoutTrailingSlash = (url: string) => url.trim().replace(/\/+$/, '');

/** A value that reads like a credential: `Bearer …`/`Basic …`, or one Wegent's rules would mask. */
export function looksSecretValue(value: string): boolean {
  return /^\s*(?:bearer|basic|token)\s+\S/i.test(value) || maskText(value) !== value;
}

const isHttpUrl = (url: string) => {
  try {
    const { protocol } = new URL(url);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
};

function splitHeaders(raw: unknown, warnings: string[]) {
  const staticHeaders: [string, string][] = [];
  const secretHeaders: [string, string][] = [];
  if (raw !== undefined && raw !== null && !isRecord(raw)) warnings.push('custom_headers is not an object; ignored');
  for (const [name, value] of Object.entries(isRecord(raw) ? raw : {})) {
    if (!HEADER_NAME.test(name)) {
      warnings.push(`custom header "${name}" has an invalid name; ignored`);
      continue;
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      warnings.push(`custom header "${name}" is not a string; ignored`);
      continue;
    }
    const text = String(value);
    if (/[\r\n\u0000]/.test(text)) {
      warnings.push(`custom header "${name}" contains a line break; ignored`);
      continue;
    }
    (isSecretName(name) || looksSecretValue(text) ? secretHeaders : staticHeaders).push([name, text]);
  }
  return { staticHeaders: Object.fromEntries(staticHeaders), secretHeaders: Object.fromEntries(secretHeaders) };
}

function extraEnvOf(env: Record<string, unknown>, warnings: string[]): Record<string, string> {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(env)) {
    if (MODEL_KEYS.has(name) || typeof value !== 'string') continue;
    if (!ENV_NAME.test(name)) warnings.push(`env key "${name}" is not a valid variable name; ignored`);
    else if (RESERVED_ENV.has(name.toUpperCase()) || RESERVED_ENV_PREFIXES.some((p) => name.toUpperCase().startsWith(p))) {
      warnings.push(`env key "${name}" is reserved by the service; ignored`);
    } else out.push([name, value]);
  }
  return Object.fromEntries(out);
}

/**
 * `env.model_id` set → the bot's model (`base_url` default https://api.openai.com/v1; no
 * fallback to the service key, which must never reach a bot-chosen endpoint). No
 * `env.model_id` (also `agent_config` `{}` or unresolved `bind_model`) → the service default,
 * without any of the bot's env. Neither → a `no_model` error.
 */
export function resolveModel(payload: TaskPayload, defaults: ModelDefaults): ModelResolution {
  const env = payload.bot[0]?.agent_config?.env;
  if (isRecord(env) && nonBlank(env.model_id)) {
    const warnings: string[] = [];
    const baseUrl = nonBlank(env.base_url) ? withoutTrailingSlash(env.base_url) : DEFAULT_OPENAI_BASE_URL;
    if (!isHttpUrl(baseUrl)) {
      return {
        ok: false,
        code: 'invalid_base_url',
        error: "The bot model's base_url (bot[0].agent_config.env.base_url) is not an http(s) URL",
      };
    }
    return {
      ok: true,
      modelId: env.model_id.trim(),
      baseUrl,
      ...(nonBlank(env.api_key) ? { apiKey: env.api_key.trim() } : {}),
      ...splitHeaders(env.custom_headers, warnings),
      extraEnv: extraEnvOf(env, warnings),
      source: 'bot',
      warnings,
    };
  }
  if (nonBlank(defaults.model)) {
    const baseUrl = nonBlank(defaults.baseUrl) ? withoutTrailingSlash(defaults.baseUrl) : DEFAULT_OPENAI_BASE_URL;
    if (!isHttpUrl(baseUrl)) return { ok: false, code: 'invalid_base_url', error: 'OPENAI_BASE_URL is not an http(s) URL' };
    return {
      ok: true,
      modelId: defaults.model.trim(),
      baseUrl,
      ...(nonBlank(defaults.apiKey) ? { apiKey: defaults.apiKey.trim() } : {}),
      staticHeaders: {},
      secretHeaders: {},
      extraEnv: {},
      source: 'default',
      warnings: [],
    };
  }
  return {
    ok: false,
    code: 'no_model',
    error:
      'No model configured: the bot has no model (bot[0].agent_config.env.model_id is empty) and the service has no default model (set CODEX_MODEL, and OPENAI_API_KEY / OPENAI_BASE_URL as needed)',
  };
}

/** Every string leaf of a JSON-like value, with the key it sits under. */
function* leaves(value: unknown, key = ''): Generator<[string, string]> {
  if (typeof value === 'string') yield [key, value];
  else if (Array.isArray(value)) for (const item of value) yield* leaves(item, key);
  else if (isRecord(value)) for (const [k, v] of Object.entries(value)) yield* leaves(v, k);
}

/** Guessed secrets (by name or shape) must be this long: short values like `true` would hit prose. */
const MIN_GUESSED_SECRET_LENGTH = 8;

/**
 * Every secret value of the payload, for `createSecretMasker`: each bot's `api_key`,
 * `user.git_token` as sent and decrypted, `auth_token` (kept from 4 characters), plus guessed
 * ones of 8 characters or more: custom headers and other `env.*` values whose name or value looks
 * secret, and the MCP env/header/arg values of `bot[0]` (after `${{…}}` substitution) likewise.
 * For `Bearer <x>`-style values the credential `<x>` is added too. Blank values and `***` are
 * left out.
 */
export function collectSecrets(payload: TaskPayload, decryptedToken?: string | null): string[] {
  const found = new Set<string>();
  const add = (value: unknown, minLength = 4) => {
    if (typeof value !== 'string' || value.trim() === '***' || value.trim().length < minLength) return;
    found.add(value);
    const credential = /^\s*(?:bearer|basic|token)\s+(\S+)\s*$/i.exec(value)?.[1];
    if (credential && credential.length >= minLength) found.add(credential);
  };
  const guess = (name: string, value: unknown) => {
    if (typeof value === 'string' && (isSecretName(name) || looksSecretValue(value))) add(value, MIN_GUESSED_SECRET_LENGTH);
  };

  for (const bot of payload.bot) {
    const env = bot?.agent_config?.env;
    if (!isRecord(env)) continue;
    add(env.api_key);
    for (const [name, value] of Object.entries(isRecord(env.custom_headers) ? env.custom_headers : {})) guess(name, value);
    for (const [name, value] of Object.entries(env)) if (!MODEL_KEYS.has(name)) guess(name, value);
  }
  add(payload.user?.git_token);
  add(decryptedToken);
  add(payload.auth_token);

  const servers = substitutePlaceholders(normalizeMcpServers(payload.bot[0]), payload);
  for (const [name, value] of leaves(servers)) guess(name, value);
  return [...found];
}

/**
 * Why a resolved model cannot run for want of a key, or null when it can (issue 9: Codex's own
 * text names an internal variable, `Missing environment variable: WEGENT_CODEX_API_KEY`, which
 * nobody can act on). A key-less model whose headers carry the credential is left to run.
 */
export function missingApiKey(model: ResolvedModel): string | null {
  if (model.apiKey) return null;
  if (Object.keys(model.secretHeaders).some((name) => /^(authorization|api-key|x-api-key)$/i.test(name))) return null;
  return model.source === 'bot'
    ? `The model "${model.modelId}" has no API key. Open this model's settings in Wegent (Models), enter its API key, and send the message again.`
    : `The service's default model "${model.modelId}" has no API key: the operator of the Codex service must set OPENAI_API_KEY.`;
}
