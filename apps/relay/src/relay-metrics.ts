import type { CallbackKind } from '@wegent-codex/event-log';

/**
 * What the relay reports about its work. The default is a no-op; /metrics plugs a Prometheus
 * implementation in through the RELAY_METRICS token (RelayModule.register({ metrics })).
 */
export interface RelayMetrics {
  /** A callback was answered 2xx; `latencyMs` runs from its event's append to the answer. */
  delivered(kind: CallbackKind, latencyMs: number): void;
  /** One failed attempt that will be retried: the HTTP status, "timeout" or "network". */
  retried(reason: string): void;
  /** A callback given up: a non-retryable answer, or still failing after CALLBACK_RETRY_FOR_MS. */
  failed(reason: 'rejected' | 'expired'): void;
  /** Callbacks not sent on their own: 2025 text snapshots a later one superseded, 2026 deltas merged into the one before. */
  coalesced(count: number): void;
}

export const RELAY_METRICS = Symbol('RELAY_METRICS');

export const noopRelayMetrics: RelayMetrics = {
  delivered: () => undefined,
  retried: () => undefined,
  failed: () => undefined,
  coalesced: () => undefined,
};

/** Plain in-memory counters: enough for tests and for a scrape-time collector. */
export class RelayCounters implements RelayMetrics {
  deliveredTotal = 0;
  retriesTotal = 0;
  rejectedTotal = 0;
  expiredTotal = 0;
  coalescedTotal = 0;
  latencySumMs = 0;
  readonly deliveredByKind: Partial<Record<CallbackKind, number>> = {};

  delivered(kind: CallbackKind, latencyMs: number): void {
    this.deliveredTotal += 1;
    this.deliveredByKind[kind] = (this.deliveredByKind[kind] ?? 0) + 1;
    this.latencySumMs += latencyMs;
  }
  retried(): void {
    this.retriesTotal += 1;
  }
  failed(reason: 'rejected' | 'expired'): void {
    if (reason === 'rejected') this.rejectedTotal += 1;
    else this.expiredTotal += 1;
  }
  coalesced(count: number): void {
    this.coalescedTotal += count;
  }
}
