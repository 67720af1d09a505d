import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@wegent-codex/runtime';

/** The production logger (same redaction) writing into memory, for assertions on log lines. */
export function memoryLogger(level: 'debug' | 'info' | 'trace' = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ LOG_LEVEL: level }, {}, stream), lines };
}

/** A logger that drops everything, for components built by hand in a spec whose logs are not asserted. */
export const silentLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
  child: () => silentLogger,
} as never;
