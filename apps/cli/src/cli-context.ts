import 'reflect-metadata';
import { getQueueToken } from '@nestjs/bullmq';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { TASK_QUEUE_NAME, type Config, type TaskJobData } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { QueueModule, TaskQueueService } from '@wegent-codex/queue';
import { REDIS, RuntimeModule, type Logger } from '@wegent-codex/runtime';

/** Where a command writes: stdout and stderr in the real CLI, buffers in tests. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: CliOutput = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

@Module({})
class CliModule {}

/**
 * What the operator commands work with: the same queue library, event log and key layout as the
 * service, built by Nest from the same modules, so the CLI needs no running api.
 */
export class CliContext {
  private constructor(
    private readonly app: INestApplicationContext,
    readonly config: Config,
    readonly logger: Logger,
    readonly tasks: TaskQueueService,
    readonly events: EventLogRepository,
    readonly keys: RedisKeys,
    readonly queue: Queue<TaskJobData>,
    readonly redis: Redis,
  ) {}

  static async open(config: Config, logger: Logger): Promise<CliContext> {
    const app = await NestFactory.createApplicationContext(
      { module: CliModule, imports: [RuntimeModule.forRoot(config, logger), QueueModule] },
      { logger: false, abortOnError: false },
    );
    await app.init();
    const queue = app.get<Queue<TaskJobData>>(getQueueToken(TASK_QUEUE_NAME));
    // Closing a BullMQ queue that is still connecting emits an unhandled "Connection is closed".
    await queue.waitUntilReady();
    return new CliContext(
      app,
      config,
      logger,
      app.get(TaskQueueService),
      app.get(EventLogRepository),
      app.get(RedisKeys),
      queue,
      app.get<Redis>(REDIS),
    );
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
