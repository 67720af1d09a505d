import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { TASK_QUEUE_NAME, type Config } from '../../contracts/src';
import { bullmqTelemetry } from '../../metrics/src/bullmq-telemetry';
import { CONFIG, redisOptionsFromUrl } from '../../runtime/src';
import { TaskQueueService } from './task-queue.service';

/** The Codex task queue (BullMQ) and its producer-side service. Needs RuntimeModule. */
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [CONFIG],
      useFactory: (config: Config) => {
        const telemetry = bullmqTelemetry(config);
        return { connection: redisOptionsFromUrl(config.REDIS_URL), prefix: config.REDIS_PREFIX, ...(telemetry ? { telemetry } : {}) };
      },
    }),
    BullModule.registerQueue({ name: TASK_QUEUE_NAME }),
  ],
  providers: [TaskQueueService],
  exports: [TaskQueueService, BullModule],
})
export class QueueModule {}
