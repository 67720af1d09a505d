import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Config } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { CONFIG, LOGGER, REDIS, createRedis, type Logger } from '@wegent-codex/runtime';
import { sleep } from './backoff';
import { CallbackSender } from './callback-sender';
import { DeliveryScheduler } from './delivery-scheduler';
import { OutboxRepository, type OutboxBatch } from './outbox.repository';
import { RelayLockRepository } from './relay-lock.repository';
import { RELAY_METRICS, type RelayMetrics } from './relay-metrics';
import { relayTimings, type RelayTimings } from './relay-timings';
import { SubtaskDelivery } from './subtask-delivery';

export type RelayState = 'created' | 'idle' | 'running' | 'stopped';

interface Running {
  blocking: Redis;
  /** The delivery passes' commands: auto-pipelined, so the passes running at once share writes. */
  commands: Redis;
  scheduler: DeliveryScheduler;
  abort: AbortController;
  loops: Promise<void>[];
}

/**
 * Turns the event log into executor_manager callbacks: reads the outbox through the consumer group
 * "relay", delivers each subtask's callbacks in order under a per-subtask lock, claims the entries
 * of relays that died, and acknowledges entries once their events are delivered. At least once:
 * a callback whose answer was not seen is sent again, with the same Idempotency-Key.
 */
@Injectable()
export class RelayService implements OnApplicationBootstrap, OnApplicationShutdown {
  /** Unique per process (and per instance, so two relays can share a test process). */
  readonly consumer = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly logger: Logger;
  private readonly timings: RelayTimings;
  private readonly outbox: OutboxRepository;
  private running?: Running;
  private status: RelayState = 'created';

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly sender: CallbackSender,
    @Inject(RELAY_METRICS) private readonly metrics: RelayMetrics,
  ) {
    this.logger = logger.child({ component: 'relay', consumer: this.consumer });
    this.timings = relayTimings(config);
    this.outbox = new OutboxRepository(redis, keys);
  }

  get state(): RelayState {
    return this.status;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  async start(): Promise<void> {
    if (this.status !== 'created') return;
    if (!this.config.CALLBACK_URL) {
      this.status = 'idle';
      this.logger.warn('CALLBACK_URL is not set: the relay idles and events stay in Redis until a relay with CALLBACK_URL runs');
      return;
    }
    await this.outbox.ensureGroup();
    const abort = new AbortController();
    const { timings } = this;
    // Every running pass listens on this signal (and removes its listener when it ends), as do the
    // four loops' sleeps: without a limit this high, Node warns of a leak at the 11th pass.
    setMaxListeners(timings.maxInFlight + 8, abort.signal);
    // Commands issued in the same tick go out as one write: with 64 passes at once, far fewer
    // syscalls (a third of the relay's CPU was socket writes) and no change in order or meaning.
    const commands = createRedis(this.config, 'relay-commands', { enableAutoPipelining: true });
    const delivery = new SubtaskDelivery(
      new EventLogRepository(commands, this.keys),
      new RelayLockRepository(commands, this.keys),
      this.sender,
      this.metrics,
      this.logger,
      {
        owner: this.consumer,
        coalesceMs: this.config.CALLBACK_COALESCE_MS,
        lockTtlMs: timings.lockTtlMs,
        lockRefreshMs: timings.lockRefreshMs,
        pageSize: timings.pageSize,
        maxCachedFolds: timings.maxCachedFolds,
        fold: { executorName: this.config.EXECUTOR_NAME, executorNamespace: this.config.EXECUTOR_NAMESPACE },
      },
    );
    const scheduler = new DeliveryScheduler(
      delivery,
      new OutboxRepository(commands, this.keys),
      this.logger,
      {
        maxInFlight: timings.maxInFlight,
        gather: timings.gather,
        retryBaseMs: this.config.CALLBACK_RETRY_BASE_MS,
        retryMaxMs: this.config.CALLBACK_RETRY_MAX_MS,
        lingerMs: timings.lingerMs,
      },
      abort.signal,
    );
    const blocking = createRedis(this.config, 'relay-outbox');
    const running: Running = { blocking, commands, scheduler, abort, loops: [] };
    this.running = running;
    this.status = 'running';
    running.loops = [
      this.readLoop(running),
      this.every(timings.claimEveryMs, abort.signal, 'claiming idle outbox entries', () => this.claimIdle(running)),
      this.every(timings.entryTouchMs, abort.signal, 'touching own outbox entries', () => this.touchOwn(running)),
      this.every(timings.consumerPruneEveryMs, abort.signal, 'pruning consumers', () => this.pruneConsumers(), true),
    ];
    this.logger.info({ callback_url: redactUrl(this.config.CALLBACK_URL) }, 'relay started');
  }

  /**
   * Stops promptly: aborts back-off waits (their callbacks stay after the cursor and their entries
   * pending, so they are sent again later), lets a request already sent get its answer (at most
   * IN_FLIGHT_GRACE_MS) so that what EM took is not sent twice, releases locks, closes the
   * connections to executor_manager, and leaves the consumer group if it owns nothing.
   */
  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    if (this.status === 'created' || this.status === 'idle') this.status = 'stopped';
    if (!running) return;
    this.status = 'stopped';
    running.abort.abort();
    running.scheduler.stop();
    running.blocking.disconnect(); // ends a blocked XREADGROUP at once
    await Promise.allSettled(running.loops);
    await running.scheduler.drain();
    // No pass is left to POST: the connections to EM close now, not after their keep-alive.
    await this.sender
      .close()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'closing the connections to executor_manager failed'));
    running.commands.disconnect();
    await this.outbox.removeConsumerIfIdle(this.consumer).catch(() => false);
    this.logger.info('relay stopped');
  }

  private async readLoop(running: Running): Promise<void> {
    const { abort, scheduler, blocking } = running;
    const { blockMs, readCount, maxTracked, gather } = this.timings;
    while (!abort.signal.aborted) {
      if (scheduler.size >= maxTracked) {
        await sleep(100, abort.signal); // backpressure: deliveries catch up before more is read
        continue;
      }
      try {
        const batch = await this.outbox.readNew(blocking, this.consumer, readCount, blockMs);
        this.dispatch(running, batch);
        // Busy: let entries gather for a moment instead of one XREADGROUP per event (a round trip,
        // a write, each). The passes running now hold those subtasks anyway; an idle relay reads
        // again at once, so a lone event's latency is unchanged.
        if (batch.entries.length < readCount && scheduler.running >= gather.busyPasses) await sleep(gather.ms, abort.signal);
      } catch (error) {
        if (abort.signal.aborted) return;
        this.logger.warn({ err: error }, 'reading the outbox failed; retrying in 1 s');
        await sleep(1_000, abort.signal);
      }
    }
  }

  private async claimIdle(running: Running): Promise<void> {
    const batch = await this.outbox.claimIdle(this.consumer, this.config.RELAY_CLAIM_IDLE_MS, this.timings.readCount);
    if (batch.entries.length > 0) this.logger.info({ claimed: batch.entries.length }, 'claimed idle outbox entries of another relay');
    this.dispatch(running, batch, true);
  }

  private async touchOwn(running: Running): Promise<void> {
    const ids = running.scheduler.entryIds();
    if (ids.length > 0) await this.outbox.touch(this.consumer, ids);
  }

  private async pruneConsumers(): Promise<void> {
    const removed = await this.outbox.pruneConsumers(this.consumer, this.timings.consumerPruneIdleMs);
    if (removed > 0) this.logger.info({ removed }, 'removed idle consumers that owned no entries');
  }

  private dispatch(running: Running, batch: OutboxBatch, recovered = false): void {
    if (batch.malformed.length > 0) {
      this.logger.warn({ entries: batch.malformed }, 'malformed outbox entries dropped');
      this.outbox.ack(batch.malformed).catch(() => undefined);
    }
    for (const entry of batch.entries) running.scheduler.add(entry, recovered);
  }

  /** Runs `work` every `ms` until `signal` aborts; never two at once; errors are logged. */
  private async every(ms: number, signal: AbortSignal, what: string, work: () => Promise<void>, immediately = false): Promise<void> {
    if (!immediately && !(await sleep(ms, signal))) return;
    while (!signal.aborted) {
      try {
        await work();
      } catch (error) {
        if (signal.aborted) return;
        this.logger.warn({ err: error }, `${what} failed`);
      }
      if (!(await sleep(ms, signal))) return;
    }
  }
}

/** The callback URL for logs, without credentials or query. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '[invalid url]';
  }
}
