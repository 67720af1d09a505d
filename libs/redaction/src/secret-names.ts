import { isSensitiveKey } from './masking';

/** Words that make a name a secret's name wherever they stand (x-auth-token, db_password, Cookie). */
const SECRET_WORDS = new Set([
  'token',
  'tokens',
  'secret',
  'secrets',
  'password',
  'passwords',
  'passwd',
  'pwd',
  'passphrase',
  'authorization',
  'authentication',
  'auth',
  'cookie',
  'credential',
  'credentials',
  'signature',
  'apikey',
  'authtoken',
  'accesstoken',
  'privatekey',
  'jwt',
  'session',
  'sessionid',
]);

/** `X-Api-Key` → ['x', 'api', 'key']; `apiKey` → ['api', 'key']. */
const wordsOf = (name: string): string[] =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

/**
 * The one rule for "this name holds a secret" (an object key, a header, an env variable): Wegent's
 * key rule (docs/protocol/wegent-protocol.md §11.11: `_TOKEN`, `_KEY`, `PASSWORD`, … without
 * `_URL`/`_HOST`/…), or a secret word in the name (`token`, `auth`, `cookie`, `signature`, …), or a
 * name of several words that ends in `key` (`api_key`, `Subscription-Key`). Word-based, so
 * `author`, `output_tokens` and `passthrough` are not secrets.
 */
export function isSecretName(name: string): boolean {
  if (isSensitiveKey(name)) return true;
  const words = wordsOf(name);
  if (words.some((word) => SECRET_WORDS.has(word))) return true;
  return words.length > 1 && words[words.length - 1] === 'key';
}
