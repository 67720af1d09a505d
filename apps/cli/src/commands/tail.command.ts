import type { Redis } from 'ioredis';
import { isTerminalEvent, jobIdFor } from '@wegent-codex/contracts';
import type { CliContext, CliOutput } from '../cli-context';
import { ExitCode } from '../exit-code';
import { subtasksOf } from '../subtask-lookup';
import { TailRenderer } from '../tail-renderer';

export interface TailOptions {
  /** Ctrl-C: stop following (the task itself keeps running). */
  signal?: AbortSignal;
  /** Longest block of one live read; the loop re-checks `signal` in between. */
  blockMs?: number;
  /** How long to wait for a subtask that does not exist yet (`--wait`: about to be posted). */
  appearTimeoutMs?: number;
}

/**
 * `tail TASK [SUBTASK]`: prints the subtask's log so far, then follows it live — a progress bar,
 * the commands Codex runs and the streamed answer — and ends at the terminal event. Without
 * SUBTASK it follows the task's latest subtask. Exit code: 0 completed, 1 failed, 3 cancelled,
 * 130 interrupted.
 */
export async function tailCommand(
  ctx: CliContext,
  taskId: number,
  subtaskId: number | undefined,
  io: CliOutput,
  options: TailOptions = {},
): Promise<ExitCode> {
  const { signal, blockMs = 1_000, appearTimeoutMs = 0 } = options;
  const target = subtaskId ?? (await latestSubtask(ctx, taskId, appearTimeoutMs, signal));
  if (target === undefined) {
    io.err(`no subtask of task ${taskId} found (no job, no events)\n`);
    return signal?.aborted ? ExitCode.Interrupted : ExitCode.Failed;
  }
  if (!(await appeared(ctx, taskId, target, appearTimeoutMs, signal))) {
    io.err(`no job and no events for task ${taskId} subtask ${target}\n`);
    return signal?.aborted ? ExitCode.Interrupted : ExitCode.Failed;
  }

  const job = await ctx.queue.getJob(jobIdFor(taskId, target));
  io.out(`task ${taskId} · subtask ${target}${job?.data.title ? ` · ${job.data.title}` : ''}\n`);
  const renderer = new TailRenderer(taskId, target);
  // A dedicated connection: XREAD BLOCK holds it. Disconnecting it is how Ctrl-C ends a read at once.
  const blocking: Redis = ctx.redis.duplicate({ lazyConnect: true, disconnectTimeout: 100 });
  const stop = () => blocking.disconnect();
  signal?.addEventListener('abort', stop, { once: true });
  let cursor = '0';
  let saidQueued = false;
  try {
    for (let first = true; !signal?.aborted; first = false) {
      const batch = first ? await ctx.events.read(taskId, target) : await ctx.events.waitFor(blocking, taskId, target, cursor, blockMs);
      if (first && batch.length === 0 && !saidQueued) {
        io.out(`queued (job ${job ? await job.getState() : 'gone'}): waiting for a worker…\n`);
        saidQueued = true;
      }
      for (const stored of batch) {
        cursor = stored.id;
        const text = renderer.apply(stored);
        if (text) io.out(text);
        if (isTerminalEvent(stored.event)) return exitFor(renderer.view.state);
      }
    }
  } catch (error) {
    if (!signal?.aborted) throw error;
  } finally {
    signal?.removeEventListener('abort', stop);
    blocking.disconnect();
  }
  io.out('\nstopped following; the task itself goes on (cancel it with `wegent-codex cancel`)\n');
  return ExitCode.Interrupted;
}

function exitFor(state: string): ExitCode {
  if (state === 'completed') return ExitCode.Ok;
  if (state === 'cancelled') return ExitCode.Cancelled;
  return ExitCode.Failed;
}

/** True once the subtask has an event or a job, polling up to `timeoutMs`. */
async function appeared(ctx: CliContext, taskId: number, subtaskId: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await ctx.events.lastSeq(taskId, subtaskId)) > 0) return true;
    if ((await ctx.queue.getJob(jobIdFor(taskId, subtaskId))) !== undefined) return true;
    if (Date.now() >= deadline || signal?.aborted) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The task's highest subtask id, waiting up to `timeoutMs` for one to appear. */
async function latestSubtask(ctx: CliContext, taskId: number, timeoutMs: number, signal?: AbortSignal): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ids = await subtasksOf(ctx, taskId);
    if (ids.length) return ids[ids.length - 1];
    if (Date.now() >= deadline || signal?.aborted) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
}
