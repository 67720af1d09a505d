import pino, { type Logger } from 'pino';
import type { Config } from '../../contracts/src';
import { createSecretMasker, isSecretName, serviceSecretsOf, walkStrings, type SecretMasker, type WalkRules } from '../../redaction/src';

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
  return { text: masker.maskText, secret: () => REDACTED, isSecretKey: isSecretName, hide: (key) => NEVER_LOGGED.has(key), hidden: REDACTED };
}

/** pino's error serializer, with the message and stack masked; a string `err` is masked too. */
function maskedError(masker: SecretMasker) {
  return (value: unknown): unknown => {
    if (typeof value === 'string') return masker.maskText(value);
    if (!(value instanceof Error)) return value;
    const serialized = pino.stdSerializers.err(value);
    return { ...serialized, message: masker.maskText(serialized.message), ...(serialized.stack && { stack: masker.maskText(serialized.stack) }) };
  };
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
    serializers: { err: maskedError(masker) },
    formatters: { log: (object) => walkStrings(object, rules) },
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
