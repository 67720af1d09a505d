import { createDecipheriv } from 'node:crypto';

/**
 * `user.git_token` resolution (docs/protocol/wegent-protocol.md §11.2). Wegent's backend sends the token
 * AES-256-CBC encrypted and base64 encoded; older or hand-written values are plain tokens.
 */

/** Wegent's default `GIT_TOKEN_AES_KEY` (32 UTF-8 bytes). */
export const DEFAULT_GIT_TOKEN_AES_KEY = '12345678901234567890123456789012';
/** Wegent's default `GIT_TOKEN_AES_IV` (16 UTF-8 bytes). */
export const DEFAULT_GIT_TOKEN_AES_IV = '1234567890123456';

const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The "looks encrypted" rule: characters outside the base64 alphabet are dropped, the rest must
 * be valid padded base64 whose decoded bytes are non-empty and a whole number of AES blocks.
 * Returns the decoded ciphertext, or null when the value does not look encrypted.
 */
export function encryptedBytes(value: string): Buffer | null {
  const kept = value.replace(/[^A-Za-z0-9+/=]/g, '');
  if (!kept || !CANONICAL_BASE64.test(kept)) return null;
  const bytes = Buffer.from(kept, 'base64');
  return bytes.length > 0 && bytes.length % 16 === 0 ? bytes : null;
}

export function looksEncrypted(value: string): boolean {
  return encryptedBytes(value) !== null;
}

/**
 * The git token to use, or null when there is none (`null`, `""`, blank, `"***"`).
 * A value that looks encrypted is decrypted with `key`/`iv` (their UTF-8 bytes); **any**
 * decryption failure (wrong key size, bad padding, invalid UTF-8) returns the input unchanged.
 * A value that does not look encrypted is used as is, trimmed.
 */
export function decryptGitToken(
  value: string | null | undefined,
  key: string = DEFAULT_GIT_TOKEN_AES_KEY,
  iv: string = DEFAULT_GIT_TOKEN_AES_IV,
): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  if (trimmed === '' || trimmed === '***') return null;
  const cipherText = encryptedBytes(value);
  if (!cipherText) return trimmed;
  try {
    const decipher = createDecipheriv('aes-256-cbc', Buffer.from(key, 'utf8'), Buffer.from(iv, 'utf8'));
    const plain = Buffer.concat([decipher.update(cipherText), decipher.final()]);
    // fatal: invalid UTF-8 is a failure (as Python's strict decode); ignoreBOM: a BOM is kept.
    const token = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(plain);
    return token === '' ? null : token;
  } catch {
    return value;
  }
}
