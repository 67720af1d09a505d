export * from './run-limits';
export * from './cgroups';
export * from './run-limiter';
export * from './limits.service';
