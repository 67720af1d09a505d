import { AppServerRpcError, type AppServerClient, type ThreadStartOptions } from '@wegent-codex/codex';
import type { Logger } from '@wegent-codex/runtime';
import type { CodexThreadStore } from './codex-thread-store';

/** Codex's answer when a thread's rollout file is gone (a cleaned CODEX_HOME, another worker's disk). */
const NO_ROLLOUT = /no rollout found/i;

export type ThreadClient = Pick<AppServerClient, 'threadStart' | 'threadResume'>;

export interface ThreadRequest {
  taskId: number;
  /** The task's thread to resume (CodexThreadStore.storedFor), or null for a new one. */
  stored: string | null;
  /** How a new thread starts (model, working directory, the bot's instructions). */
  start: ThreadStartOptions;
  /** A warm process's per-thread config (its files and environment are the task's only through it). */
  warmConfig?: Record<string, unknown>;
}

export interface OpenedThread {
  threadId: string;
  /**
   * The stored thread could not be resumed, so this run started a new one: the run's system step
   * says so (its `resume_note`), so the user knows the conversation's memory is gone.
   */
  resumedFresh: boolean;
}

/**
 * Opens the run's Codex thread: resumes the task's stored thread, starts a fresh one when that
 * thread's rollout is gone, or starts a new one; then the opened thread becomes the task's.
 * Any other failure is thrown (the run ends as an exception).
 */
export class ThreadOpener {
  constructor(
    private readonly threads: Pick<CodexThreadStore, 'remember'>,
    private readonly log: Logger,
  ) {}

  async open(client: ThreadClient, request: ThreadRequest): Promise<OpenedThread> {
    const opened = request.stored ? await this.resume(client, request, request.stored) : await this.start(client, request);
    await this.threads.remember(request.taskId, opened.threadId);
    return opened;
  }

  private async resume(client: ThreadClient, request: ThreadRequest, stored: string): Promise<OpenedThread> {
    try {
      const resumed = await client.threadResume({ threadId: stored, cwd: request.start.cwd, model: request.start.model });
      return { threadId: resumed.thread.id, resumedFresh: false };
    } catch (error) {
      if (!(error instanceof AppServerRpcError && NO_ROLLOUT.test(error.rpcMessage))) throw error;
      this.log.warn({ thread_id: stored }, 'thread could not be resumed (rollout missing): starting a fresh thread');
      return { threadId: (await client.threadStart(request.start)).thread.id, resumedFresh: true };
    }
  }

  private async start(client: ThreadClient, request: ThreadRequest): Promise<OpenedThread> {
    const options = request.warmConfig ? { ...request.start, config: request.warmConfig } : request.start;
    return { threadId: (await client.threadStart(options)).thread.id, resumedFresh: false };
  }
}
