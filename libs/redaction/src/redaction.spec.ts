import { loadConfig } from '@wegent-codex/contracts';
import {
  createSecretMasker,
  isSecretName,
  MAX_WALK_DEPTH,
  SECRET_PLACEHOLDER,
  secretValuesByKey,
  serviceSecretsOf,
  TOO_DEEP,
  walkStrings,
} from './index';

const P = SECRET_PLACEHOLDER;

describe('encoded forms of a secret', () => {
  const secret = 'canary-SECRETS_KEY-7f3a9c';
  const masker = createSecretMasker([secret]);
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('scrubs base64 at every alignment inside a longer stream, in both alphabets', () => {
    // `base64 /proc/self/environ`: the secret sits after 0, 1 or 2 bytes of a 3-byte group.
    for (const prefix of ['SECRETS_KEY=', 'X=', 'AB=']) {
      const stream = b64(`PATH=/usr/bin\0${prefix}${secret}\0HOME=/root`);
      const scrubbed = masker.scrub(stream);
      expect(scrubbed).toContain(P);
      // What is left cannot be decoded back into the secret.
      expect(Buffer.from(scrubbed.replace(P, ''), 'base64').toString('latin1')).not.toContain('canary');
    }
    expect(masker.scrub(b64(secret))).toBe(`${P}${b64(secret).slice(Math.floor((8 * secret.length) / 6))}`);
    const urlSafe = Buffer.from(`>>>${secret}???`).toString('base64url');
    expect(masker.scrub(urlSafe)).toContain(P);
  });

  it('scrubs hex in either case', () => {
    const hex = Buffer.from(secret).toString('hex');
    expect(masker.scrub(`dump: 00${hex}ff`)).toBe(`dump: 00${P}ff`);
    expect(masker.scrub(`DUMP: ${hex.toUpperCase()}`)).toBe(`DUMP: ${P}`);
  });

  it('makes no encoded forms of short secrets (they would hit ids and hashes)', () => {
    const short = createSecretMasker(['abc1234']);
    expect(short.scrub(`${Buffer.from('abc1234').toString('hex')} abc1234`)).toBe(`${Buffer.from('abc1234').toString('hex')} ${P}`);
  });
});

describe('serviceSecretsOf', () => {
  it('takes every secret variable and every URL password, but not the public AES defaults', () => {
    const config = loadConfig({
      SECRETS_KEY: 'sk-at-rest-0001',
      API_TOKEN: 'api-token-0002',
      BOARD_USER: 'ops',
      BOARD_PASSWORD: 'board-pass-0003',
      OPENAI_API_KEY: 'sk-default-0004',
      REDIS_URL: 'redis://:redis%2Fpass-0005@redis:6379',
      CALLBACK_URL: 'https://em:cb-pass-0006@em.example.com/callback',
      OPENAI_BASE_URL: 'https://gateway.example.com/v1',
    });
    expect(serviceSecretsOf(config).sort()).toEqual(
      [
        'sk-at-rest-0001',
        'api-token-0002',
        'board-pass-0003',
        'sk-default-0004',
        'redis%2Fpass-0005',
        'redis/pass-0005',
        'cb-pass-0006',
      ].sort(),
    );
    expect(
      serviceSecretsOf({ ...config, GIT_TOKEN_AES_KEY: 'own-key-0123456789-0123456789-01', GIT_TOKEN_AES_IV: 'own-iv-012345678' }),
    ).toEqual(expect.arrayContaining(['own-key-0123456789-0123456789-01', 'own-iv-012345678']));
    expect(serviceSecretsOf({ ...config, REDIS_PASSWORD: 'redis-pw-0007' } as never)).toContain('redis-pw-0007');
    expect(serviceSecretsOf(loadConfig({}))).toEqual([]);
  });
});

describe('isSecretName (the one rule for names)', () => {
  it.each([
    ['api_key', true],
    ['apiKey', true],
    ['OPENAI_API_KEY', true],
    ['git_token', true],
    ['auth_token', true],
    ['authorization', true],
    ['X-Auth-Token', true],
    ['Ocp-Apim-Subscription-Key', true],
    ['db_password', true],
    ['client_secret', true],
    ['Cookie', true],
    ['token', true],
    ['author', false],
    ['author_email', false],
    ['output_tokens', true],
    ['passthrough', false],
    ['key', false],
    ['REDIS_URL', false],
    ['task_id', false],
  ])('%s → %s', (name, secret) => expect(isSecretName(name)).toBe(secret));
});

describe('the walker', () => {
  const rules = { text: (s: string) => s.toUpperCase(), secret: () => 'S', isSecretKey: (k: string) => k === 'pw' };

  it('maps every string, the values of secret keys apart, and leaves the input alone', () => {
    const input = { a: 'x', pw: 'hunter2', n: 1, list: ['y', { pw: 'p', ok: true }], nested: { pw: { deeper: 'z' } } };
    const copy = JSON.parse(JSON.stringify(input));
    expect(walkStrings(input, rules)).toEqual({
      a: 'X',
      pw: 'S',
      n: 1,
      list: ['Y', { pw: 'S', ok: true }],
      nested: { pw: { deeper: 'Z' } },
    });
    expect(input).toEqual(copy);
  });

  it(`stops at ${MAX_WALK_DEPTH} levels with a marker instead of overflowing or passing text through`, () => {
    let deep: unknown = 'secret text';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    let out = walkStrings(deep, rules) as unknown;
    for (let i = 0; i < MAX_WALK_DEPTH; i++) out = (out as unknown[])[0];
    expect(out).toBe(TOO_DEEP);
  });

  it('cuts cycles and finds secret values by key', () => {
    const a: Record<string, unknown> = { token: 'tok-1' };
    a.self = a;
    expect([...secretValuesByKey({ x: [a, { nested: { api_key: 'key-2', author: 'alice' } }] }, isSecretName)]).toEqual(['tok-1', 'key-2']);
  });
});
