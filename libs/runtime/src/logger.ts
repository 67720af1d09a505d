import pino, { type Logger } from 'pino';
import type { Config } from '../../contracts/src';
import { maskText } from '../../workspace/src/masking';

export type { Logger };

/**
 * Key names whose values never reach a log line, whatever the caller passes. Values inside free
 * text are masked by the masking rules before they are logged (libs/workspace masking).
 */
const REDACTED_PATHS = [
  'api_key', '*.api_key', '*.*.api_key', 'apiKey', '*.apiKey',
  'git_token', '*.git_token', '*.*.git_token',
  'auth_token', '*.auth_token', 'authorization', '*.authorization', '*.headers.authorization',
  'token', '*.token', 'password', '*.password', 'secret', '*.secret',
  'env', '*.env', 'payload', '*.payload',
];

/**
 * Top-level fields that carry free text (error texts, an HTTP answer, a stack) rather than ids.
 * They and the message go through Wegent's text masking rules, a safety net for a secret that
 * reached a message unmasked; callers still mask what they know (the exact secrets of a task).
 */
const FREE_TEXT_FIELDS = ['error', 'message', 'response', 'detail', 'failure', 'last_failure', 'reason', 'stderr', 'trace', 'stack'];

function maskFreeText(args: unknown[]): unknown[] {
  return args.map((arg, index) => {
    if (typeof arg === 'string') return maskText(arg);
    if (index !== 0 || typeof arg !== 'object' || arg === null || arg instanceof Error) return arg;
    const fields = arg as Record<string, unknown>;
    if (!FREE_TEXT_FIELDS.some((key) => typeof fields[key] === 'string')) return arg;
    const masked = { ...fields };
    for (const key of FREE_TEXT_FIELDS) if (typeof masked[key] === 'string') masked[key] = maskText(masked[key]);
    return masked;
  });
}

/** pino's error serializer, with the message and stack masked; a string `err` is masked too. */
function maskedError(value: unknown): unknown {
  if (typeof value === 'string') return maskText(value);
  if (!(value instanceof Error)) return value;
  const serialized = pino.stdSerializers.err(value);
  return { ...serialized, message: maskText(serialized.message), ...(serialized.stack && { stack: maskText(serialized.stack) }) };
}

/**
 * The structured JSON logger of every role: LOG_LEVEL, ISO time, secret keys redacted and free
 * text masked. A run's lines carry task_id, subtask_id, job_id and attempt (child loggers).
 */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, base: Record<string, unknown> = {}, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: config.LOG_LEVEL,
    base: { service: 'wegent-codex', pid: process.pid, ...base },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: maskedError },
    hooks: {
      logMethod(args, method) {
        method.apply(this, maskFreeText(args) as Parameters<typeof method>);
      },
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
