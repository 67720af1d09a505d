import { BullMQOtel } from 'bullmq-otel';
import type { Telemetry } from 'bullmq';
import type { Config } from '@wegent-codex/contracts';

/**
 * BullMQ's OpenTelemetry hook for a Queue's or Worker's `telemetry` option: spans for add,
 * process, complete and fail, with the trace context carried in the job from producer to worker.
 * Only when OTEL_EXPORTER_OTLP_ENDPOINT is set; the spans go to the OTel SDK registered in the
 * process (this service does not bundle one: preload it, e.g. with NODE_OPTIONS=--require …),
 * and to the no-op tracer of @opentelemetry/api when there is none.
 */
export function bullmqTelemetry(config: Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT'>): Telemetry | undefined {
  return config.OTEL_EXPORTER_OTLP_ENDPOINT ? new BullMQOtel('wegent-codex') : undefined;
}
