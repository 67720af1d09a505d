export * from './cli-context';
export * from './exit-code';
export * from './subtask-lookup';
export * from './tail-renderer';
export * from './text';
export { runCli, USAGE } from './main';
