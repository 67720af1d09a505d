/** How deep the walker goes; anything below is replaced by TOO_DEEP, never passed through unmasked. */
export const MAX_WALK_DEPTH = 64;
export const TOO_DEEP = '[too deep]';

export interface WalkRules {
  /** Every string that is not the value of a secret key. */
  text(value: string): string;
  /** A string that is the value of a secret key. */
  secret(value: string): string;
  isSecretKey(key: string): boolean;
  /** Keys whose whole value, of any type, is replaced by `hidden` (logs: a payload, an env). */
  hide?: (key: string) => boolean;
  hidden?: unknown;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

/**
 * The one walker of the redaction library: a copy of `value` with every string passed through
 * `rules` (strings, arrays and plain objects are walked; other values are kept as they are).
 * Cycles are cut (a repeated object maps to its first copy), depth is bounded, the input is never
 * modified, and a `__proto__` key from parsed JSON stays an own property.
 */
export function walkStrings<T>(value: T, rules: WalkRules): T {
  return walk(value, rules, new WeakMap(), 0) as T;
}

function walk(value: unknown, rules: WalkRules, seen: WeakMap<object, unknown>, depth: number): unknown {
  if (typeof value === 'string') return rules.text(value);
  if (!Array.isArray(value) && !isPlainObject(value)) return value;
  if (seen.has(value)) return seen.get(value);
  if (depth >= MAX_WALK_DEPTH) return TOO_DEEP;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(walk(item, rules, seen, depth + 1));
    return out;
  }
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const [key, item] of Object.entries(value)) {
    let masked: unknown;
    if (rules.hide?.(key)) masked = rules.hidden;
    else if (typeof item === 'string' && rules.isSecretKey(key)) masked = rules.secret(item);
    else masked = walk(item, rules, seen, depth + 1);
    Object.defineProperty(out, key, { value: masked, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Every string that is the value of a secret key, anywhere in `value` (same walk, same bounds). */
export function secretValuesByKey(value: unknown, isSecretKey: (key: string) => boolean): Set<string> {
  const found = new Set<string>();
  walkStrings(value, { text: (s) => s, secret: (s) => (found.add(s), s), isSecretKey });
  return found;
}
