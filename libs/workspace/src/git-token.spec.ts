import { createCipheriv } from 'node:crypto';
import { DEFAULT_GIT_TOKEN_AES_IV, DEFAULT_GIT_TOKEN_AES_KEY, decryptGitToken, looksEncrypted } from './git-token';

/** What Wegent's backend does to a token: AES-256-CBC, PKCS7, base64. */
function encrypt(plain: string | Buffer, key = DEFAULT_GIT_TOKEN_AES_KEY, iv = DEFAULT_GIT_TOKEN_AES_IV): string {
  const cipher = createCipheriv('aes-256-cbc', Buffer.from(key, 'utf8'), Buffer.from(iv, 'utf8'));
  return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
}

describe('decryptGitToken', () => {
  it.each([null, undefined, '', '   ', '***', ' *** '])('%j means "no token"', (value) => {
    expect(decryptGitToken(value)).toBeNull();
  });

  it('decrypts a token encrypted with the default key and IV', () => {
    const token = 'ghp_exampleToken123';
    const encrypted = encrypt(token);
    expect(looksEncrypted(encrypted)).toBe(true);
    expect(decryptGitToken(encrypted)).toBe(token);
  });

  it.each([
    // produced by Wegent's Python encrypt_sensitive_data with the default key/IV
    ['AqqaSjF72AYtVeDratVosGUbfD5p2H+W05RyZJ5hS4o=', 'ghp_exampleToken123'],
    ['UGzce/az1nvkh5oFDZbtrg==', 'tökén/ü'],
  ])('decrypts the backend value %s', (encrypted, token) => {
    expect(decryptGitToken(encrypted)).toBe(token);
  });

  it('reads an encrypted empty token as "no token"', () => {
    const encrypted = 'tVIs1T89WnKMXFMUdO/BUA=='; // "" encrypted: one block of PKCS7 padding
    expect(looksEncrypted(encrypted)).toBe(true);
    expect(decryptGitToken(encrypted)).toBeNull();
  });

  it('keeps a byte order mark at the start of a decrypted token (Python keeps it too)', () => {
    expect(decryptGitToken(encrypt('\ufefftok-1'))).toBe('\ufefftok-1');
  });

  it('ignores characters outside the base64 alphabet when checking and decoding', () => {
    const encrypted = encrypt('glpat-abcdefghijklmnopqrst');
    const noisy = ` ${encrypted.slice(0, 10)}\n${encrypted.slice(10)}\t`;
    expect(decryptGitToken(noisy)).toBe('glpat-abcdefghijklmnopqrst');
  });

  it('uses a custom key and IV', () => {
    const key = 'k'.repeat(32);
    const iv = 'v'.repeat(16);
    const encrypted = encrypt('custom-token', key, iv);
    expect(decryptGitToken(encrypted, key, iv)).toBe('custom-token');
  });

  it.each([
    ['a plain token (not base64)', 'ghp_plainToken0123456789', 'ghp_plainToken0123456789'],
    ['a plain token, trimmed', '  glpat-abcdefghijklmnopqrst\n', 'glpat-abcdefghijklmnopqrst'],
    ['base64 that is not whole AES blocks', 'abcd', 'abcd'],
    ['a 32-hex-digit token (24 bytes)', '0123456789abcdef0123456789abcdef', '0123456789abcdef0123456789abcdef'],
  ])('uses %s as is', (_what, value, token) => {
    expect(looksEncrypted(value)).toBe(false);
    expect(decryptGitToken(value)).toBe(token);
  });

  it.each([
    ['bad padding (the doc example value)', 'q3ZxK1u0b9cM2l5eH0vW8A==', undefined, undefined],
    ['a 64-hex-digit token that looks like two blocks', 'ab'.repeat(32), undefined, undefined],
    ['the wrong key', ` ${encrypt('secret-token', 'x'.repeat(32))} `, undefined, undefined],
    ['a key of the wrong size', encrypt('secret-token'), 'short', undefined],
    ['invalid UTF-8 plaintext', encrypt(Buffer.from([0xff, 0xfe, 0x41])), undefined, undefined],
  ])('returns the input unchanged on %s', (_what, value, key, iv) => {
    expect(looksEncrypted(value)).toBe(true);
    expect(decryptGitToken(value, key, iv)).toBe(value);
  });
});

describe('looksEncrypted', () => {
  it.each([
    ['A'.repeat(22) + '==', true], // 16 bytes
    ['A'.repeat(24), false], // 18 bytes
    ['A'.repeat(22) + '=', false], // bad padding
    ['AAAA=AAA', false], // padding in the middle
    ['====', false],
    ['', false],
    ['-_-_', false], // URL-safe characters are dropped, nothing remains
  ])('%j → %s', (value, expected) => expect(looksEncrypted(value)).toBe(expected));
});
