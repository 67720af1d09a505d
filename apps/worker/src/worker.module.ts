import { Module } from '@nestjs/common';
import { QueueModule } from '@wegent-codex/queue';
import { LimitsModule } from '@wegent-codex/limits';
import { SandboxModule } from '@wegent-codex/sandbox';
import { CodexRunProcessor } from './codex-run.processor';
import { CodexThreadStore } from './codex-thread-store';
import { OrphanReaper } from './orphan-reaper';
import { RunRegistry } from './run-registry';
import { TaskRunner } from './task-runner';
import { TaskWorkerService } from './task-worker.service';
import { ModelKeyProxy } from './model-key-proxy';
import { WarmCodexPool } from './warm-codex-pool';
import { LostRunStopper } from './lost-run-stopper';
import { WorkerLiveness } from './worker-liveness';
import { WorkspacePreparer } from './workspace-preparer';

/** The worker role: takes Codex jobs from BullMQ and runs them. Needs RuntimeModule. */
@Module({
  imports: [QueueModule, SandboxModule, LimitsModule],
  providers: [
    TaskWorkerService,
    CodexRunProcessor,
    TaskRunner,
    CodexThreadStore,
    WorkspacePreparer,
    RunRegistry,
    OrphanReaper,
    WorkerLiveness,
    LostRunStopper,
    WarmCodexPool,
    ModelKeyProxy,
  ],
  exports: [RunRegistry, WarmCodexPool],
})
export class WorkerModule {}
