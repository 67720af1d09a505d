/**
 * REPO_PROXY_CONFIG (docs/protocol/wegent-protocol.md §11.5): `{"<domain>": {"http.proxy": "…", "https.proxy":
 * "…"}, "*": {…}}`. The entry is looked up by the exact domain, then the lower-cased domain, then
 * `"*"`; a missing or empty entry falls through to the next, as in the original (`a or b or c`). Keys are
 * compared lower-cased; only `http.proxy` and `https.proxy` with non-empty values are kept.
 */

export type RepoProxyKey = 'http.proxy' | 'https.proxy';

export interface RepoProxyLookup {
  /** git config settings to apply, in the order they appear in the entry. */
  settings: [RepoProxyKey, string][];
  /** Set when the configuration is unusable (it is then ignored). */
  warning?: string;
}

const PROXY_KEYS = new Set<string>(['http.proxy', 'https.proxy']);

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Python truthiness, for the original's `config.get(a) or config.get(b) or config.get("*")`. */
const truthy = (value: unknown): boolean =>
  Array.isArray(value) ? value.length > 0 : isObject(value) ? Object.keys(value).length > 0 : Boolean(value);

export function repoProxySettings(raw: string | undefined, gitDomain: string): RepoProxyLookup {
  if (!raw || raw.trim() === '' || !gitDomain) return { settings: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    return { settings: [], warning: `Invalid REPO_PROXY_CONFIG JSON: ${(error as Error).message}` };
  }
  if (!isObject(parsed)) return { settings: [], warning: 'Invalid REPO_PROXY_CONFIG: not a JSON object keyed by domain' };
  const own = (key: string) => (Object.hasOwn(parsed, key) ? parsed[key] : undefined);
  const entry = [own(gitDomain), own(gitDomain.toLowerCase()), own('*')].find(truthy);
  if (!isObject(entry)) return { settings: [] };
  const settings = new Map<RepoProxyKey, string>();
  for (const [key, value] of Object.entries(entry)) {
    const name = key.toLowerCase();
    if (PROXY_KEYS.has(name) && typeof value === 'string' && value !== '') settings.set(name as RepoProxyKey, value);
  }
  return { settings: [...settings] };
}
