import { isSupersededBy, type AnyPlannedCallback } from '@wegent-codex/event-log';

export interface SendPlan<T extends AnyPlannedCallback> {
  /** To send now, in log order. */
  send: T[];
  /** Text snapshots that a later callback of the batch makes redundant (never sent). */
  superseded: T[];
  /** The batch ends with a text snapshot sent too recently: it waits `waitMs`, then is re-planned. */
  held?: { callback: T; waitMs: number };
}

/**
 * Which of a subtask's undelivered callbacks go out now (docs/protocol/wegent-protocol.md §8 "Coalesce").
 *
 * - Nothing after the first terminal callback, ever.
 * - A `text` callback is dropped when a later one supersedes it (`isSupersededBy`: a full snapshot
 *   with a result). One that nothing supersedes — e.g. text right before a result-less CANCELLED —
 *   is sent, or BE would keep a result missing the last text.
 * - A trailing `text` callback goes out at most once per `coalesceMs` since the last callback sent;
 *   otherwise it is held, so newer events can replace it.
 * - Every other kind goes out at once — 2026 deltas included: BE appends each one, so none is ever
 *   dropped here (docs/protocol/wegent-protocol-2026.md §3.7). Deltas queued behind each other
 *   were already merged into one as they were folded (`mergeDeltas`, SubtaskDelivery.keep).
 */
export interface PlanOptions {
  /** When the last callback of this subtask was sent (undefined: none yet in this process). */
  lastSentAt: number | undefined;
  now: number;
  coalesceMs: number;
  /** The log was not read to its end: a trailing text waits for the rest, which likely supersedes it. */
  moreToRead?: boolean;
}

export function planSends<T extends AnyPlannedCallback>(pending: readonly T[], options: PlanOptions): SendPlan<T> {
  const { lastSentAt, now, coalesceMs, moreToRead = false } = options;
  const terminal = pending.findIndex((c) => c.kind === 'terminal');
  const batch = terminal < 0 ? pending : pending.slice(0, terminal + 1);

  // Walk backwards, remembering later callbacks that can supersede text: the nearest later text
  // snapshot and every later non-text callback (few: steps and milestones). Linear for long
  // streams of chunks.
  const kept: T[] = [];
  const superseded: T[] = [];
  let laterText: T | undefined;
  const laterOthers: T[] = [];
  for (let i = batch.length - 1; i >= 0; i -= 1) {
    const callback = batch[i];
    const isText = callback.kind === 'text';
    const redundant =
      isText &&
      ((laterText !== undefined && isSupersededBy(callback, laterText)) || laterOthers.some((later) => isSupersededBy(callback, later)));
    if (redundant) superseded.push(callback);
    else kept.push(callback);
    if (isText) laterText = callback;
    else laterOthers.push(callback);
  }
  kept.reverse();
  superseded.reverse();

  const last = kept.at(-1);
  if (last?.kind === 'text' && last === batch.at(-1)) {
    const waitMs = moreToRead ? 0 : lastSentAt === undefined ? -1 : lastSentAt + coalesceMs - now;
    if (moreToRead || waitMs > 0) return { send: kept.slice(0, -1), superseded, held: { callback: last, waitMs } };
  }
  return { send: kept, superseded };
}
