import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '@wegent-codex/contracts';
import { TaskQueueService } from '@wegent-codex/queue';
import { CONFIG, LOGGER, type Logger } from '@wegent-codex/runtime';

/**
 * This worker process's liveness key (WORKER_LIVENESS_TTL_MS, refreshed three times per TTL). The
 * 2026 runs it claims are alive exactly as long as the key: when the process dies, the heartbeat
 * sender stops their heartbeats and ends them with `error` executor_crash
 * (docs/protocol/wegent-protocol-2026.md §5).
 */
@Injectable()
export class WorkerLiveness implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly tasks: TaskQueueService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const ttl = this.config.WORKER_LIVENESS_TTL_MS;
    await this.tasks.heartbeats.keepAlive(this.id, ttl);
    this.timer = setInterval(
      () => {
        this.tasks.heartbeats
          .keepAlive(this.id, ttl)
          .catch((error: unknown) => this.logger.warn({ err: String(error) }, 'could not refresh the worker liveness key'));
      },
      Math.max(200, Math.floor(ttl / 3)),
    );
    this.timer.unref();
  }

  /** After the worker drained (its runs ended): nothing of this process is running any more. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.tasks.heartbeats.forget(this.id).catch(() => undefined);
  }
}
