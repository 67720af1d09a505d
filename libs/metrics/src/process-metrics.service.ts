import { getQueueToken } from '@nestjs/bullmq';
import {
  Inject,
  Injectable,
  type InjectionToken,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { jobIdFor, TASK_QUEUE_NAME, type Config } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys, type EventLogObserver } from '@wegent-codex/event-log';
import { CONFIG, LOGGER, REDIS, type Logger } from '@wegent-codex/runtime';
import { EventMetrics } from './event-metrics';
import { METRICS_REGISTRY } from './metrics-registry';
import { MetricsServer } from './metrics-server';
import { registerScrapeMetrics } from './queue-metrics';
import { registerRedisMetrics } from './redis-metrics';
import { RunSilenceMetrics, type RunningRuns } from './run-silence-metrics';

export interface MetricsModuleOptions {
  /** The registry to fill; one is created (with the default Node.js series) when absent. */
  registry?: Registry;
  /**
   * Provider whose `size` is the number of running Codex processes (the worker's RunRegistry), and
   * whose `all()` lists the runs (for the silence gauge). Looked up across the whole app
   * (ModuleRef, strict: false); absent: these gauges and WORKER_CONCURRENCY's are left out.
   */
  runningProcesses?: InjectionToken;
}

export const METRICS_OPTIONS = Symbol('METRICS_OPTIONS');

/**
 * Wires the process's series to what the process runs: the task queue and the running Codex
 * processes when they exist here (looked up, never required), the events this process appends,
 * and the METRICS_PORT listener.
 */
@Injectable()
export class ProcessMetricsService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger: Logger;
  private readonly server: MetricsServer;
  private stopObserving?: () => void;
  private listeningPort?: number;

  constructor(
    @Inject(METRICS_REGISTRY) readonly registry: Registry,
    @Inject(METRICS_OPTIONS) private readonly options: MetricsModuleOptions,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly events: EventLogRepository,
    private readonly moduleRef: ModuleRef,
  ) {
    this.logger = logger.child({ component: 'metrics' });
    this.server = new MetricsServer(registry);
  }

  /** Port of the METRICS_PORT listener once it listens. */
  get port(): number | undefined {
    return this.listeningPort;
  }

  onModuleInit(): void {
    const queue = this.find<Queue>(getQueueToken(TASK_QUEUE_NAME));
    const running = this.options.runningProcesses
      ? this.find<{ size: number } & Partial<RunningRuns>>(this.options.runningProcesses)
      : undefined;
    registerScrapeMetrics(this.registry, {
      queues: queue ? [queue] : [],
      runningProcesses: running,
      ...(running && { concurrency: this.config.WORKER_CONCURRENCY }),
    });
    const onError = (what: string, error: unknown) =>
      this.logger.debug({ err: error instanceof Error ? error.message : String(error) }, `could not measure ${what}`);
    registerRedisMetrics(this.registry, this.redis, this.keys, onError);
    const observers: EventLogObserver[] = [];
    if (running?.all) observers.push(new RunSilenceMetrics(this.registry, running as RunningRuns));

    const metrics = new EventMetrics(
      this.registry,
      {
        enqueuedAt: async (taskId, subtaskId) => (queue ? (await queue.getJob(jobIdFor(taskId, subtaskId)))?.timestamp : undefined),
        cancelRequestedAt: async (taskId, subtaskId) => {
          const at = Number(await this.redis.hget(this.keys.cancel(taskId), String(subtaskId)));
          return at > 0 ? at : undefined;
        },
      },
      onError,
    );
    observers.push(metrics);
    const stops = observers.map((observer) => this.events.observe(observer));
    this.stopObserving = () => stops.forEach((stop) => stop());
  }

  async onApplicationBootstrap(): Promise<void> {
    const port = this.config.METRICS_PORT;
    if (port === undefined) return;
    this.listeningPort = await this.server.start(this.config.HOST, port);
    this.logger.info({ host: this.config.HOST, port: this.listeningPort }, 'metrics listener on METRICS_PORT serving GET /metrics');
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopObserving?.();
    await this.server.stop();
  }

  private find<T>(token: InjectionToken): T | undefined {
    try {
      return this.moduleRef.get<T>(token as never, { strict: false });
    } catch {
      return undefined;
    }
  }
}
