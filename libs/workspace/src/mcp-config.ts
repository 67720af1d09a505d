import type { Bot } from '@wegent-codex/contracts';

/**
 * MCP servers of `bot[0]` (docs/protocol/wegent-protocol.md §2.5): the nestings Wegent accepts, the
 * `${{path}}` placeholders, and the translation into what Codex can run.
 */

export type McpServerMap = Record<string, unknown>;

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const nonEmptyObject = (value: unknown): value is Record<string, unknown> => isObject(value) && Object.keys(value).length > 0;

/**
 * The server map, first match wins:
 * 1. `mcpServers.mcpServers`  2. `mcpServers.mcp_servers`  3. `mcp_servers.mcp_servers`
 * 4. `mcp_servers.mcpServers` (each a non-empty object)
 * 5. `mcpServers` itself, 6. `mcp_servers` itself (non-empty, without a non-empty inner map)
 * 7. `mcp_servers` as is — `{}` when it is not an object.
 */
export function normalizeMcpServers(bot: Bot | null | undefined): McpServerMap {
  if (!bot) return {};
  const outer = { mcpServers: bot.mcpServers, mcp_servers: bot.mcp_servers };
  for (const [o, i] of [
    ['mcpServers', 'mcpServers'],
    ['mcpServers', 'mcp_servers'],
    ['mcp_servers', 'mcp_servers'],
    ['mcp_servers', 'mcpServers'],
  ] as const) {
    const value = outer[o];
    if (isObject(value) && nonEmptyObject(value[i])) return value[i];
  }
  for (const value of [outer.mcpServers, outer.mcp_servers]) if (nonEmptyObject(value)) return value;
  return isObject(outer.mcp_servers) ? outer.mcp_servers : {};
}

const PLACEHOLDER = /\$\{\{([^}]+)\}\}/g;
const NOT_FOUND = Symbol('not found');

/** `a.b.0.c` against the payload: objects by own key, arrays by decimal index. */
function resolvePath(root: unknown, path: string): unknown {
  if (path === '') return NOT_FOUND;
  let current: unknown = root;
  for (const segment of path.split('.')) {
    if (Array.isArray(current)) {
      if (!/^[0-9]+$/.test(segment)) return NOT_FOUND;
      const index = Number(segment);
      if (index >= current.length) return NOT_FOUND;
      current = current[index];
    } else if (isObject(current) && Object.hasOwn(current, segment)) {
      current = current[segment];
    } else {
      return NOT_FOUND;
    }
  }
  return current;
}

/**
 * The text a found value is substituted as. Booleans as Python prints them (`True`/`False`),
 * integers in full decimal. Objects and arrays (Python would print its repr) as JSON.
 */
function placeholderText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value).toString() : String(value);
  return JSON.stringify(value) ?? String(value);
}

function substituteString(text: string, payload: unknown): string {
  return text.replace(PLACEHOLDER, (placeholder, path: string) => {
    const value = resolvePath(payload, path.trim());
    return value === NOT_FOUND || value === null || value === undefined ? placeholder : placeholderText(value);
  });
}

/**
 * Replaces every `${{ path }}` in every string value (never in keys) with the value at `path` of
 * the payload **as received** — so `${{user.git_token}}` is the encrypted token. Not found or
 * null → the placeholder stays verbatim.
 */
export function substitutePlaceholders<T>(servers: T, payload: unknown): T {
  const visit = (value: unknown): unknown => {
    if (typeof value === 'string') return substituteString(value, payload);
    if (Array.isArray(value)) return value.map(visit);
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visit(v)]));
    return value;
  };
  return visit(servers) as T;
}

export interface CodexStdioServer {
  kind: 'stdio';
  command: string;
  args: string[];
  env: Record<string, string>;
}

export interface CodexHttpServer {
  kind: 'http';
  url: string;
  headers: Record<string, string>;
}

export type CodexMcpServer = CodexStdioServer | CodexHttpServer;

export interface UnsupportedMcpServer {
  name: string;
  /** Why it is skipped; names keys and types, never a configured value. */
  reason: string;
}

export interface CodexMcpServers {
  supported: Record<string, CodexMcpServer>;
  unsupported: UnsupportedMcpServer[];
}

/** Usable as a bare TOML key and in Codex's `mcp__<server>` tool namespace. */
export const MCP_SERVER_NAME = /^[A-Za-z0-9_-]+$/;
const HTTP_TYPES = new Set(['http', 'streamable-http', 'streamablehttp', 'streamable_http']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

class Malformed extends Error {}

const scalarText = (value: unknown, what: string): string => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Malformed(`${what} is not a string`);
};

function stringList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Malformed(`${what} is not a list`);
  return value.map((item, index) => scalarText(item, `${what}[${index}]`));
}

function stringMap(
  value: unknown,
  what: string,
  validName: (name: string) => boolean,
  validValue: (v: string) => boolean = () => true,
): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new Malformed(`${what} is not an object`);
  return Object.fromEntries(
    Object.entries(value).map(([name, item]) => {
      if (!validName(name)) throw new Malformed(`${what} has an invalid name "${name}"`);
      const text = scalarText(item, `${what}.${name}`);
      if (!validValue(text)) throw new Malformed(`${what}.${name} contains a line break or NUL`);
      return [name, text];
    }),
  );
}

function toCodexServer(config: unknown): CodexMcpServer {
  if (!isObject(config)) throw new Malformed('its configuration is not an object');
  const type = config.type;
  if (type !== undefined && type !== null && typeof type !== 'string') throw new Malformed('"type" is not a string');
  const kind = typeof type === 'string' ? type.trim().toLowerCase() : 'stdio';
  if (kind === 'sse') throw new Malformed('it uses the SSE transport, which Codex does not support (only stdio and streamable HTTP)');
  if (kind === 'stdio') {
    const command = config.command;
    if (typeof command !== 'string' || command.trim() === '') {
      throw new Malformed(
        typeof config.url === 'string'
          ? 'it has a url but no "type": "http" (a server without type is a stdio server and needs a command)'
          : '"command" is missing',
      );
    }
    return {
      kind: 'stdio',
      command,
      args: stringList(config.args, 'args'),
      env: stringMap(
        config.env,
        'env',
        (n) => n !== '' && !/[=\u0000]/.test(n),
        (v) => !v.includes('\u0000'),
      ),
    };
  }
  if (HTTP_TYPES.has(kind)) {
    if (typeof config.url !== 'string' || config.url.trim() === '') throw new Malformed('"url" is missing');
    let protocol: string;
    try {
      protocol = new URL(config.url).protocol;
    } catch {
      throw new Malformed('"url" is not a valid URL');
    }
    if (protocol !== 'http:' && protocol !== 'https:') throw new Malformed('"url" is not an http(s) URL');
    return {
      kind: 'http',
      url: config.url,
      headers: stringMap(
        config.headers,
        'headers',
        (n) => HEADER_NAME.test(n),
        (v) => !/[\r\n\u0000]/.test(v),
      ),
    };
  }
  throw new Malformed(`unknown transport type "${type}"`);
}

/**
 * What Codex gets: stdio (`type` absent or `stdio`) → command/args/env; `http`,
 * `streamable-http`, `streamableHttp`, `streamable_http` → url/headers. SSE servers, malformed
 * ones and names that are not `[A-Za-z0-9_-]+` are listed as unsupported with a reason.
 * Numbers and booleans in args/env/headers are taken as their text.
 */
export function toCodexMcpServers(servers: McpServerMap): CodexMcpServers {
  const supported: [string, CodexMcpServer][] = [];
  const unsupported: UnsupportedMcpServer[] = [];
  for (const [name, config] of Object.entries(servers)) {
    if (!MCP_SERVER_NAME.test(name)) {
      unsupported.push({ name, reason: 'the server name may only contain letters, digits, "_" and "-"' });
      continue;
    }
    try {
      supported.push([name, toCodexServer(config)]);
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
      unsupported.push({ name, reason: error.message });
    }
  }
  return { supported: Object.fromEntries(supported), unsupported };
}
