import { OutputBudget } from './output-budget';
import type { RunEvent } from './run-event';

const toolResult = (content: string): RunEvent => ({
  type: 'thinking-step',
  report: true,
  step: {
    title: 'thinking.user_message_received',
    next_action: 'continue',
    details: { type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c1', content, is_error: false }] } },
  },
});
const contentOf = (event: RunEvent): string => (event as any).step.details.message.content[0].content;

describe('OutputBudget (what a subtask may add to its events)', () => {
  it('passes small texts and events without details untouched', () => {
    const budget = new OutputBudget(1024 * 1024);
    const chunk: RunEvent = { type: 'chunk', item_id: 'm', text: 'x'.repeat(200_000) };
    expect(budget.apply(chunk)).toBe(chunk);
    expect(contentOf(budget.apply(toolResult('hello')))).toBe('hello');
  });

  it('cuts one text at 68 KiB with a marker naming what was left out', () => {
    const budget = new OutputBudget(1024 * 1024);
    const out = contentOf(budget.apply(toolResult('y'.repeat(100_000))));
    const marker = '\n… [30368 more bytes not shown: one text is limited to 68 KiB]';
    expect(out.endsWith(marker)).toBe(true);
    expect(out.length - marker.length).toBe(69_632);
  });

  it('lets a command output the mapper already capped (64 KiB and its marker) pass whole', () => {
    const budget = new OutputBudget(1024 * 1024);
    const capped = `${'z'.repeat(65_536)}\n… [1073676288 more bytes not shown]`;
    expect(contentOf(budget.apply(toolResult(capped)))).toBe(capped);
  });

  it('per subtask: the budget is spent across events, then long texts become the marker alone', () => {
    const budget = new OutputBudget(100 * 1024);
    const a = contentOf(budget.apply(toolResult('a'.repeat(60 * 1024))));
    expect(a).toHaveLength(60 * 1024);
    // Spent so far: 61 440 + the short texts of two steps ('user', 'user', 'tool_result', 'c1': 21 bytes
    // each, the second's before its content) = 61 482; 102 400 − 61 482 = 40 918 bytes left.
    const b = contentOf(budget.apply(toolResult('b'.repeat(60 * 1024))));
    const marker = "\n… [20522 more bytes not shown: this subtask's output limit of 100 KiB is reached]";
    expect(b.endsWith(marker)).toBe(true);
    expect(b.length - marker.length).toBe(40_918);
    expect(budget.usedBytes).toBe(102_400);
    const c = contentOf(budget.apply(toolResult('c'.repeat(1000))));
    expect(c).toBe("… [1000 bytes not shown: this subtask's output limit of 100 KiB is used up]");
    // Short texts (titles, ids, exit codes) still pass: a step keeps its shape.
    expect(contentOf(budget.apply(toolResult('exit 0')))).toBe('exit 0');
    expect(budget.exhausted).toBe(true);
  });

  it('never splits a UTF-8 character', () => {
    const budget = new OutputBudget(1024 * 1024);
    const out = contentOf(budget.apply(toolResult('é'.repeat(40_000)))); // 80 000 bytes, cut at 69 632
    expect(out.startsWith('é'.repeat(34_816))).toBe(true);
    expect(out).toContain('\n… [10368 more bytes not shown');
  });
});
