import { Inject, Injectable } from '@nestjs/common';
import { shellTypeOf, StepTitle, type Config, type GitSnapshot, type RunContext, type TaskPayload } from '@wegent-codex/contracts';
import { CancelRegistry } from '@wegent-codex/queue';
import { LimitsService, type RunLimiter } from '@wegent-codex/limits';
import { CONFIG, LOGGER, type Logger } from '@wegent-codex/runtime';
import { CodexSession, type SessionEnd } from './codex-session';
import { CodexThreadStore } from './codex-thread-store';
import { runImageValidation } from './image-validation';
import { OutputBudget } from './output-budget';
import { RunEnding, type RunResult } from './run-outcome';
import type { RunEventEmitter } from './event-emitter';
import { RunMasker } from './run-masker';
import { WarmCodexPool } from './warm-codex-pool';
import { WorkspacePreparer, type PreparedWorkspace } from './workspace-preparer';

export interface RunRequest {
  payload: TaskPayload;
  emitter: RunEventEmitter;
  attempt: number;
  jobId: string;
  /** Aborted by a user cancel. */
  cancel: AbortSignal;
  /** Aborted when the worker shuts down and the run must end. */
  shutdown: AbortSignal;
  /** W3C trace context the task was submitted with (job data); the relay sends it with every callback. */
  traceparent?: string;
}

export function runContextOf(payload: TaskPayload): RunContext {
  return {
    task_title: payload.task_title ?? '',
    subtask_title: payload.subtask_title ?? '',
    task_type: payload.type ?? '',
    git_repo: payload.git_repo ?? '',
    git_domain: payload.git_domain ?? '',
    branch_name: payload.branch_name ?? '',
    prompt: payload.prompt ?? '',
    ...(payload.protocol ? { protocol: payload.protocol } : {}),
    ...(payload.responses ? { responses: payload.responses } : {}),
  };
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * One run of one subtask: prepare the workspace, drive Codex, and turn everything that happens
 * into events — including every way it can end (docs/protocol/wegent-protocol.md §5). Whatever happens, the run
 * appends exactly one terminal event (the log refuses any second one).
 */
@Injectable()
export class TaskRunner {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly threads: CodexThreadStore,
    private readonly workspace: WorkspacePreparer,
    private readonly cancels: CancelRegistry,
    private readonly pool: WarmCodexPool,
    private readonly limits: LimitsService,
  ) {}

  async run(request: RunRequest): Promise<RunResult> {
    const { payload, emitter } = request;
    const { task_id: taskId, subtask_id: subtaskId } = payload;
    const log = this.logger.child({ task_id: taskId, subtask_id: subtaskId, job_id: request.jobId, attempt: request.attempt });
    // `started` is on its way while the checks below run and the workspace is prepared (what
    // cannot be done twice, the clone, waits for it): the emitter appends in order, and every
    // path below waits for it before it ends.
    const started = emitter.emit({
      type: 'status',
      phase: 'started',
      context: { ...runContextOf(payload), ...(request.traceparent ? { traceparent: request.traceparent } : {}) },
    });

    if (shellTypeOf(payload) !== 'codex' && payload.type !== 'validation') {
      await started;
      await emitter.emitAll(RunEnding.noAgent(payload));
      return 'unsupported shell type';
    }
    if (payload.type === 'validation') {
      await started;
      return runImageValidation(payload, emitter, { codexBin: this.workspace.codexBin, workspaceRoot: this.workspace.root });
    }

    // The first step of every subtask, also when preparation then fails (docs/protocol/wegent-protocol.md §5.5),
    // sent right behind `started`. Whether a cancel came before this run was registered is read
    // meanwhile (one later is seen by the cancel signal). All of it off the way to Codex's spawn.
    const initialize = emitter.emit({
      type: 'thinking-step',
      report: false,
      step: { title: StepTitle.initializeAgent, next_action: 'continue' },
    });
    const [appended, preparation, cancelFlag] = await Promise.allSettled([
      Promise.all([started, initialize]),
      this.workspace.prepare(payload, { signal: request.cancel, begun: started }),
      this.cancels.isRequested(taskId, subtaskId),
    ]);
    if (appended.status === 'rejected' || cancelFlag.status === 'rejected') {
      if (preparation.status === 'fulfilled') preparation.value.release();
      throw appended.status === 'rejected' ? appended.reason : (cancelFlag as PromiseRejectedResult).reason;
    }
    if (preparation.status === 'rejected') {
      const error: unknown = preparation.reason;
      // Not prepared: the payload's and the service's secrets are all there is to mask.
      const masker = new RunMasker(this.workspace.secretsOf(payload));
      emitter.guard(masker);
      // The cancel itself stopped the preparation (a clone, a download killed): the run ends cancelled.
      if (request.cancel.aborted || cancelFlag.value) return this.endCancelled(emitter, 'queued');
      log.warn({ err: masker.text(message(error)) }, 'workspace preparation failed');
      await emitter.emitAll(RunEnding.preExecuteFailed(taskId, message(error)));
      return 'pre-execute failed';
    }
    const prepared: PreparedWorkspace = preparation.value;
    try {
      return await this.runPrepared(request, prepared, cancelFlag.value, log);
    } finally {
      prepared.release();
    }
  }

  /** The run once its workspace is ready: Codex, the workbench, and how it ends. */
  private async runPrepared(request: RunRequest, prepared: PreparedWorkspace, cancelledBefore: boolean, log: Logger): Promise<RunResult> {
    const { payload, emitter } = request;
    // The run's secret set, complete now (the repository's credentials too): masked once, on append.
    const masker = new RunMasker(prepared.secrets);
    // What Codex's steps (command output above all) may add to this subtask's events.
    emitter.guard(masker, new OutputBudget(this.config.RUN_OUTPUT_KB * 1024));
    if (cancelledBefore || request.cancel.aborted) return this.endCancelled(emitter, 'queued');

    if (prepared.attachmentsDownloaded > 0) {
      await emitter.emit({
        type: 'thinking-step',
        report: false,
        step: { title: StepTitle.attachmentsDownloaded, next_action: 'continue', details: { count: prepared.attachmentsDownloaded } },
      });
    }
    const workbench = new WorkbenchRefresher(prepared, emitter, log);
    await emitter.emit({ type: 'status', phase: 'prepared', ...(prepared.git ? { git: await workbench.first() } : {}) });
    workbench.start();

    let cancelEmitted: Promise<RunResult> | undefined;
    let end: SessionEnd;
    let limiter: RunLimiter | undefined;
    try {
      // The run's limits (cgroup, rlimits): Codex and every command it starts live under them.
      limiter = await this.limits.open(prepared.taskDir);
      const limited = limiter;
      const session = new CodexSession(
        { config: this.config, log, threads: this.threads, pool: this.pool, masker },
        { ...prepared, launch: (command) => limited.wrap(prepared.launch(command)) },
        payload,
      );
      end = await session.run({
        limits: { exceeded: limiter.exceeded, check: () => limited.checkAll(), adopt: (cgroup) => limited.adopt(cgroup) },
        emit: (event) => emitter.emit(event),
        beforeTerminal: () => workbench.finalRefresh(),
        agentStarted: async () => {
          const appended = await emitter.emit({ type: 'status', phase: 'agent-started' });
          // The run's watch starts once turn/start is on its way (next turn of the event loop): its
          // baseline folder size is a `du` process, whose spawn blocks this thread for milliseconds,
          // and Codex runs no command of the task before its first model answer.
          setImmediate(() => limited.start());
          return appended;
        },
        cancelRequested: () => this.cancelled(request),
        cancelAccepted: () => (cancelEmitted ??= this.endCancelled(emitter, 'running')),
        cancel: request.cancel,
        shutdown: request.shutdown,
      });
      // Codex itself killed at a limit ends as a broken run: the limit is the real cause.
      if (end.kind === 'broken') {
        const hit = await limiter.check();
        if (hit) end = { kind: 'limit', error: hit.message };
      }
    } catch (error) {
      end = { kind: 'exception', error: message(error) };
    } finally {
      workbench.stop();
      const usage = await limiter?.close().catch((error: unknown) => {
        log.error({ err: message(error) }, "could not remove the run's cgroup");
        return undefined;
      });
      if (usage?.survivors.length) log.error({ survivors: usage.survivors }, 'processes of the run survived its cgroup sweep');
      if (usage) log.info({ limit: usage.hit?.limit, counters: usage.counters, disk_bytes: usage.diskBytes }, 'run limits: usage');
    }
    if (end.kind === 'cancelled' && cancelEmitted) return cancelEmitted;
    return this.finish(end, emitter, workbench, masker, log);
  }

  private async finish(
    end: SessionEnd,
    emitter: RunEventEmitter,
    workbench: WorkbenchRefresher,
    masker: RunMasker,
    log: Logger,
  ): Promise<RunResult> {
    // The events carry the raw text: the emitter masks them; a log line is masked here.
    switch (end.kind) {
      case 'finished':
        return 'finished';
      case 'cancelled':
        return this.endCancelled(emitter, 'running');
      case 'exception': {
        log.warn({ err: masker.text(end.error) }, 'Codex could not be started');
        await emitter.emitAll(RunEnding.exception(end.error));
        return 'exception';
      }
      case 'limit': {
        log.warn({ err: masker.text(end.error) }, 'run stopped at a per-run limit');
        await workbench.finalRefresh();
        await emitter.emitAll(RunEnding.limit(end.error));
        return 'limit';
      }
      case 'broken': {
        log.warn({ err: masker.text(end.error) }, 'run ended without a turn result');
        await workbench.finalRefresh();
        await emitter.emitAll(RunEnding.broken(end.error));
        return 'broken';
      }
    }
  }

  private async endCancelled(emitter: RunEventEmitter, stage: 'queued' | 'running'): Promise<RunResult> {
    await emitter.emitAll(RunEnding.cancelled(stage));
    return 'cancelled';
  }

  private async cancelled(request: RunRequest): Promise<boolean> {
    return request.cancel.aborted || (await this.cancels.isRequested(request.payload.task_id, request.payload.subtask_id));
  }
}

/** How often the workbench's git data is re-read while Codex runs (it rides on the next callback). */
const WORKBENCH_REFRESH_MS = 5_000;

/**
 * Keeps the workbench's git part current: read at 55, every few seconds while the run goes (an
 * event only when something changed), and once more right before the terminal event, so the last
 * changes are never missed (docs/protocol/wegent-protocol.md §7.4).
 */
class WorkbenchRefresher {
  private last = '';
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly prepared: PreparedWorkspace,
    private readonly emitter: RunEventEmitter,
    private readonly log: Logger,
  ) {}

  async first(): Promise<GitSnapshot | undefined> {
    const snapshot = await this.read();
    if (snapshot) this.last = JSON.stringify(snapshot);
    return snapshot;
  }

  start(): void {
    if (!this.prepared.git) return;
    this.timer = setInterval(() => void this.refresh(), WORKBENCH_REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async finalRefresh(): Promise<void> {
    this.stop();
    await this.refresh(true);
  }

  private async refresh(force = false): Promise<void> {
    if (this.busy && !force) return;
    this.busy = true;
    try {
      const snapshot = await this.read();
      if (!snapshot) return;
      const text = JSON.stringify(snapshot);
      if (text === this.last) return;
      this.last = text;
      await this.emitter.emit({ type: 'status', phase: 'workbench', git: snapshot });
    } finally {
      this.busy = false;
    }
  }

  private async read(): Promise<GitSnapshot | undefined> {
    if (!this.prepared.git) return undefined;
    try {
      return await this.prepared.git();
    } catch (error) {
      this.log.warn({ err: String(error) }, 'could not read the workbench git data');
      return undefined;
    }
  }
}
