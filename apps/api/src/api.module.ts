import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { QueueModule } from '@wegent-codex/queue';
import { API_DEFAULTS, API_OPTIONS, RESOLVED_API_OPTIONS, type ApiModuleOptions } from './api-options';
import { EventStreamService } from './event-stream.service';
import { ExecutorController } from './executor.controller';
import { HealthController } from './health.controller';
import { ApiExceptionFilter } from './http/api-exception.filter';
import { MetricsController } from './metrics.controller';
import { QueueBoardModule } from './queue-board/queue-board.module';
import { AttachmentSyncService } from './responses/attachment-sync.service';
import { ResponsesController } from './responses/responses.controller';
import { SubtaskQueryService } from './subtask-query.service';
import { TaskIntakeService } from './task-intake.service';
import { TasksController } from './tasks.controller';

/**
 * HTTP intake: the executor-compatible routes, the native /v1 routes, the probes, GET /metrics
 * (of MetricsModule, when the root imports it) and Bull Board at /admin/queues. Needs
 * RuntimeModule.forRoot(config) in the root, and the app set up with configureHttpApp().
 * Import `ApiModule.forRoot(options)`: the board comes with it, because who may open the board
 * depends on whether a worker shares the process. Plain `ApiModule` has no board.
 */
@Module({
  imports: [QueueModule],
  controllers: [ExecutorController, TasksController, ResponsesController, HealthController, MetricsController],
  providers: [
    {
      provide: RESOLVED_API_OPTIONS,
      inject: [{ token: API_OPTIONS, optional: true }],
      useFactory: (options?: ApiModuleOptions) => ({ ...API_DEFAULTS, ...options }),
    },
    { provide: APP_FILTER, useClass: ApiExceptionFilter },
    TaskIntakeService,
    AttachmentSyncService,
    SubtaskQueryService,
    EventStreamService,
  ],
})
export class ApiModule {
  static forRoot(options: ApiModuleOptions = {}): DynamicModule {
    return {
      module: ApiModule,
      imports: [QueueBoardModule.forRoot({ workerInProcess: options.workerInProcess ?? true })],
      providers: [{ provide: API_OPTIONS, useValue: options }],
    };
  }
}
