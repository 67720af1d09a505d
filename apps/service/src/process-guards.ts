import type { Logger } from '@wegent-codex/runtime';

type ProcessEvents = Pick<NodeJS.Process, 'on'>;

const describe = (value: unknown): { err: string; stack?: string } =>
  value instanceof Error ? { err: `${value.name}: ${value.message}`, ...(value.stack && { stack: value.stack }) } : { err: String(value) };

/**
 * One process runs many users' jobs: a rejection nobody awaited or an exception thrown from a
 * callback is one job's fault, and must not end every other job, the API and the relay with it.
 * Both are logged (masked by the logger) and the process carries on; the job itself still ends
 * through its own path (BullMQ's 'failed', the stall checker, the run's watchdog).
 */
export function installProcessGuards(logger: Logger, proc: ProcessEvents = process): void {
  proc.on('unhandledRejection', (reason: unknown) => {
    logger.error(describe(reason), 'unhandled promise rejection (the process keeps running)');
  });
  proc.on('uncaughtException', (error: Error, origin: string) => {
    logger.error({ ...describe(error), origin }, 'uncaught exception (the process keeps running)');
  });
}
