import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { taskPayloadSchema, type TaskPayload } from '../../contracts/src';
import type { RedisKeys } from '../../event-log/src';

/**
 * Keeps task payloads — which carry api keys, git tokens and auth tokens — out of BullMQ job data
 * (and so out of Bull Board). A payload is stored under its own key, sealed with AES-256-GCM when
 * SECRETS_KEY is set (the key is derived with SHA-256 from the configured secret).
 */
export class PayloadVault {
  private readonly key: Buffer | null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    secretsKey: string | undefined,
    private readonly ttlSeconds = 7 * 24 * 3600,
  ) {
    this.key = secretsKey ? createHash('sha256').update(secretsKey, 'utf8').digest() : null;
  }

  get encrypted(): boolean {
    return this.key !== null;
  }

  async store(payload: TaskPayload): Promise<string> {
    const ref = this.keys.payload(payload.task_id, payload.subtask_id);
    await this.redis.set(ref, this.seal(JSON.stringify(payload)), 'EX', this.ttlSeconds);
    return ref;
  }

  async load(ref: string): Promise<TaskPayload | null> {
    const sealed = await this.redis.get(ref);
    if (sealed === null) return null;
    return taskPayloadSchema.parse(JSON.parse(this.open(sealed)));
  }

  async drop(ref: string): Promise<void> {
    await this.redis.del(ref);
  }

  seal(plain: string): string {
    if (!this.key) return `plain:${plain}`;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `gcm1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string): string {
    if (sealed.startsWith('plain:')) return sealed.slice('plain:'.length);
    if (!sealed.startsWith('gcm1:')) throw new Error('stored payload has an unknown format');
    if (!this.key) throw new Error('stored payload is encrypted but SECRETS_KEY is not set');
    const raw = Buffer.from(sealed.slice('gcm1:'.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('stored payload cannot be decrypted with the configured SECRETS_KEY');
    }
  }
}
