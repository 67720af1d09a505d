import type { NewTaskEvent, RunContext, StoredEvent, TaskEvent } from '@wegent-codex/contracts';
import { describeStep, progressBar, TailRenderer } from './tail-renderer';
import { readableMessage } from './text';

const context: RunContext = {
  task_title: 't',
  subtask_title: 's',
  task_type: 'online',
  git_repo: '',
  git_domain: '',
  branch_name: '',
  prompt: 'p',
};

/** Stamps events the way the log does (seq, timestamp, stream id) and renders them in order. */
function render(events: NewTaskEvent[]): string {
  const renderer = new TailRenderer(1, 2);
  return events
    .map(
      (event, i) =>
        ({
          id: `1-${i}`,
          event: { ...event, seq: i + 1, timestamp: `2025-01-01T00:00:0${i % 10}.000Z` } as TaskEvent,
        }) satisfies StoredEvent,
    )
    .map((stored) => renderer.apply(stored))
    .join('');
}

const e = { task_id: 1, subtask_id: 2, attempt: 1 };

describe('TailRenderer', () => {
  it.each([
    [0, '[--------------------]   0%'],
    [50, '[##########----------]  50%'],
    [75, '[###############-----]  75%'],
    [100, '[####################] 100%'],
    [140, '[####################] 100%'],
  ])('progressBar(%i)', (progress, bar) => {
    expect(progressBar(progress)).toBe(bar);
  });

  it('reads callback placeholders as their keys', () => {
    expect(readableMessage('${{thinking.initialize_agent}}')).toBe('thinking.initialize_agent');
    expect(readableMessage(undefined)).toBe('');
  });

  it('describes steps by their commands, tools, results and reasoning, else by title', () => {
    const step = (content: unknown[]) => ({ title: 'x', next_action: 'continue', details: { type: 'assistant', message: { content } } });
    expect(describeStep(step([{ type: 'tool_use', name: 'Bash', input: { command: 'ls  -la\n' } }]))).toEqual(['$ ls -la']);
    expect(describeStep(step([{ type: 'tool_use', name: 'mcp__echo__say', input: { text: 'hi' } }]))).toEqual([
      '> mcp__echo__say {"text":"hi"}',
    ]);
    expect(describeStep(step([{ type: 'tool_result', content: '', is_error: true }]))).toEqual(['! (no output)']);
    expect(describeStep(step([{ type: 'thinking', thinking: 'Look first.' }]))).toEqual(['~ Look first.']);
    expect(describeStep(step([{ type: 'unknown', block_type: 'ThinkingBlock', block_data: { thinking: 'Read the README.' } }]))).toEqual([
      '~ Read the README.',
    ]);
    expect(describeStep(step([{ type: 'text', text: 'streamed already' }]))).toEqual([]);
    expect(describeStep({ title: 't', next_action: 'continue', details: { type: 'system', subtype: 'init', model: 'gpt-5.5' } })).toEqual([
      '· Codex session started (model gpt-5.5)',
    ]);
    expect(
      describeStep({ title: 't', next_action: 'continue', details: { type: 'result', subtype: 'success', duration_ms: 2625 } }),
    ).toEqual(['· success in 2.6 s']);
    expect(describeStep({ title: 'thinking.initialize_agent', next_action: 'continue' })).toEqual(['· thinking.initialize_agent']);
    expect(describeStep(step([{ type: 'tool_result', content: 'x'.repeat(400) }]))[0]).toHaveLength(162);
  });

  it('streams answer text inline, breaks the line for anything else, and marks the answer again after it', () => {
    const text = render([
      { ...e, type: 'status', phase: 'started', context },
      { ...e, type: 'status', phase: 'prepared' },
      { ...e, type: 'chunk', item_id: 'a', text: 'Checking' },
      { ...e, type: 'chunk', item_id: 'a', text: ' now.\nLine two' },
      { ...e, type: 'thinking-step', report: true, step: { title: 'thinking.assistant_message_received', next_action: 'continue' } },
      { ...e, type: 'chunk', item_id: 'b', text: 'Done.' },
      { ...e, type: 'done', value: 'Done.' },
    ]);
    expect(text).toBe(
      [
        '[##########----------]  50%  RUNNING    Task execution started',
        '[###########---------]  55%  RUNNING    thinking.initialize_agent',
        '» Checking now.',
        '  Line two',
        '[###############-----]  75%  RUNNING    Thinking: thinking.assistant_message_received',
        '  · thinking.assistant_message_received',
        '» Done.',
        '[####################] 100%  COMPLETED',
        '',
      ].join('\n'),
    );
  });

  it('prints a final answer that was never streamed, and the error of a failed run', () => {
    expect(
      render([
        { ...e, type: 'status', phase: 'started', context },
        { ...e, type: 'done', value: 'All good.' },
      ]),
    ).toContain('100%  COMPLETED\n» All good.\n');
    expect(render([{ ...e, type: 'error', kind: 'init', message: 'no agent for shell type foo' }])).toBe(
      '[####################] 100%  FAILED     no agent for shell type foo\nerror: no agent for shell type foo\n',
    );
  });
});
