import pino, { type Logger } from 'pino';
import type { Config } from '../../contracts/src';

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

export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, base: Record<string, unknown> = {}, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: config.LOG_LEVEL,
    base: { service: 'wegent-codex', pid: process.pid, ...base },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
