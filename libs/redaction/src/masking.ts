import { walkStrings } from './walk';

/**
 * Wegent's sensitive-data masker (docs/protocol/wegent-protocol.md §11.11), reproduced rule for
 * rule. The exact-value scrubbing on top of it is in secret-masker.ts.
 *
 * The original is Python `re` on `str`; where JavaScript regexes differ (`\s`, `\b`, case folding
 * of non-ASCII letters, length in code points) the patterns below spell out Python's meaning.
 */

/** Characters Python's `\s` matches in a `str` pattern (str.isspace()); JS `\s` differs. */
const SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python's Unicode `\w`, for its `\b`. */
const WORD = '[\\p{L}\\p{N}_]';
const WORD_START = `(?<!${WORD})`;
const WORD_BOUNDARY = `(?:(?<=${WORD})(?!${WORD})|(?<!${WORD})(?=${WORD}))`;
/** "Separators" of the table: one or more of `"`, whitespace, `:`, `=`. */
const SEP = `["${SPACE}:=]+`;

/** Upper-cased key name fragments that mark a value as sensitive. */
export const SENSITIVE_KEY_MARKERS: readonly string[] = [
  '_TOKEN',
  '_KEY',
  'PASSWORD',
  'PASSWD',
  '_SECRET',
  '_AUTH',
  'CREDENTIAL',
  'DATABASE_URL',
  'DB_URL',
  'ANTHROPIC',
  'OPENAI',
  'GITHUB_TOKEN',
  'GITLAB_TOKEN',
  'AWS_ACCESS',
  'AWS_SECRET',
  'OIDC_',
  'AES_KEY',
  'AES_IV',
  'ENCRYPTION',
];
/** Fragments that veto a sensitive marker (e.g. `REDIS_HOST`, `DATABASE_URL` via `_URL`). */
export const NON_SENSITIVE_KEY_MARKERS: readonly string[] = [
  '_HOST',
  '_PORT',
  '_ADDR',
  'SERVICE_',
  'KUBERNETES_',
  '_TCP_',
  '_UDP_',
  'PORT_',
  '_URL',
];

/** Wegent's key rule: the upper-cased name has a sensitive marker and no non-sensitive one. */
export function isSensitiveKey(name: string): boolean {
  const upper = name.toUpperCase();
  return SENSITIVE_KEY_MARKERS.some((m) => upper.includes(m)) && !NON_SENSITIVE_KEY_MARKERS.some((m) => upper.includes(m));
}

/** ≤ 8 characters → all `*`; longer → first 4 + 12 `*` + last 4 (lengths in code points). */
export function maskValue(value: string): string {
  const chars = Array.from(value);
  if (chars.length <= 8) return '*'.repeat(chars.length);
  return `${chars.slice(0, 4).join('')}${'*'.repeat(12)}${chars.slice(-4).join('')}`;
}

interface TextRule {
  /** Number in the §11.11 table. */
  rule: number;
  pattern: RegExp;
  /** 'whole': mask the whole match; 'value': group 1 kept, group 2 masked, group 3 kept. */
  masks: 'whole' | 'value';
}

/**
 * Python's IGNORECASE also matches `İ` (U+0130) and `ı` (U+0131) for `i`, in literals and in
 * `[a-z]`/`[A-Z]` ranges; JavaScript's case folding does not. Rewrites a pattern to add them
 * (`ſ` and the Kelvin sign already fold the same way in both).
 */
function withPythonDotlessI(source: string): string {
  let out = '';
  let klass = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    let token = source[i];
    if (token === '\\') {
      const kind = source[i + 1];
      const end = kind === 'p' || kind === 'P' ? source.indexOf('}', i) : kind === 'u' ? i + 5 : kind === 'x' ? i + 3 : i + 1;
      token = source.slice(i, end + 1);
      i = end;
    } else if (!inClass && token === '[') {
      inClass = true;
      klass = '[';
      continue;
    } else if (inClass && token === ']' && klass !== '[' && klass !== '[^') {
      inClass = false;
      out += /a-z|A-Z/.test(klass) ? `${klass}\\u0130\\u0131]` : `${klass}]`;
      continue;
    } else if (!inClass && (token === 'i' || token === 'I')) {
      token = '[i\\u0130\\u0131]';
    }
    if (inClass) klass += token;
    else out += token;
  }
  return out;
}

const rx = (source: string) => new RegExp(withPythonDotlessI(source), 'giu');
const VALUE = '([A-Za-z0-9_.\\-]+)';
const NOT_SPACE_OR_QUOTE = `([^${SPACE}"']+)`;
const AWS_SECRET_VALUE = `([A-Za-z0-9/+=]{40})${WORD_BOUNDARY}`;

const TEXT_RULES: readonly TextRule[] = [
  { rule: 1, masks: 'whole', pattern: rx('github_pat_[A-Za-z0-9_]+') },
  { rule: 2, masks: 'whole', pattern: rx('ghp_[A-Za-z0-9]{36,}') },
  { rule: 3, masks: 'whole', pattern: rx('gho_[A-Za-z0-9]{36,}') },
  { rule: 4, masks: 'whole', pattern: rx('glpat-[A-Za-z0-9_\\-]{20,}') },
  { rule: 5, masks: 'whole', pattern: rx('sk-[A-Za-z0-9]{48,}') },
  { rule: 6, masks: 'whole', pattern: rx('sk-ant-[A-Za-z0-9\\-_]{95,}') },
  { rule: 7, masks: 'whole', pattern: rx('AKIA[0-9A-Z]{16}') },
  { rule: 8, masks: 'value', pattern: rx(`(${WORD_START}aws[_\\-]?secret[_\\-]?(?:access[_\\-]?)?key${SEP})${AWS_SECRET_VALUE}`) },
  { rule: 9, masks: 'value', pattern: rx(`(secret[_\\-]?(?:access[_\\-]?)?key${SEP})${AWS_SECRET_VALUE}`) },
  { rule: 10, masks: 'value', pattern: rx(`(token${SEP})${VALUE}`) },
  { rule: 11, masks: 'value', pattern: rx(`(secret${SEP})${VALUE}`) },
  { rule: 12, masks: 'value', pattern: rx(`(api[_\\-]?key${SEP})${VALUE}`) },
  { rule: 13, masks: 'value', pattern: rx(`(auth[_\\-]?token${SEP})${VALUE}`) },
  { rule: 14, masks: 'whole', pattern: rx('eyJ[A-Za-z0-9_\\-]+\\.eyJ[A-Za-z0-9_\\-]+\\.[A-Za-z0-9_\\-]+') },
  { rule: 15, masks: 'value', pattern: rx(`(password${SEP})${NOT_SPACE_OR_QUOTE}`) },
  { rule: 16, masks: 'value', pattern: rx(`(passwd${SEP})${NOT_SPACE_OR_QUOTE}`) },
  { rule: 17, masks: 'value', pattern: rx(`(pwd${SEP})${NOT_SPACE_OR_QUOTE}`) },
  { rule: 18, masks: 'value', pattern: rx('(mysql://[^:]+:)([^@]+)(@)') },
  { rule: 19, masks: 'value', pattern: rx('(postgresql://[^:]+:)([^@]+)(@)') },
  { rule: 20, masks: 'value', pattern: rx('(mongodb://[^:]+:)([^@]+)(@)') },
  { rule: 21, masks: 'whole', pattern: rx('-----BEGIN [A-Z ]+PRIVATE KEY-----[\\s\\S]+?-----END [A-Z ]+PRIVATE KEY-----') },
];

/** Rule 22: `export NAME=value` with a sensitive NAME. */
const EXPORT_RULE = rx(`(export[${SPACE}]+)([A-Z_][A-Z0-9_]*)(=)(["']?)([^"'${SPACE}]+)(["']?)`);

/** The 22 text rules of §11.11, in order, each applied to the previous output. */
export function maskText(text: string): string {
  if (!text) return text;
  let out = text;
  for (const { pattern, masks } of TEXT_RULES) {
    out = out.replace(pattern, (match: string, ...groups: unknown[]) =>
      masks === 'whole'
        ? maskValue(match)
        : `${groups[0] as string}${maskValue(groups[1] as string)}${typeof groups[2] === 'string' ? groups[2] : ''}`,
    );
  }
  return out.replace(EXPORT_RULE, (match, keyword: string, name: string, eq: string, open: string, value: string, close: string) =>
    isSensitiveKey(name) ? `${keyword}${name}${eq}${open}${maskValue(value)}${close}` : match,
  );
}

/** Wegent's `mask_sensitive_data`: key rule for object values, text rules for every other string. */
export function maskSensitiveData<T>(value: T): T {
  return walkStrings(value, { text: maskText, secret: maskValue, isSecretKey: isSensitiveKey });
}
