import type { Config } from '@wegent-codex/contracts';
import { AppServerClient } from '@wegent-codex/codex';
import type { RunCgroup } from '@wegent-codex/limits';
import type { Logger } from '@wegent-codex/runtime';
import { CodexProcessRegistry, type TrackedCodexProcess } from './codex-process-registry';
import type { BoundCodex, CodexHandlers, WarmCodexPool } from './warm-codex-pool';
import type { PreparedWorkspace } from './workspace-preparer';

export interface CodexProcessRequest {
  taskId: number;
  subtaskId: number;
  workspace: PreparedWorkspace;
  handlers: CodexHandlers;
  /** A resumed thread runs cold: its rollout is in the task's own home. */
  resuming: boolean;
  /** Puts a warm process (started before its task was known) under the run's limits: its cgroup becomes the run's. */
  adopt?: (cgroup: RunCgroup) => Promise<void>;
}

/**
 * The one `codex app-server` of a run: a warm process from the pool when a new thread may take
 * one, else started cold in the task's sandbox; recorded on disk for the orphan reaper (should
 * this worker die without a shutdown, the next one kills the tree). `close()` always shuts the
 * tree down and gives back what the run borrowed.
 */
export class CodexProcess {
  private constructor(
    readonly client: AppServerClient,
    private readonly tracked: TrackedCodexProcess,
    private readonly workspace: PreparedWorkspace,
    private readonly log: Logger,
    private readonly bound?: BoundCodex,
  ) {}

  /** True when the process came warm from the pool (its thread then takes the warm config). */
  get warm(): boolean {
    return this.bound !== undefined;
  }

  /** Throws when no process could be started; its message says why (unmasked: mask before showing it). */
  static async open(deps: { config: Config; log: Logger; pool?: WarmCodexPool }, request: CodexProcessRequest): Promise<CodexProcess> {
    const { config, log, pool } = deps;
    const { workspace } = request;
    const coldReason = request.resuming ? 'resume' : (workspace.warm.coldReason ?? 'no warm process ready');
    const warm =
      request.resuming || !pool || workspace.warm.coldReason
        ? undefined
        : await pool.bind({
            taskId: request.taskId,
            taskDir: workspace.taskDir,
            stateDir: workspace.stateDir,
            codexHome: workspace.codexHome,
            handlers: request.handlers,
          });
    if (pool?.size) log.info({ warm: Boolean(warm), cold_reason: warm ? undefined : coldReason }, 'Codex process for this run');
    if (warm) {
      // The worker's own commands on the task (workbench git) now see the slot, never the host links.
      if (warm.view) workspace.slot.view = warm.view;
      const process = new CodexProcess(warm.client, warm.tracked, workspace, log, warm);
      try {
        // Taken only when there is a limiter to own it; otherwise the pool removes it on release.
        const cgroup = request.adopt && warm.takeCgroup();
        if (cgroup) await request.adopt!(cgroup);
      } catch (error) {
        await process.close(0).catch(() => undefined);
        throw new Error(`the warm Codex process could not join the run's limits: ${(error as Error).message}`);
      }
      return process;
    }
    const client = await AppServerClient.start({
      bin: workspace.codexBin,
      cwd: workspace.workDir,
      env: workspace.env,
      // The task's sandbox: Codex and every command it starts see this task only.
      wrap: workspace.launch,
      ...request.handlers,
    });
    const tracked = await new CodexProcessRegistry(config.WORKSPACE_ROOT).track(
      client.pid,
      { taskId: request.taskId, subtaskId: request.subtaskId },
      (error) => log.warn({ err: String(error) }, 'could not record the Codex process for orphan clean-up'),
    );
    return new CodexProcess(client, tracked, workspace, log);
  }

  /** Shuts the tree down (then releases the record: a tree that is not gone stays recorded for the reaper). */
  async close(graceMs: number): Promise<void> {
    let treeGone = false;
    try {
      const exit = await this.client.shutdown({ graceMs });
      if (exit.survivors.length) this.log.error({ survivors: exit.survivors }, 'Codex processes survived the shutdown');
      treeGone = exit.survivors.length === 0;
    } finally {
      await this.tracked.release(treeGone);
      await this.bound
        ?.release()
        .catch((error: unknown) => this.log.error({ err: String(error) }, 'could not put the task folders back from the warm slot'));
      // Only once the folders are real directories at their host paths again.
      this.workspace.slot.view = undefined;
    }
  }
}
