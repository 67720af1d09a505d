export * from './relay.module';
export * from './relay.service';
export * from './relay-metrics';
export * from './callback-sender';
export * from './prometheus-relay-metrics';
export * from './heartbeat.service';
