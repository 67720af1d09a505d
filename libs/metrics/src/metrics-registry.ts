import { collectDefaultMetrics, Registry } from 'prom-client';

/** The process's prom-client Registry (Nest token); every series of the process is on it. */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/**
 * One registry per process (not prom-client's global one, so two apps in one test process never
 * collide), with the default Node.js series (`process_*`, `nodejs_*`) under their usual names.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
