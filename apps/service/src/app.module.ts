import { Module, type DynamicModule } from '@nestjs/common';
import type { Config } from '../../../libs/contracts/src';
import { RuntimeModule, type Logger } from '../../../libs/runtime/src';
import { ApiModule } from '../../api/src/api.module';
import { RelayModule } from '../../relay/src/relay.module';
import { WorkerModule } from '../../worker/src/worker.module';
import type { Role } from './roles';

/** The composition root: the runtime plus the modules of the roles this process runs. */
@Module({})
export class AppModule {
  static forRoles(config: Config, roles: Role[], logger?: Logger): DynamicModule {
    const modules: (DynamicModule | typeof WorkerModule)[] = [];
    if (roles.includes('api')) modules.push(ApiModule.forRoot({ requireWorkers: roles.includes('worker') }));
    if (roles.includes('worker')) modules.push(WorkerModule);
    if (roles.includes('relay')) modules.push(RelayModule);
    return { module: AppModule, imports: [RuntimeModule.forRoot(config, logger), ...modules] };
  }
}
