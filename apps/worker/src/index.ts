// The public entry of apps/worker: what other apps (the composition root) may use.
export { RunRegistry } from './run-registry';
export { WorkerModule } from './worker.module';
export { CodexProcessRegistry } from './codex-process-registry';
export { ModelKeyProxy } from './model-key-proxy';
export { WorkspacePreparer } from './workspace-preparer';
export type { PreparedWorkspace } from './workspace-preparer';
export { taskCommandWrapper } from './task-command-wrapper';
export type { WarmSlotView } from './task-command-wrapper';
