import type { Config } from '@wegent-codex/contracts';
import type { KeyCheck } from './git-token-key-check';
import type { Role } from './roles';

/**
 * A process serving the API without API_TOKEN answers every client that reaches its port — and
 * every task command of every worker does: on loopback when the worker role runs in the same
 * process or pod (the sandbox shares the network), over the pod or compose network otherwise. Such
 * a client reads any tenant's event log (/v1/…/events, SSE), cancels any task and enqueues its own
 * on the service's default model key. So, like the default git token key: a warning at boot, and
 * a refusal when NODE_ENV=production (docs/en/security.md, "Loopback and the pod network").
 */
export function apiTokenCheck(config: Pick<Config, 'API_TOKEN'>, roles: readonly Role[], nodeEnv: string | undefined): KeyCheck {
  if (!roles.includes('api') || config.API_TOKEN) return { verdict: 'ok' };
  const what =
    "without API_TOKEN, /api and /v1 answer anyone who reaches this port, task commands included (any tenant's events, cancel, enqueue); set API_TOKEN";
  return nodeEnv === 'production'
    ? { verdict: 'refuse', message: `${what} (NODE_ENV=production refuses an open API)` }
    : { verdict: 'warn', message: what };
}
