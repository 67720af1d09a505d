import { Registry } from 'prom-client';
import { PrometheusRelayMetrics } from './prometheus-relay-metrics';

describe('PrometheusRelayMetrics', () => {
  it('records delivery latency by kind, retries by reason, failures and coalesced text', async () => {
    const registry = new Registry();
    const metrics = new PrometheusRelayMetrics(registry);
    metrics.delivered('text', 40);
    metrics.delivered('terminal', 1_500);
    metrics.retried('503');
    metrics.retried('503');
    metrics.retried('timeout');
    metrics.failed('expired');
    metrics.coalesced(3);

    const text = await registry.metrics();
    expect(text).toMatch(/^wegent_codex_callback_delivery_seconds_bucket\{le="0\.05",kind="text"\} 1$/m);
    expect(text).toMatch(/^wegent_codex_callback_delivery_seconds_sum\{kind="terminal"\} 1\.5$/m);
    expect(text).toMatch(/^wegent_codex_callback_retries_total\{reason="503"\} 2$/m);
    expect(text).toMatch(/^wegent_codex_callback_retries_total\{reason="timeout"\} 1$/m);
    expect(text).toMatch(/^wegent_codex_callback_failures_total\{reason="rejected"\} 0$/m);
    expect(text).toMatch(/^wegent_codex_callback_failures_total\{reason="expired"\} 1$/m);
    expect(text).toMatch(/^wegent_codex_callbacks_coalesced_total 3$/m);
  });
});
