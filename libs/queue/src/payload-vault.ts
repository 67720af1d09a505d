import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { taskPayloadSchema, type TaskPayload } from '@wegent-codex/contracts';
import type { RedisKeys } from '@wegent-codex/event-log';

/** A subtask's identity: the only thing that names a stored payload. */
export interface SubtaskIds {
  task_id: number;
  subtask_id: number;
}

/**
 * Keeps task payloads — which carry api keys, git tokens and auth tokens — out of BullMQ job data
 * (and so out of Bull Board). A payload is stored under its own key, sealed with AES-256-GCM when
 * SECRETS_KEY is set (the key is derived with SHA-256 from the configured secret).
 *
 * Loads and drops take the subtask's ids, never a key from job data: a job can only ever reach its
 * own payload, and a loaded payload that names another subtask is refused.
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
    const ref = this.refOf(payload);
    await this.redis.set(ref, this.seal(JSON.stringify(payload)), 'EX', this.ttlSeconds);
    return ref;
  }

  /** The key `store` uses for a subtask (what the API puts in job data as `payloadRef`). */
  refOf(ids: SubtaskIds): string {
    return this.keys.payload(ids.task_id, ids.subtask_id);
  }

  /**
   * The stored payload of a subtask; null when there is none (expired, dropped). Throws
   * `PayloadVaultError` with a reason that names no value when the stored one is unusable.
   */
  async load(ids: SubtaskIds): Promise<TaskPayload | null> {
    const sealed = await this.redis.get(this.refOf(ids));
    if (sealed === null) return null;
    let json: unknown;
    try {
      json = JSON.parse(this.open(sealed));
    } catch (error) {
      throw new PayloadVaultError(error instanceof PayloadVaultError ? error.message : 'stored payload is not JSON');
    }
    const parsed = taskPayloadSchema.safeParse(json);
    if (!parsed.success)
      throw new PayloadVaultError(
        `stored payload is not a task payload (${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')})`,
      );
    if (parsed.data.task_id !== ids.task_id || parsed.data.subtask_id !== ids.subtask_id) {
      throw new PayloadVaultError(
        `stored payload names subtask ${parsed.data.task_id}.${parsed.data.subtask_id}, not ${ids.task_id}.${ids.subtask_id}`,
      );
    }
    return parsed.data;
  }

  async drop(ids: SubtaskIds): Promise<void> {
    await this.redis.del(this.refOf(ids));
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
    if (!sealed.startsWith('gcm1:')) throw new PayloadVaultError('stored payload has an unknown format');
    if (!this.key) throw new PayloadVaultError('stored payload is encrypted but SECRETS_KEY is not set');
    const raw = Buffer.from(sealed.slice('gcm1:'.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new PayloadVaultError('stored payload cannot be decrypted with the configured SECRETS_KEY');
    }
  }
}

/** A stored payload that cannot be used; the message names no value of it. */
export class PayloadVaultError extends Error {
  override name = 'PayloadVaultError';
}
