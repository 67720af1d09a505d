import { Module, type DynamicModule } from '@nestjs/common';
import type { Config } from '@wegent-codex/contracts';
import { createMetricsRegistry, MetricsModule } from '@wegent-codex/metrics';
import { RuntimeModule, type Logger } from '@wegent-codex/runtime';
import { ApiModule } from '../../api/src';
import { PrometheusRelayMetrics, RelayModule } from '../../relay/src';
import { RunRegistry, WorkerModule } from '../../worker/src';
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
    if (roles.includes('api'))
      modules.push(ApiModule.forRoot({ requireWorkers: roles.includes('worker'), workerInProcess: roles.includes('worker') }));
    if (roles.includes('worker')) modules.push(WorkerModule);
    if (roles.includes('relay')) modules.push(RelayModule.register({ metrics: new PrometheusRelayMetrics(registry) }));
    const metrics = MetricsModule.forRoot({ registry, ...(roles.includes('worker') && { runningProcesses: RunRegistry }) });
    return { module: AppModule, imports: [RuntimeModule.forRoot(config, logger), metrics, ...modules] };
  }
}
