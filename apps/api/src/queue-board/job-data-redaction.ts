import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { QueueAdapterOptions } from '@bull-board/api/typings/app';
import type { Queue } from 'bullmq';
import { taskPayloadSchema } from '../../../../libs/contracts/src';
import { createSecretMasker, isSensitiveKey } from '../../../../libs/workspace/src/masking';
import { collectSecrets } from '../../../../libs/workspace/src/model-config';

const MAX_DEPTH = 16;

/** Every string under a secret-looking key (api_key, git_token, auth_token, *_TOKEN, …). */
function secretValues(node: unknown, found: Set<string>, depth = 0): Set<string> {
  if (depth > MAX_DEPTH || typeof node !== 'object' || node === null) return found;
  for (const [key, value] of Object.entries(node)) {
    if (typeof value === 'string' && isSensitiveKey(key)) found.add(value);
    else secretValues(value, found, depth + 1);
  }
  return found;
}

/**
 * Job data as Bull Board shows it. Jobs the API enqueues hold only ids and a `payloadRef`, but a
 * producer that enqueues straight into BullMQ puts the whole Wegent payload inline: its api key,
 * git token and auth token are replaced with `********` wherever they occur (exact values, found
 * by key and by the worker's own secret collection), and the rest goes through Wegent's masking
 * rules — the same masking the worker applies to events.
 */
export function redactJobData(data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return data;
  const secrets = secretValues(data, new Set());
  const payload = taskPayloadSchema.safeParse((data as { payload?: unknown }).payload);
  if (payload.success) for (const secret of collectSecrets(payload.data)) secrets.add(secret);
  return createSecretMasker(secrets).maskDeep(data);
}

/** The BullMQ adapter with `redactJobData` as its formatter of job data and return values. */
export class RedactingBullMQAdapter extends BullMQAdapter {
  constructor(queue: Queue, options?: Partial<QueueAdapterOptions>) {
    super(queue, options);
    this.setFormatter('data', redactJobData);
    this.setFormatter('returnValue', redactJobData);
  }
}
