import { type Config, type RpcNotification, type TaskPayload, isTerminalEvent, type NewTaskEvent } from '@wegent-codex/contracts';
import { AppServerClient, NotificationMapper, textInput } from '@wegent-codex/codex';
import { createSecretMasker, StreamScrubber } from '@wegent-codex/redaction';
import type { Logger } from '@wegent-codex/runtime';
import { CodexProcessRegistry } from './codex-process-registry';
import type { CodexThreadStore } from './codex-thread-store';
import type { RunEvent } from './event-emitter';
import { ThreadOpener } from './open-thread';
import type { SessionEnd } from './session-end';
import { SessionWatchdog } from './session-watchdog';
import type { BoundCodex, WarmCodexPool } from './warm-codex-pool';
import type { PreparedWorkspace } from './workspace-preparer';

export type { SessionEnd } from './session-end';

export interface SessionHooks {
  emit(events: RunEvent[]): Promise<unknown>;
  /** Called before a terminal event from Codex is emitted (last workbench refresh). */
  beforeTerminal(): Promise<void>;
  /** Called once, right before `turn/start` (the 60 callback). */
  agentStarted(): Promise<unknown>;
  cancelRequested(): Promise<boolean>;
  /**
   * The cancel is accepted: the terminal CANCELLED goes out now, before the interrupt and the
   * tree kill (issue 12); the job — and with it the task's lane — ends only when the tree is gone.
   */
  cancelAccepted(): Promise<unknown>;
  cancel: AbortSignal;
  shutdown: AbortSignal;
  /** Resolves when a per-run limit fires; `check` asks now (before Codex's result is accepted). */
  limits?: {
    exceeded: Promise<{ message: string }>;
    check(): Promise<{ message: string } | undefined>;
    adopt?(rootPid: number): Promise<void>;
  };
}

/** Codex's tools as the Wegent frontend names them (system step). */
const TOOLS = ['Bash', 'Edit', 'Write', 'TodoWrite'];

const strip = (event: NewTaskEvent): RunEvent => {
  const { task_id: _t, subtask_id: _s, attempt: _a, ...rest } = event;
  return rest as RunEvent;
};

/**
 * One `codex app-server` process for one job: start or resume the task's thread, run one turn,
 * forward every notification through the mapper, and end it — by Codex finishing, a cancel, a
 * watchdog or the process dying. The process tree is always gone when run() returns.
 */
export class CodexSession {
  private readonly mask: ReturnType<typeof createSecretMasker>;
  /** A secret streamed in pieces is scrubbed too (chunks are held back while they could become one). */
  private readonly streamed: StreamScrubber;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly threads: CodexThreadStore,
    private readonly workspace: PreparedWorkspace,
    private readonly payload: TaskPayload,
    private readonly pool?: WarmCodexPool,
  ) {
    this.mask = createSecretMasker(workspace.secrets);
    this.streamed = new StreamScrubber(workspace.secrets);
  }

  async run(hooks: SessionHooks): Promise<SessionEnd> {
    const taskId = this.payload.task_id;
    let mapper: NotificationMapper | null = null;
    const early: RpcNotification[] = [];
    let forwarding = false;
    let stopped = false;
    let pipe: Promise<unknown> = Promise.resolve();
    let terminalEmitted = false;
    let resolveTerminal!: () => void;
    const terminal = new Promise<void>((r) => (resolveTerminal = r));
    let resolveInterrupted!: () => void;
    const interrupted = new Promise<void>((r) => (resolveInterrupted = r));

    const forward = (events: NewTaskEvent[]) => {
      if (!events.length) return;
      pipe = pipe.then(async () => {
        if (stopped) return;
        for (const event of events) {
          if (stopped) return;
          for (const clean of this.streamed.push(this.scrub(strip(event)))) {
            if (isTerminalEvent(clean)) {
              // A command killed at a limit may still let the turn "complete": the limit decides.
              if (await hooks.limits?.check().catch(() => undefined)) return;
              await hooks.beforeTerminal().catch((e: unknown) => this.log.warn({ err: String(e) }, 'workbench refresh failed'));
              await hooks.emit([clean]);
              terminalEmitted = true;
              resolveTerminal();
              return;
            }
            await hooks.emit([clean]);
          }
        }
      });
    };
    const onNotification = (n: RpcNotification) => {
      if (!mapper || !forwarding) {
        early.push(n);
        return;
      }
      forward(mapper.handle(n.method, n.params));
      if (mapper.outcome === 'interrupted') resolveInterrupted();
    };

    let stored: string | null;
    try {
      stored = await this.threads.storedFor(this.payload);
    } catch (error) {
      return { kind: 'exception', error: this.mask.maskText((error as Error).message) };
    }
    const handlers = {
      onNotification,
      onStderr: (line: string) => this.log.debug({ stderr: this.mask.maskText(line) }, 'codex stderr'),
      onDiagnostic: (message: string, details?: Record<string, unknown>) =>
        this.log.debug({ details: this.mask.maskDeep(details ?? {}) }, message),
    };
    // A new thread may take a warm process; a resume runs cold (the rollout is in the task's home).
    let warm: BoundCodex | undefined;
    if (!stored && this.pool && !this.workspace.warm.coldReason) {
      warm = await this.pool.bind({
        taskId,
        taskDir: this.workspace.taskDir,
        stateDir: this.workspace.stateDir,
        codexHome: this.workspace.codexHome,
        handlers,
      });
      // The worker's own commands on the task (workbench git) now see the slot, never the host links.
      if (warm?.view) this.workspace.slot.view = warm.view;
      // Started before its task was known: it joins this run's limits before the turn starts.
      if (warm && hooks.limits?.adopt) {
        try {
          await hooks.limits.adopt(warm.client.pid!);
        } catch (error) {
          const exit = await warm.client.shutdown({ graceMs: 0 }).catch(() => ({ survivors: [0] }));
          await warm.tracked.release(exit.survivors.length === 0);
          await warm.release().catch(() => undefined);
          return { kind: 'exception', error: `the warm Codex process could not join the run's limits: ${(error as Error).message}` };
        }
      }
    }
    if (this.pool?.size)
      this.log.info(
        {
          warm: Boolean(warm),
          cold_reason: warm ? undefined : stored ? 'resume' : (this.workspace.warm.coldReason ?? 'no warm process ready'),
        },
        'Codex process for this run',
      );
    let client: AppServerClient;
    try {
      client =
        warm?.client ??
        (await AppServerClient.start({
          bin: this.workspace.codexBin,
          cwd: this.workspace.workDir,
          env: this.workspace.env,
          // The task's sandbox: Codex and every command it starts see this task only.
          wrap: this.workspace.launch,
          ...handlers,
        }));
    } catch (error) {
      return { kind: 'exception', error: this.mask.maskText((error as Error).message) };
    }
    const exitedEarly = client.exited.then((exit) => exit);
    // Recorded on disk so that, should this worker die without a shutdown, the next one kills the tree.
    const tracked =
      warm?.tracked ??
      (await new CodexProcessRegistry(this.config.WORKSPACE_ROOT).track(
        client.pid,
        { taskId, subtaskId: this.payload.subtask_id },
        (error) => this.log.warn({ err: String(error) }, 'could not record the Codex process for orphan clean-up'),
      ));

    try {
      // ---- thread ----
      let threadId: string;
      let resumedFresh: boolean;
      try {
        ({ threadId, resumedFresh } = await new ThreadOpener(this.threads, this.log).open(client, {
          taskId,
          stored,
          start: this.threadStartOptions(),
          warmConfig: warm ? this.workspace.warm.threadConfig : undefined,
        }));
      } catch (error) {
        return { kind: 'exception', error: this.mask.maskText((error as Error).message) };
      }

      mapper = new NotificationMapper({
        taskId,
        subtaskId: this.payload.subtask_id,
        attempt: 0,
        threadId,
        model: this.workspace.model,
        cwd: this.workspace.workDir,
        permissionMode: 'danger-full-access',
        tools: TOOLS,
        mcpServers: Object.keys(this.workspace.mcp.supported),
        unsupportedMcpServers: this.workspace.mcp.unsupported,
        resumedFresh,
        mask: (value) => this.mask.maskDeep(value),
      });

      if (await hooks.cancelRequested()) {
        await hooks.cancelAccepted();
        return { kind: 'cancelled' };
      }
      await hooks.agentStarted();
      forwarding = true;
      for (const n of early.splice(0)) forward(mapper.handle(n.method, n.params));

      // ---- turn ----
      let turnId: string;
      try {
        const input: Record<string, unknown>[] = [
          textInput(this.workspace.prompt),
          ...this.workspace.images.map((path) => ({ type: 'localImage', path })),
          ...this.workspace.imageUrls.map((url) => ({ type: 'image', url })),
        ];
        // 2026: the user's reasoning choice, per turn (docs/protocol/wegent-protocol-2026.md §2.4).
        const { reasoning_effort: effort, reasoning_summary: summary } = this.payload.responses ?? {};
        turnId = (await client.turnStart({ threadId, input, ...(effort ? { effort } : {}), ...(summary ? { summary } : {}) })).turn.id;
      } catch (error) {
        return { kind: 'exception', error: this.mask.maskText((error as Error).message) };
      }

      let end = await new SessionWatchdog({ idleTimeoutMs: this.config.CODEX_IDLE_TIMEOUT_MS, maxRunMs: this.config.MAX_RUN_MS }).watch({
        finished: terminal,
        interrupted,
        exited: exitedEarly,
        killedBecause: () => client.killedBecause,
        lastActivityAt: () => client.lastActivityAt,
        cancel: hooks.cancel,
        shutdown: hooks.shutdown,
        cancelRequested: hooks.cancelRequested,
        limitExceeded: hooks.limits?.exceeded,
      });
      if (end.kind === 'broken') {
        // The process may have exited right after its last notifications: let them land first.
        await pipe;
        if (terminalEmitted) end = { kind: 'finished' };
      }
      if (end.kind === 'cancelled' || end.kind === 'broken' || end.kind === 'limit') {
        stopped = true; // a late turn/completed racing the cancel or the failure loses
        if (end.kind === 'cancelled') {
          await pipe; // an event being written lands before the terminal one
          await hooks.cancelAccepted();
        }
        if (end.kind === 'cancelled' && !client.hasExited) {
          await client.turnInterrupt(threadId, mapper.turnId ?? turnId).catch(() => undefined);
          await client
            .waitForNotification((n) => n.method === 'turn/completed', { timeoutMs: this.config.CANCEL_GRACE_MS })
            .catch(() => undefined);
        }
      }
      await pipe;
      return end;
    } finally {
      stopped = true;
      let treeGone = false;
      try {
        const exit = await client.shutdown({ graceMs: this.config.CANCEL_GRACE_MS });
        if (exit.survivors.length) this.log.error({ survivors: exit.survivors }, 'Codex processes survived the shutdown');
        treeGone = exit.survivors.length === 0;
      } finally {
        await tracked.release(treeGone); // a tree that is not gone stays recorded for the reaper
        await warm
          ?.release()
          .catch((error: unknown) => this.log.error({ err: String(error) }, 'could not put the task folders back from the warm slot'));
        // Only once the folders are real directories at their host paths again.
        this.workspace.slot.view = undefined;
      }
      await pipe.catch(() => undefined);
    }
  }

  private threadStartOptions() {
    return {
      model: this.workspace.model,
      cwd: this.workspace.workDir,
      developerInstructions: this.workspace.developerInstructions || undefined,
    };
  }

  /** Events never carry secrets: exact secret values are scrubbed from free text too. */
  private scrub(event: RunEvent): RunEvent {
    switch (event.type) {
      case 'chunk':
        return { ...event, text: this.mask.scrub(event.text) };
      case 'done':
        return event.value === undefined ? event : { ...event, value: this.mask.scrub(event.value) };
      case 'error':
        return { ...event, message: this.mask.scrub(event.message), ...(event.error ? { error: this.mask.scrub(event.error) } : {}) };
      default:
        return event;
    }
  }
}
