export * from './tokens';
export * from './logger';
export * from './redis';
export * from './runtime.module';
export * from './redis-ping';
export * from './settle-all';
