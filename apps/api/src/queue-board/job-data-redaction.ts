import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { QueueAdapterOptions } from '@bull-board/api/typings/app';
import type { Queue } from 'bullmq';
import { taskPayloadSchema } from '@wegent-codex/contracts';
import { createSecretMasker, isSecretName, secretValuesByKey } from '@wegent-codex/redaction';
import { collectSecrets } from '@wegent-codex/workspace';

/**
 * Job data as Bull Board shows it. Jobs the API enqueues hold only ids and a `payloadRef`, but a
 * producer that enqueues straight into BullMQ puts the whole Wegent payload inline: its api key,
 * git token and auth token are replaced with `********` wherever they occur (exact values, found
 * by key and by the worker's own secret collection), and the rest goes through Wegent's masking
 * rules — the same masking the worker applies to events.
 */
export function redactJobData(data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return data;
  const secrets = secretValuesByKey(data, isSecretName);
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
