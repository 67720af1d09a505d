import { Global, Module, type DynamicModule } from '@nestjs/common';
import { createMetricsRegistry, METRICS_REGISTRY } from './metrics-registry';
import { METRICS_OPTIONS, ProcessMetricsService, type MetricsModuleOptions } from './process-metrics.service';

/**
 * Prometheus metrics of the process: one prom-client registry (METRICS_REGISTRY) with the default
 * Node.js series, the queue and Codex-process gauges, the event-derived histograms, and — when
 * METRICS_PORT is set — a listener serving them. The api role serves the same registry on its own
 * port at GET /metrics. Needs RuntimeModule; import once, in the composition root.
 */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(options: MetricsModuleOptions = {}): DynamicModule {
    const registry = options.registry ?? createMetricsRegistry();
    return {
      module: MetricsModule,
      providers: [
        { provide: METRICS_REGISTRY, useValue: registry },
        { provide: METRICS_OPTIONS, useValue: options },
        ProcessMetricsService,
      ],
      exports: [METRICS_REGISTRY, ProcessMetricsService],
    };
  }
}
