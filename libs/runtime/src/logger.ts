import pino, { type Logger } from 'pino';
import type { Config } from '@wegent-codex/contracts';
import {
  createSecretMasker,
  isSecretName,
  serviceSecretsOf,
  walkStrings,
  type SecretMasker,
  type WalkRules,
} from '@wegent-codex/redaction';

export type { Logger };

const REDACTED = '[redacted]';
/** Fields never logged whole, whatever they hold: a task payload, an environment. */
const NEVER_LOGGED = new Set(['payload', 'env']);

/**
 * What a log line may show, by the redaction library's rules: a value under a secret name
 * (isSecretName) is `[redacted]`, a payload or env is `[redacted]` whole, and every other string —
 * the message, format arguments, error texts, any field — goes through the masker: the service's
 * own secrets as exact values (plain, URL-encoded, base64, hex), then Wegent's text rules. Callers
 * still mask what only they know (the exact secrets of a task).
 */
function logRules(masker: SecretMasker): WalkRules {
  return {
    text: masker.maskText,
    secret: () => REDACTED,
    isSecretKey: isSecretName,
    hide: (key) => NEVER_LOGGED.has(key),
    hidden: REDACTED,
  };
}

/**
 * Errors among a line's fields as pino serializes them, but as plain objects, so that logRules mask
 * their message and stack like any other text — once (masking twice is not idempotent).
 */
function serializeErrors(object: Record<string, unknown>): Record<string, unknown> {
  if (!Object.values(object).some((value) => value instanceof Error)) return object;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) out[key] = value instanceof Error ? { ...pino.stdSerializers.err(value) } : value;
  return out;
}

/**
 * The structured JSON logger of every role: LOG_LEVEL, ISO time, secrets redacted and masked
 * (see logRules; the service secrets come from `config`). A run's lines carry task_id,
 * subtask_id, job_id and attempt (child loggers).
 */
export function createLogger(
  config: Pick<Config, 'LOG_LEVEL'> & Partial<Config>,
  base: Record<string, unknown> = {},
  destination?: pino.DestinationStream,
): Logger {
  const masker = createSecretMasker(serviceSecretsOf(config));
  const rules = logRules(masker);
  const options: pino.LoggerOptions = {
    level: config.LOG_LEVEL,
    base: { service: 'wegent-codex', pid: process.pid, ...base },
    formatters: { log: (object) => walkStrings(serializeErrors(object), rules) },
    // Errors are serialized (and masked) by the formatter above; pino's own would re-serialize them.
    serializers: { err: (value: unknown) => value },
    hooks: {
      logMethod(args, method) {
        const masked = args.map((arg) => (typeof arg === 'string' ? masker.maskText(arg) : arg));
        method.apply(this, masked as Parameters<typeof method>);
      },
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
