export * from './codex-binary';
export * from './codex-home';
export * from './codex-home-seed';
export * from './toml';
export * from './process-tree';
export * from './server-requests';
export * from './app-server-client';
export * from './notification-mapper';
