import { type AnyPlannedCallback, ProtocolFold } from '@wegent-codex/event-log';
import { CallbackSender, idempotencyKey, noopRelayMetrics } from '../../../relay/src';
import type { CliContext, CliOutput } from '../cli-context';
import { ExitCode } from '../exit-code';
import { clip, readableMessage } from '../text';

export interface ReplayOptions {
  /** Send to this URL instead of CALLBACK_URL. */
  to?: string;
  /** Print what would be sent, send nothing. */
  dryRun?: boolean;
  /** How long one callback is retried (the operator is waiting; the relay's 24 h is too long here). */
  retryForMs?: number;
  signal?: AbortSignal;
}

/**
 * `replay TASK SUBTASK`: sends the callbacks of a finished subtask again, for an executor_manager
 * that lost them (restored database, a bug on its side). They are folded from the event log like
 * the relay does and carry the same Idempotency-Keys, so an endpoint that deduplicates by key
 * ignores those it already has. Text snapshots the relay coalesced away are included: each is a
 * full snapshot and the terminal callback comes last, so the end state is the same. A 2026
 * subtask's text and reasoning deltas are left out: today's backend appends every delta it gets
 * (docs/protocol/wegent-protocol-2026.md §3.7), and `response.completed` carries the whole answer anyway.
 */
export async function replayCommand(
  ctx: CliContext,
  taskId: number,
  subtaskId: number,
  io: CliOutput,
  options: ReplayOptions = {},
): Promise<ExitCode> {
  const url = options.to ?? ctx.config.CALLBACK_URL;
  if (!url && !options.dryRun) {
    io.err('CALLBACK_URL is not set: set it or pass --to URL\n');
    return ExitCode.Usage;
  }
  const terminal = await ctx.events.terminalOf(taskId, subtaskId);
  if (!terminal) {
    const started = (await ctx.events.lastSeq(taskId, subtaskId)) > 0;
    io.err(
      started
        ? `task ${taskId} subtask ${subtaskId} is not finished: the relay is still delivering its callbacks; replay only finished subtasks\n`
        : `no events for task ${taskId} subtask ${subtaskId}\n`,
    );
    return ExitCode.Failed;
  }
  const fold = new ProtocolFold(taskId, subtaskId, {
    executorName: ctx.config.EXECUTOR_NAME,
    executorNamespace: ctx.config.EXECUTOR_NAMESPACE,
  });
  const callbacks: AnyPlannedCallback[] = (await ctx.events.read(taskId, subtaskId))
    .flatMap((stored) => fold.apply(stored))
    .filter((c) => c.kind !== 'delta');
  io.out(
    `${options.dryRun ? 'would send' : 'sending'} ${callbacks.length} callback(s) of task ${taskId} subtask ${subtaskId} (${terminal})${url ? ` to ${redactUrl(url)}` : ''}\n`,
  );

  const sender = options.dryRun
    ? undefined
    : new CallbackSender(
        {
          ...ctx.config,
          CALLBACK_URL: url,
          CALLBACK_RETRY_FOR_MS: options.retryForMs ?? Math.min(ctx.config.CALLBACK_RETRY_FOR_MS, 60_000),
        },
        ctx.logger,
        noopRelayMetrics,
      );
  const signal = options.signal ?? new AbortController().signal;
  let failures = 0;
  for (const [i, callback] of callbacks.entries()) {
    const what =
      'event_type' in callback.body
        ? callback.body.event_type.padEnd(64)
        : `${callback.body.status.padEnd(9)} ${String(callback.body.progress).padStart(3)}  ${clip(readableMessage(callback.body.error_message), 50).padEnd(50)}`;
    const label = `${String(i + 1).padStart(3)}/${callbacks.length}  ${what}`;
    if (!sender) {
      io.out(`${label}  key ${idempotencyKey(callback)}\n`);
      continue;
    }
    const outcome = await sender.send(callback, signal);
    switch (outcome.result) {
      case 'delivered':
        io.out(`${label}  → ${outcome.status}\n`);
        break;
      case 'rejected':
        failures += 1;
        io.out(`${label}  → rejected ${outcome.status}\n`);
        break;
      case 'expired':
        failures += 1;
        io.out(`${label}  → gave up (${outcome.lastFailure})\n`);
        break;
      case 'aborted':
        io.out(`${label}  → interrupted\n`);
        return ExitCode.Interrupted;
    }
  }
  if (failures) io.err(`${failures} callback(s) were not accepted\n`);
  return failures ? ExitCode.Failed : ExitCode.Ok;
}

/** The URL without credentials, for the screen. */
function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username || url.password) {
      url.username = '***';
      url.password = '';
    }
    return url.toString();
  } catch {
    return raw;
  }
}
