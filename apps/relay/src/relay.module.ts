import { Module, type DynamicModule } from '@nestjs/common';
import { CallbackSender } from './callback-sender';
import { HeartbeatService } from './heartbeat.service';
import { LostWorkerWatcher } from './lost-worker.watcher';
import { RELAY_METRICS, noopRelayMetrics, type RelayMetrics } from './relay-metrics';
import { RelayService } from './relay.service';

/**
 * The relay role (callbacks, the heartbeats of 2026 tasks, and the end of a lost worker's jobs). Needs RuntimeModule.forRoot (CONFIG, LOGGER, REDIS, RedisKeys,
 * EventLogRepository). Import `RelayModule` as is (metrics go nowhere), or
 * `RelayModule.register({ metrics })` to plug a RelayMetrics implementation in.
 */
@Module({
  providers: [CallbackSender, RelayService, HeartbeatService, LostWorkerWatcher, { provide: RELAY_METRICS, useValue: noopRelayMetrics }],
  exports: [RelayService, HeartbeatService, RELAY_METRICS],
})
export class RelayModule {
  static register(options: { metrics?: RelayMetrics } = {}): DynamicModule {
    // Dynamic providers are added after the decorator's, so this one replaces the no-op default.
    return { module: RelayModule, providers: options.metrics ? [{ provide: RELAY_METRICS, useValue: options.metrics }] : [] };
  }
}
