/**
 * The little TOML Codex's config.toml needs: strings, numbers, booleans, arrays and tables.
 * Values that are `undefined` or `null` are left out, so optional settings can be passed as is.
 */

export type TomlValue = string | number | boolean | null | undefined | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** A basic string with every character TOML forbids escaped (quotes, backslash, control characters). */
export function tomlString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A key: bare when it only has letters, digits, `_` and `-`, quoted otherwise. */
export function tomlKey(key: string): string {
  return BARE_KEY.test(key) ? key : tomlString(key);
}

function isTable(value: TomlValue): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const present = (entries: [string, TomlValue][]): [string, TomlValue][] => entries.filter(([, v]) => v !== undefined && v !== null);

/** One value written inline: arrays as `[…]`, tables as `{ k = v, … }`. */
export function tomlValue(value: TomlValue): string {
  if (typeof value === 'string') return tomlString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`TOML cannot hold the number ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) {
    return `[${value
      .filter((v) => v !== undefined && v !== null)
      .map(tomlValue)
      .join(', ')}]`;
  }
  if (isTable(value)) {
    const entries = present(Object.entries(value));
    return entries.length ? `{ ${entries.map(([k, v]) => `${tomlKey(k)} = ${tomlValue(v)}`).join(', ')} }` : '{}';
  }
  throw new TypeError('TOML cannot hold null or undefined');
}

/**
 * A whole document: plain values first, nested tables as `[a.b]` sections after them (the order
 * TOML requires). Arrays are always inline.
 */
export function tomlDocument(root: TomlTable): string {
  const lines: string[] = [];
  const writeTable = (table: TomlTable, path: string[]): void => {
    const entries = present(Object.entries(table));
    const plain = entries.filter(([, v]) => !isTable(v));
    const nested = entries.filter(([, v]) => isTable(v)) as [string, TomlTable][];
    if (path.length && (plain.length || !nested.length)) {
      if (lines.length) lines.push('');
      lines.push(`[${path.map(tomlKey).join('.')}]`);
    }
    for (const [key, value] of plain) lines.push(`${tomlKey(key)} = ${tomlValue(value)}`);
    for (const [key, value] of nested) writeTable(value, [...path, key]);
  };
  writeTable(root, []);
  return `${lines.join('\n')}\n`;
}
