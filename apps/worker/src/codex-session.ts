import type { Config, TaskPayload } from '@wegent-codex/contracts';
import { NotificationMapper, textInput, type AppServerClient } from '@wegent-codex/codex';
import type { Logger } from '@wegent-codex/runtime';
import type { RunCgroup } from '@wegent-codex/limits';
import { CodexProcess } from './codex-process';
import type { CodexThreadStore } from './codex-thread-store';
import type { RunEvent } from './run-event';
import type { RunMasker } from './run-masker';
import { NotificationPump } from './notification-pump';
import { ThreadOpener, type OpenedThread } from './open-thread';
import type { SessionEnd } from './session-end';
import { SessionWatchdog } from './session-watchdog';
import type { WarmCodexPool } from './warm-codex-pool';
import type { PreparedWorkspace } from './workspace-preparer';

export type { SessionEnd } from './session-end';

export interface SessionHooks {
  /** Appends one event (RunEventEmitter: masked there). */
  emit(event: RunEvent): Promise<unknown>;
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
    adopt?(cgroup: RunCgroup): Promise<void>;
  };
}

/** What a session is built from (TaskRunner's factory). */
export interface SessionDeps {
  config: Config;
  log: Logger;
  threads: CodexThreadStore;
  pool?: WarmCodexPool;
  /** The run's masker, for the log lines of Codex's stderr and diagnostics (events are masked by the emitter). */
  masker: RunMasker;
}

/** Codex's tools as the Wegent frontend names them (system step). */
const TOOLS = ['Bash', 'Edit', 'Write', 'TodoWrite'];

const failure = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * One `codex app-server` process for one job: open the task's thread, run one turn, pump every
 * notification into events, and end it — by Codex finishing, a cancel, a watchdog or the process
 * dying. The pieces: CodexProcess (spawn or warm, orphan record), ThreadOpener (resume or start),
 * NotificationPump (early buffer, mapping, first terminal), SessionWatchdog (how it ends).
 * The process tree is always gone when run() returns.
 */
export class CodexSession {
  constructor(
    private readonly deps: SessionDeps,
    private readonly workspace: PreparedWorkspace,
    private readonly payload: TaskPayload,
  ) {}

  async run(hooks: SessionHooks): Promise<SessionEnd> {
    const sink = { emit: hooks.emit, beforeTerminal: hooks.beforeTerminal, limitHit: async () => Boolean(await hooks.limits?.check()) };
    const pump = new NotificationPump(sink, this.deps.log);
    let opened: { codex: CodexProcess; thread: OpenedThread };
    try {
      opened = await this.open(pump, hooks);
    } catch (error) {
      return { kind: 'exception', error: failure(error) };
    }
    try {
      return await this.turn(opened.codex.client, opened.thread, pump, hooks);
    } finally {
      pump.stop();
      await opened.codex.close(this.deps.config.CANCEL_GRACE_MS);
      await pump.settled().catch(() => undefined);
    }
  }

  /** The run's process and its thread; throws (the process closed) when either cannot be had. */
  private async open(pump: NotificationPump, hooks: SessionHooks): Promise<{ codex: CodexProcess; thread: OpenedThread }> {
    const stored = await this.deps.threads.storedFor(this.payload);
    const codex = await CodexProcess.open(this.deps, {
      taskId: this.payload.task_id,
      subtaskId: this.payload.subtask_id,
      workspace: this.workspace,
      handlers: this.handlers(pump),
      resuming: Boolean(stored),
      adopt: hooks.limits?.adopt,
    });
    try {
      return {
        codex,
        thread: await new ThreadOpener(this.deps.threads, this.deps.log).open(codex.client, this.threadRequest(stored, codex)),
      };
    } catch (error) {
      await codex.close(this.deps.config.CANCEL_GRACE_MS);
      throw error;
    }
  }

  /** The turn on an open thread, from `agent-started` to how it ended. */
  private async turn(client: AppServerClient, thread: OpenedThread, pump: NotificationPump, hooks: SessionHooks): Promise<SessionEnd> {
    if (await hooks.cancelRequested()) {
      await hooks.cancelAccepted();
      return { kind: 'cancelled' };
    }
    await hooks.agentStarted();
    pump.start(this.mapper(thread));
    let turnId: string;
    try {
      turnId = (await client.turnStart(this.turnRequest(thread.threadId))).turn.id;
    } catch (error) {
      return { kind: 'exception', error: failure(error) };
    }
    const { CODEX_IDLE_TIMEOUT_MS: idleTimeoutMs, MAX_RUN_MS: maxRunMs, CANCEL_GRACE_MS: graceMs } = this.deps.config;
    let end = await new SessionWatchdog({ idleTimeoutMs, maxRunMs }).watch({
      finished: pump.finished,
      interrupted: pump.interrupted,
      exited: client.exited,
      killedBecause: () => client.killedBecause,
      lastActivityAt: () => client.lastActivityAt,
      cancel: hooks.cancel,
      shutdown: hooks.shutdown,
      cancelRequested: hooks.cancelRequested,
      limitExceeded: hooks.limits?.exceeded,
    });
    // The process may have exited right after its last notifications: let them land first.
    if (end.kind === 'broken') {
      await pump.settled();
      if (pump.ended) end = { kind: 'finished' };
    }
    if (end.kind !== 'finished') pump.stop(); // a late turn/completed racing the cancel or the failure loses
    if (end.kind === 'cancelled') {
      await pump.settled(); // an event being written lands before the terminal one
      await hooks.cancelAccepted();
      if (!client.hasExited) await client.interruptTurn(thread.threadId, pump.turnId ?? turnId, { timeoutMs: graceMs });
    }
    await pump.settled();
    return end;
  }

  private handlers(pump: NotificationPump) {
    const { log, masker } = this.deps;
    return {
      onNotification: pump.receive,
      onStderr: (line: string) => log.debug({ stderr: masker.text(line) }, 'codex stderr'),
      onDiagnostic: (message: string, details?: Record<string, unknown>) => log.debug({ details: masker.deep(details ?? {}) }, message),
    };
  }

  private threadRequest(stored: string | null, codex: CodexProcess) {
    return {
      taskId: this.payload.task_id,
      stored,
      start: {
        model: this.workspace.model,
        cwd: this.workspace.workDir,
        developerInstructions: this.workspace.developerInstructions || undefined,
      },
      warmConfig: codex.warm ? this.workspace.warm.threadConfig : undefined,
    };
  }

  private mapper(thread: OpenedThread): NotificationMapper {
    return new NotificationMapper({
      taskId: this.payload.task_id,
      subtaskId: this.payload.subtask_id,
      attempt: 0,
      threadId: thread.threadId,
      model: this.workspace.model,
      cwd: this.workspace.workDir,
      permissionMode: 'danger-full-access',
      tools: TOOLS,
      mcpServers: Object.keys(this.workspace.mcp.supported),
      unsupportedMcpServers: this.workspace.mcp.unsupported,
      resumedFresh: thread.resumedFresh,
    });
  }

  private turnRequest(threadId: string) {
    const input: Record<string, unknown>[] = [
      textInput(this.workspace.prompt),
      ...this.workspace.images.map((path) => ({ type: 'localImage', path })),
      ...this.workspace.imageUrls.map((url) => ({ type: 'image', url })),
    ];
    // 2026: the user's reasoning choice, per turn (docs/protocol/wegent-protocol-2026.md §2.4).
    const { reasoning_effort: effort, reasoning_summary: summary } = this.payload.responses ?? {};
    return { threadId, input, ...(effort ? { effort } : {}), ...(summary ? { summary } : {}) };
  }
}
