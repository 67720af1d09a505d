import { Counter, Histogram, type Registry } from 'prom-client';
import type { CallbackKind } from '@wegent-codex/event-log';
import type { RelayMetrics } from './relay-metrics';

/**
 * RelayMetrics as Prometheus series on the process registry (GET /metrics). Labels are bounded:
 * callback kinds, failure reasons, HTTP statuses — never task or subtask ids.
 */
export class PrometheusRelayMetrics implements RelayMetrics {
  private readonly latency: Histogram<'kind'>;
  private readonly retries: Counter<'reason'>;
  private readonly failures: Counter<'reason'>;
  private readonly coalescedTotal: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.latency = new Histogram({
      name: 'wegent_codex_callback_delivery_seconds',
      help: 'From the append of an event to the 2xx answer to its callback (retries included), by callback kind',
      labelNames: ['kind'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers,
    });
    this.retries = new Counter({
      name: 'wegent_codex_callback_retries_total',
      help: 'Failed callback attempts that are retried, by reason (HTTP status, "timeout" or "network")',
      labelNames: ['reason'],
      registers,
    });
    this.failures = new Counter({
      name: 'wegent_codex_callback_failures_total',
      help: 'Callbacks given up: "rejected" (a 4xx that retrying cannot fix) or "expired" (still failing after CALLBACK_RETRY_FOR_MS)',
      labelNames: ['reason'],
      registers,
    });
    this.coalescedTotal = new Counter({
      name: 'wegent_codex_callbacks_coalesced_total',
      help: 'Callbacks not sent on their own: 2025 text snapshots a later one superseded, 2026 deltas merged into the one queued before them',
      registers,
    });
    // Known label values start at 0, so rate() works from the first failure on.
    for (const reason of ['rejected', 'expired']) this.failures.inc({ reason }, 0);
  }

  delivered(kind: CallbackKind, latencyMs: number): void {
    this.latency.observe({ kind }, latencyMs / 1000);
  }

  retried(reason: string): void {
    this.retries.inc({ reason });
  }

  failed(reason: 'rejected' | 'expired'): void {
    this.failures.inc({ reason });
  }

  coalesced(count: number): void {
    this.coalescedTotal.inc(count);
  }
}
