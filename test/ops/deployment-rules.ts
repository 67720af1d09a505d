import { configSchema, loadConfig } from '@wegent-codex/contracts';

/** Every environment variable the service reads (the config schema's keys). */
export const CONFIG_VARS: ReadonlySet<string> = new Set(Object.keys(configSchema.shape));

/** What a Wegent deployment must set: the defaults are for one developer machine. */
export const DEPLOYMENT_VARS = ['REDIS_URL', 'CALLBACK_URL', 'WORKSPACE_ROOT', 'EXECUTOR_NAME', 'SECRETS_KEY'] as const;

/** Variables whose value is a secret: only ever from a Secret / the caller's environment. */
export const SECRET_VARS: ReadonlySet<string> = new Set([
  'SECRETS_KEY',
  'API_TOKEN',
  'BOARD_PASSWORD',
  'OPENAI_API_KEY',
  'GIT_TOKEN_AES_KEY',
  'GIT_TOKEN_AES_IV',
  'REDIS_PASSWORD',
]);

export const CONFIG_DEFAULTS = loadConfig({});

/**
 * Seconds a worker needs after SIGTERM in the worst case (apps/worker task-worker.service.ts):
 * SHUTDOWN_GRACE_MS for running jobs to finish, then CANCEL_GRACE_MS + 5 s to stop the rest, up
 * to 5 s to close the BullMQ worker, and 5 s for Nest and Redis teardown.
 */
export function workerStopSeconds(shutdownGraceMs: number, cancelGraceMs: number): number {
  return Math.ceil((shutdownGraceMs + cancelGraceMs) / 1000) + 15;
}

/** Compose / k8s durations: "50s", "1m30s", 45 → seconds. */
export function seconds(value: string | number): number {
  if (typeof value === 'number') return value;
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit as 'ms' | 's' | 'm' | 'h'];
  }
  return total;
}
