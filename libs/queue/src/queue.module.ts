import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { TASK_QUEUE_NAME, type Config } from '@wegent-codex/contracts';
import { bullmqTelemetry } from '@wegent-codex/metrics';
import type { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { CONFIG, REDIS, redisOptionsFromUrl } from '@wegent-codex/runtime';
import { CancelRegistry } from './cancel-registry';
import { PayloadVault } from './payload-vault';
import { TaskLane } from './task-lane';
import { TaskQueueService } from './task-queue.service';

/**
 * The Codex task queue (BullMQ), TaskQueueService (enqueue, admission, release, cancel) and its
 * pieces, each built once per process. Needs RuntimeModule.
 */
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
  providers: [
    {
      provide: PayloadVault,
      inject: [REDIS, RedisKeys, CONFIG],
      useFactory: (redis: Redis, keys: RedisKeys, config: Config) => new PayloadVault(redis, keys, config.SECRETS_KEY),
    },
    { provide: TaskLane, inject: [REDIS, RedisKeys], useFactory: (redis: Redis, keys: RedisKeys) => new TaskLane(redis, keys) },
    { provide: CancelRegistry, inject: [REDIS, RedisKeys], useFactory: (redis: Redis, keys: RedisKeys) => new CancelRegistry(redis, keys) },
    TaskQueueService,
  ],
  exports: [TaskQueueService, CancelRegistry, BullModule],
})
export class QueueModule {}
