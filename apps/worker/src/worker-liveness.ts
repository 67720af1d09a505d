import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Config } from '@wegent-codex/contracts';
import { RedisKeys } from '@wegent-codex/event-log';
import { livenessCadence } from '@wegent-codex/queue';
import { CONFIG, LOGGER, type Logger } from '@wegent-codex/runtime';
import { LivenessBeacon, type BeaconMessage } from './liveness-beacon';

/**
 * This worker process's liveness key (WORKER_LIVENESS_TTL_MS), renewed five times per TTL from a
 * thread of its own (LivenessBeacon), so a main event loop busy with many runs never makes a live
 * worker look lost. Its id is the BullMQ worker's name, so every job it takes names it
 * (`processedBy`): when the key expires, the relay's LostWorkerWatcher ends those jobs FAILED
 * "worker lost" (2026: `error` executor_crash) within seconds. The worst main-loop stall and the
 * worst gap between renewals are measured, written into the key and logged at shutdown.
 */
@Injectable()
export class WorkerLiveness implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private beacon?: LivenessBeacon;
  private started?: Promise<void>;
  private loopDelay?: IntervalHistogram;
  private reportTimer?: NodeJS.Timeout;
  private renewGapMaxMs = 0;
  private readonly lapseListeners: (() => void)[] = [];

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly keys: RedisKeys,
  ) {}

  onApplicationBootstrap(): Promise<void> {
    return this.start();
  }

  /** Resolves after the first renewal attempt (the worker takes jobs only after it). Idempotent. */
  start(): Promise<void> {
    this.started ??= new Promise<void>((resolve) => {
      const ttlMs = this.config.WORKER_LIVENESS_TTL_MS;
      const { renewEveryMs } = livenessCadence(ttlMs);
      this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
      this.loopDelay.enable();
      this.beacon = new LivenessBeacon(
        {
          redisUrl: this.config.REDIS_URL,
          key: this.keys.workerAlive(this.id),
          ttlMs,
          everyMs: renewEveryMs,
          connectionName: 'wegent-codex:liveness',
        },
        (message) => {
          this.onBeacon(message, ttlMs);
          resolve();
        },
      );
      this.reportTimer = setInterval(() => this.beacon?.report(this.stats().loopStallMaxMs), renewEveryMs);
      this.reportTimer.unref();
    });
    return this.started;
  }

  /** Called whenever a renewal finds the key had expired (this worker may have been declared lost). */
  onLapse(listener: () => void): void {
    this.lapseListeners.push(listener);
  }

  /** The worker takes jobs from now on: the main-loop stalls of its boot (warm pool, sweeps) no longer count. */
  measureFromNow(): void {
    this.loopDelay?.reset();
  }

  /** Worst main-loop stall (since measureFromNow) and worst renewal gap so far, ms. */
  stats(): { loopStallMaxMs: number; renewGapMaxMs: number } {
    const max = this.loopDelay?.max ?? 0;
    return { loopStallMaxMs: Math.round(max / 1e6), renewGapMaxMs: this.renewGapMaxMs };
  }

  /** After the worker drained (its runs ended): nothing of this process is running any more. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.reportTimer);
    await this.beacon?.stop(true);
    this.loopDelay?.disable();
    this.logger.info(
      { ...this.stats(), liveness_ttl_ms: this.config.WORKER_LIVENESS_TTL_MS, worker: this.id },
      'worker liveness: worst stalls of this process',
    );
  }

  private onBeacon(message: BeaconMessage, ttlMs: number): void {
    if (message.type === 'failed') this.logger.warn({ err: message.error }, 'could not refresh the worker liveness key');
    if (message.type !== 'renewed') return;
    this.renewGapMaxMs = Math.max(this.renewGapMaxMs, Math.round(message.gapMs));
    if (message.lapsed)
      this.logger.error(
        { gap_ms: Math.round(message.gapMs), liveness_ttl_ms: ttlMs, worker: this.id },
        'the liveness key of this worker expired before it was renewed: its running jobs may have been ended as worker lost',
      );
    if (message.lapsed) for (const listener of this.lapseListeners) listener();
  }
}
