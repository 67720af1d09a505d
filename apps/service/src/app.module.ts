import { Module, type DynamicModule } from '@nestjs/common';
import type { Config } from '../../../libs/contracts/src';
import { createMetricsRegistry, MetricsModule } from '../../../libs/metrics/src';
import { RuntimeModule, type Logger } from '../../../libs/runtime/src';
import { ApiModule } from '../../api/src/api.module';
import { PrometheusRelayMetrics } from '../../relay/src/prometheus-relay-metrics';
import { RelayModule } from '../../relay/src/relay.module';
import { RunRegistry } from '../../worker/src/run-registry';
import { WorkerModule } from '../../worker/src/worker.module';
import type { Role } from './roles';

/**
 * The composition root: the runtime, the process's metrics, and the modules of the roles this
 * process runs. One Prometheus registry per process collects every role's series.
 */
@Module({})
export class AppModule {
  static forRoles(config: Config, roles: Role[], logger?: Logger): DynamicModule {
    const registry = createMetricsRegistry();
    const modules: (DynamicModule | typeof WorkerModule)[] = [];
    if (roles.includes('api')) modules.push(ApiModule.forRoot({ requireWorkers: roles.includes('worker'), workerInProcess: roles.includes('worker') }));
    if (roles.includes('worker')) modules.push(WorkerModule);
    if (roles.includes('relay')) modules.push(RelayModule.register({ metrics: new PrometheusRelayMetrics(registry) }));
    const metrics = MetricsModule.forRoot({ registry, ...(roles.includes('worker') && { runningProcesses: RunRegistry }) });
    return { module: AppModule, imports: [RuntimeModule.forRoot(config, logger), metrics, ...modules] };
  }
}
