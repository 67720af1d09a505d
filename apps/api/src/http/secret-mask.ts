import type { HttpRequest } from './http-types';

/** Payload keys whose values are secrets (wegent-protocol.md §2: model key, git token, backend JWT). */
const SECRET_KEYS = new Set(['api_key', 'apiKey', 'git_token', 'auth_token', 'token', 'password']);
const MAX_DEPTH = 8;
/** Shorter strings are not masked: replacing "" or "a" everywhere would garble the text, not protect it. */
const MIN_SECRET_LENGTH = 4;

/** The secret values a request carries: its bearer token and the secret fields of its JSON body. */
export function secretsOf(req: HttpRequest, extra: (string | undefined)[] = []): string[] {
  const found = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value === 'string' && value.length >= MIN_SECRET_LENGTH) found.add(value);
  };
  const walk = (node: unknown, depth: number) => {
    if (depth > MAX_DEPTH || typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (SECRET_KEYS.has(key)) add(value);
      else walk(value, depth + 1);
    }
  };
  walk(req.body, 0);
  const auth = req.headers.authorization;
  if (typeof auth === 'string') add(auth.replace(/^Bearer +/i, '').trim());
  extra.forEach(add);
  return [...found];
}

/** `text` with every known secret replaced by `***`. */
export function maskSecrets(text: string, secrets: string[]): string {
  return secrets.reduce((masked, secret) => masked.split(secret).join('***'), text);
}
