import type { RunEvent } from './run-event';

/**
 * One text of one event, at most: a backstop above the mapper's own cap (64 KiB of a command's
 * output plus its marker), so a text the mapper already cut passes whole and keeps one marker.
 */
export const MAX_TEXT_BYTES = 68 * 1024;
/** Texts this short always pass: titles, ids, paths, exit codes — the shape of a step. */
const ALWAYS_SHOWN_BYTES = 256;

/**
 * Bounds what a run's steps may add to its event log, the callbacks folded from it and Redis
 * memory — per text (MAX_TEXT_BYTES) and per subtask (RUN_OUTPUT_KB) — whatever event type carries
 * it. Applied at the append edge, to every thinking step's details: command output, file
 * contents, tool results. Past the budget, long texts become a marker (as Codex shows the model a
 * truncated output). The answer itself (`chunk`, `done`) is the user's result and is not cut here.
 */
export class OutputBudget {
  private used = 0;
  private exhaustedOnce = false;

  constructor(private readonly budgetBytes: number) {}

  /** Bytes of step text appended so far. */
  get usedBytes(): number {
    return this.used;
  }

  apply(event: RunEvent): RunEvent {
    if (event.type !== 'thinking-step' || event.step.details === undefined) return event;
    return { ...event, step: { ...event.step, details: this.bound(event.step.details) as typeof event.step.details } };
  }

  private bound(value: unknown): unknown {
    if (typeof value === 'string') return this.text(value);
    if (Array.isArray(value)) return value.map((v) => this.bound(v));
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(value)) out[key] = this.bound(v);
      return out;
    }
    return value;
  }

  private text(value: string): string {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes <= ALWAYS_SHOWN_BYTES) {
      this.used += bytes;
      return value;
    }
    const left = this.budgetBytes - this.used;
    if (left <= ALWAYS_SHOWN_BYTES) {
      this.exhaustedOnce = true;
      return `… [${bytes} bytes not shown: this subtask's output limit of ${Math.round(this.budgetBytes / 1024)} KiB is used up]`;
    }
    const keep = Math.min(bytes, MAX_TEXT_BYTES, left);
    if (keep === bytes) {
      this.used += bytes;
      return value;
    }
    const cut = cutUtf8(value, keep);
    this.used += Buffer.byteLength(cut, 'utf8');
    const why =
      keep === left
        ? `this subtask's output limit of ${Math.round(this.budgetBytes / 1024)} KiB is reached`
        : `one text is limited to ${MAX_TEXT_BYTES / 1024} KiB`;
    return `${cut}\n… [${bytes - Buffer.byteLength(cut, 'utf8')} more bytes not shown: ${why}]`;
  }

  /** True once a text was replaced by the marker alone. */
  get exhausted(): boolean {
    return this.exhaustedOnce;
  }
}

/** The first `maxBytes` bytes of `text`, never splitting a character. */
export function cutUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes);
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8');
}
