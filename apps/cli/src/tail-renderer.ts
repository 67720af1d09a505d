import type { StoredEvent, ThinkingStep } from '@wegent-codex/contracts';
import { CallbackFolder } from '@wegent-codex/event-log';
import { clip, readableMessage } from './text';

/** `[########------------]  40%`: ASCII, so it survives any terminal, pipe or log file. */
export function progressBar(progress: number, width = 20): string {
  const clamped = Math.max(0, Math.min(100, Math.round(progress)));
  const filled = Math.round((clamped / 100) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(clamped).padStart(3)}%`;
}

const MAX_LINE = 160;
const oneLine = (text: string): string => clip(text, MAX_LINE);

/**
 * Short lines for one thinking step: the commands and tools it used, their results, reasoning.
 * Steps are ClaudeCode-shaped (`details.message.content[]` blocks, docs/protocol/wegent-protocol.md §6). Answer
 * text blocks are left out (the answer streams as chunks); a step without a message shows its
 * session or result summary, or its title.
 */
export function describeStep(step: ThinkingStep): string[] {
  const details = step.details as
    { type?: string; subtype?: string; model?: string; duration_ms?: number; message?: { content?: unknown } } | undefined;
  if (!Array.isArray(details?.message?.content)) {
    if (details?.type === 'system' && details.model) return [`· Codex session started (model ${details.model})`];
    if (details?.type === 'result')
      return [
        `· ${details.subtype ?? 'finished'}${typeof details.duration_ms === 'number' ? ` in ${(details.duration_ms / 1000).toFixed(1)} s` : ''}`,
      ];
    return [`· ${step.title}`];
  }
  const lines: string[] = [];
  for (const block of details.message.content as Record<string, unknown>[]) {
    if (block.type === 'tool_use') {
      const input = (block.input ?? {}) as Record<string, unknown>;
      lines.push(
        typeof input.command === 'string' ? `$ ${oneLine(input.command)}` : `> ${String(block.name)} ${oneLine(JSON.stringify(input))}`,
      );
    } else if (block.type === 'tool_result') {
      const content = typeof block.content === 'string' ? block.content : JSON.stringify(block.content ?? '');
      lines.push(`${block.is_error ? '! ' : '= '}${oneLine(content) || '(no output)'}`);
    } else {
      const thinking = block.type === 'thinking' ? block.thinking : (block.block_data as { thinking?: unknown } | undefined)?.thinking;
      if (typeof thinking === 'string' && thinking.trim()) lines.push(`~ ${oneLine(thinking)}`);
    }
  }
  return lines;
}

/**
 * Turns a subtask's events into terminal text, one event at a time: a progress bar line whenever
 * the status or progress of what executor_manager would see changes, a line per command, tool
 * result or reasoning summary, and the streamed answer inline as it arrives. Pure: the same events
 * give the same text, so `tail` and the demo print exactly what was logged.
 */
export class TailRenderer {
  private readonly folder: CallbackFolder;
  private lastBar = '';
  /** The cursor is inside streamed answer text (not at the start of a line). */
  private midAnswer = false;
  private answerItem?: string;
  private streamed = '';

  constructor(
    readonly taskId: number,
    readonly subtaskId: number,
  ) {
    this.folder = new CallbackFolder(taskId, subtaskId);
  }

  get finished(): boolean {
    return this.folder.finished;
  }

  get view() {
    return this.folder.view;
  }

  /** The text to print for one event ('' when it changes nothing visible). */
  apply(stored: StoredEvent): string {
    const callback = this.folder.apply(stored);
    const { event } = stored;
    let text = '';
    if (event.type === 'chunk') {
      if (event.text === '') return '';
      if (event.item_id !== this.answerItem) {
        text += `${this.lineStart()}» `;
        this.answerItem = event.item_id;
      }
      this.midAnswer = true;
      this.streamed += event.text;
      return text + event.text.replace(/\n/g, '\n  ');
    }
    if (event.type === 'thinking-step') {
      // Commands and results first; the bar (progress 75 from the first step on) before them.
      const bar = callback ? this.barLine(callback.body.status, callback.body.progress, callback.body.error_message) : '';
      const lines = describeStep(event.step)
        .map((l) => `  ${l}\n`)
        .join('');
      return bar || lines ? `${this.lineStart()}${bar}${lines}` : '';
    }
    if (callback) {
      const bar = this.barLine(callback.body.status, callback.body.progress, callback.body.error_message, event.type !== 'status');
      text += bar ? `${this.lineStart()}${bar}` : '';
    }
    if (event.type === 'done' && event.value && !this.streamed.includes(event.value.trim())) {
      text += `${this.lineStart()}» ${event.value.replace(/\n/g, '\n  ')}\n`;
    }
    if (event.type === 'error') text += `${this.lineStart()}error: ${event.message}\n`;
    return text;
  }

  /** A bar line when status or progress changed (or `force`), else ''. */
  private barLine(status: string, progress: number, message: string | undefined, force = false): string {
    const key = `${status}:${progress}`;
    if (!force && key === this.lastBar) return '';
    this.lastBar = key;
    const shown = status === 'COMPLETED' ? '' : readableMessage(message);
    return `${progressBar(progress)}  ${status.padEnd(9)}  ${oneLine(shown)}`.trimEnd() + '\n';
  }

  /** '\n' when the cursor is inside answer text, so the next line starts on its own. */
  private lineStart(): string {
    if (!this.midAnswer) return '';
    this.midAnswer = false;
    this.answerItem = undefined;
    return '\n';
  }
}
