export * from './metrics.module';
export * from './metrics-registry';
export { ProcessMetricsService, type MetricsModuleOptions } from './process-metrics.service';
export { EventMetrics, type EventTimeSources } from './event-metrics';
export { MetricsServer } from './metrics-server';
export { bullmqTelemetry } from './bullmq-telemetry';
export { RunSilenceMetrics, type RunningRuns } from './run-silence-metrics';
export { registerRedisMetrics } from './redis-metrics';
