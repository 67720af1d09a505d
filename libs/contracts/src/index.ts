export * from './task-payload.schema';
export * from './thinking.schema';
export * from './workbench.schema';
export * from './events.schema';
export * from './callback.schema';
export * from './codex-protocol.schema';
export * from './config.schema';
export * from './job.schema';
