import { Global, Inject, Module, type OnApplicationShutdown, type DynamicModule } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Config } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { createLogger, type Logger } from './logger';
import { createRedis } from './redis';
import { CONFIG, LOGGER, REDIS } from './tokens';

/**
 * Process-wide providers: the validated config, the root logger, the shared Redis connection,
 * the key layout and the event log. Every app module imports it once (forRoot).
 */
@Global()
@Module({})
export class RuntimeModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  static forRoot(config: Config, logger: Logger = createLogger(config)): DynamicModule {
    return {
      module: RuntimeModule,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: REDIS, useFactory: () => createRedis(config, 'commands') },
        { provide: RedisKeys, useValue: new RedisKeys(config.REDIS_PREFIX) },
        {
          provide: EventLogRepository,
          inject: [REDIS, RedisKeys],
          useFactory: (redis: Redis, keys: RedisKeys) => new EventLogRepository(redis, keys),
        },
      ],
      exports: [CONFIG, LOGGER, REDIS, RedisKeys, EventLogRepository],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
