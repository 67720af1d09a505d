import type { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { PayloadVault } from '.';

/**
 * The sealing of stored payloads (AES-256-GCM): a fresh nonce for every seal, the auth tag checked, a
 * wrong key refused — with the exact message an operator sees. No Redis: seal/open are pure.
 */
const noRedis = {} as Redis;
const keys = new RedisKeys('vault-spec');
const vault = (secret: string | undefined) => new PayloadVault(noRedis, keys, secret);
const PLAIN = '{"task_id":7,"subtask_id":1,"api_key":"sk-live-7f3a9c"}';

function body(sealed: string): Buffer {
  expect(sealed.startsWith('gcm1:')).toBe(true);
  return Buffer.from(sealed.slice('gcm1:'.length), 'base64');
}
const reseal = (raw: Buffer) => `gcm1:${raw.toString('base64')}`;

describe('PayloadVault sealing', () => {
  it('round-trips, and the sealed text shows nothing of the payload', () => {
    const v = vault('key-one');
    const sealed = v.seal(PLAIN);
    expect(v.encrypted).toBe(true);
    expect(sealed).not.toContain('sk-live');
    expect(body(sealed).toString('latin1')).not.toContain('sk-live');
    expect(body(sealed)).toHaveLength(12 + 16 + Buffer.byteLength(PLAIN)); // nonce, tag, ciphertext
    expect(v.open(sealed)).toBe(PLAIN);
  });

  it('uses a fresh 12-byte nonce for every seal (never reused under one key)', () => {
    const v = vault('key-one');
    const sealed = Array.from({ length: 200 }, () => body(v.seal(PLAIN)));
    const nonces = new Set(sealed.map((raw) => raw.subarray(0, 12).toString('hex')));
    expect(nonces.size).toBe(200);
    const ciphertexts = new Set(sealed.map((raw) => raw.subarray(28).toString('hex')));
    expect(ciphertexts.size).toBe(200); // same plaintext, different keystream each time
  });

  it('refuses a tampered ciphertext', () => {
    const v = vault('key-one');
    const raw = body(v.seal(PLAIN));
    raw[30] ^= 0x01;
    expect(() => v.open(reseal(raw))).toThrow(new Error('stored payload cannot be decrypted with the configured SECRETS_KEY'));
  });

  it('refuses a tampered auth tag or nonce', () => {
    const v = vault('key-one');
    const tag = body(v.seal(PLAIN));
    tag[12] ^= 0x80;
    expect(() => v.open(reseal(tag))).toThrow(new Error('stored payload cannot be decrypted with the configured SECRETS_KEY'));
    const nonce = body(v.seal(PLAIN));
    nonce[0] ^= 0x01;
    expect(() => v.open(reseal(nonce))).toThrow(new Error('stored payload cannot be decrypted with the configured SECRETS_KEY'));
  });

  it('refuses a truncated payload (tag cut off)', () => {
    const v = vault('key-one');
    const raw = body(v.seal(PLAIN));
    expect(() => v.open(reseal(raw.subarray(0, 20)))).toThrow();
    expect(() => v.open(reseal(raw.subarray(0, raw.length - 1)))).toThrow(
      new Error('stored payload cannot be decrypted with the configured SECRETS_KEY'),
    );
  });

  it('refuses another key', () => {
    expect(() => vault('key-two').open(vault('key-one').seal(PLAIN))).toThrow(
      new Error('stored payload cannot be decrypted with the configured SECRETS_KEY'),
    );
  });

  it('an encrypted payload without SECRETS_KEY, or an unknown format, is refused with its reason', () => {
    const sealed = vault('key-one').seal(PLAIN);
    expect(() => vault(undefined).open(sealed)).toThrow(new Error('stored payload is encrypted but SECRETS_KEY is not set'));
    expect(() => vault('key-one').open('rot13:abc')).toThrow(new Error('stored payload has an unknown format'));
  });

  it('without SECRETS_KEY stores in the clear, marked as such', () => {
    const v = vault(undefined);
    expect(v.encrypted).toBe(false);
    expect(v.seal(PLAIN)).toBe(`plain:${PLAIN}`);
    expect(v.open(`plain:${PLAIN}`)).toBe(PLAIN);
  });
});

describe('PayloadVault storage (an in-memory Redis that records its calls)', () => {
  class RecordingRedis {
    readonly calls: unknown[][] = [];
    readonly data = new Map<string, string>();
    async set(...args: [string, string, ...unknown[]]) {
      this.calls.push(['set', ...args]);
      this.data.set(args[0], args[1]);
      return 'OK';
    }
    async get(key: string) {
      this.calls.push(['get', key]);
      return this.data.get(key) ?? null;
    }
    async del(key: string) {
      this.calls.push(['del', key]);
      return this.data.delete(key) ? 1 : 0;
    }
  }
  const payload = {
    task_id: 7,
    subtask_id: 1,
    bot: [{ shell_type: 'Codex', agent_config: { env: { model: 'openai', model_id: 'm', api_key: 'sk-live-7f3a9c' } } }],
    prompt: 'hi',
  };

  it('stores sealed under the subtask key for a week, loads it back parsed, drops it', async () => {
    const redis = new RecordingRedis();
    const v = new PayloadVault(redis as unknown as Redis, keys, 'key-one');
    const ref = await v.store(payload as never);
    expect(ref).toBe('vault-spec:payload:7:1');
    expect(redis.calls[0]).toEqual(['set', 'vault-spec:payload:7:1', expect.stringMatching(/^gcm1:/), 'EX', 604_800]);
    expect(redis.data.get(ref)).not.toContain('sk-live');
    const ids = { task_id: 7, subtask_id: 1 };
    expect(v.refOf(ids)).toBe(ref);
    expect(await v.load(ids)).toMatchObject({ task_id: 7, subtask_id: 1, prompt: 'hi' });
    await v.drop(ids);
    expect(redis.calls.at(-1)).toEqual(['del', ref]);
    expect(await v.load(ids)).toBeNull();
  });

  it('a custom TTL is used as given', async () => {
    const redis = new RecordingRedis();
    await new PayloadVault(redis as unknown as Redis, keys, undefined, 60).store(payload as never);
    expect(redis.calls[0]).toEqual(['set', 'vault-spec:payload:7:1', expect.stringMatching(/^plain:\{/), 'EX', 60]);
  });
});
