import { isSensitiveKey, maskText, maskValue } from './masking';
import { walkStrings } from './walk';

/** What an exactly known secret is replaced with (reveals neither its content nor its length). */
export const SECRET_PLACEHOLDER = '********';
/** Values shorter than this are not scrubbed: they would hit ordinary text. */
export const MIN_SECRET_LENGTH = 4;

/** Calling the masker is `maskText`. */
export interface SecretMasker {
  (text: string): string;
  /** Replaces only the exact secret values (for text that must otherwise stay verbatim). */
  scrub(text: string): string;
  /** Exact secret values, then Wegent's text rules. */
  maskText(text: string): string;
  /** `maskSensitiveData` with the exact secret values scrubbed from every string first. */
  maskDeep<T>(value: T): T;
}

/** Python's `quote(s, safe="")`: everything but `A-Za-z0-9_.-~` percent-encoded from UTF-8. */
export function percentEncodeAll(value: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(value)) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.\-~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Encoded forms (base64, hex) only from this length: shorter ones would hit ordinary ids and hashes. */
export const MIN_ENCODED_SECRET_LENGTH = 8;

/**
 * The base64 text of `bytes` wherever it sits in a longer encoded stream (`base64 /proc/…/environ`):
 * for each of the three alignments, the characters that depend on the secret's bytes alone —
 * standard and URL-safe alphabets. A line break that `base64` inserts inside it is not covered.
 */
function base64Forms(bytes: Buffer): string[] {
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const first = Math.ceil((8 * offset) / 6);
    const end = Math.floor((8 * (offset + bytes.length)) / 6);
    const inner = encoded.slice(first, end);
    forms.push(inner, inner.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

/**
 * The forms a secret takes in text we see: raw, trimmed, URL-encoded (git URLs), JSON-escaped,
 * and — from MIN_ENCODED_SECRET_LENGTH characters — base64 (any alignment) and hex (either case).
 * Masking stays exact-value only: a secret transformed any other way is not found (the sandbox,
 * not the masker, keeps a run from reading service secrets).
 */
export function secretVariants(secret: string): string[] {
  const forms = new Set<string>();
  for (const s of [secret, secret.trim()]) {
    if (Array.from(s).length < MIN_SECRET_LENGTH) continue;
    forms.add(s);
    forms.add(percentEncodeAll(s));
    forms.add(JSON.stringify(s).slice(1, -1));
    try {
      forms.add(encodeURIComponent(s));
    } catch {
      // Lone surrogates cannot be URI-encoded; the other forms remain.
    }
    if (Array.from(s).length >= MIN_ENCODED_SECRET_LENGTH) {
      const bytes = Buffer.from(s, 'utf8');
      for (const form of base64Forms(bytes)) forms.add(form);
      forms.add(bytes.toString('hex'));
      forms.add(bytes.toString('hex').toUpperCase());
    }
  }
  return [...forms];
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/**
 * A masker for one task: `secrets` are the exact values known for it (api key, git token in both
 * forms, auth token, …; see `collectSecrets`). Non-strings and values shorter than 4 characters
 * are ignored. Longer secrets are replaced first, so a secret containing another is removed whole.
 */
export function createSecretMasker(secrets: Iterable<string | null | undefined>): SecretMasker {
  const variants = new Set<string>();
  for (const secret of secrets) if (typeof secret === 'string') for (const v of secretVariants(secret)) variants.add(v);
  const sorted = [...variants].sort((a, b) => b.length - a.length);
  const pattern = sorted.length ? new RegExp(sorted.map(escapeRegExp).join('|'), 'g') : null;
  const scrub = (text: string) => (pattern && text ? text.replace(pattern, SECRET_PLACEHOLDER) : text);
  const text = (s: string) => maskText(scrub(s));
  const whole = (s: string) => maskValue(scrub(s));
  return Object.assign((s: string) => text(s), {
    scrub,
    maskText: text,
    maskDeep: <T>(value: T) => walkStrings(value, { text, secret: whole, isSecretKey: isSensitiveKey }),
  });
}

/** One-shot form of `createSecretMasker(secrets).maskDeep(value)`. */
export function maskDeep<T>(value: T, secrets: Iterable<string | null | undefined>): T {
  return createSecretMasker(secrets).maskDeep(value);
}
