import { StepTitle, type RunContext, type StoredEvent, type TaskEvent, type ThinkingStep } from '@wegent-codex/contracts';
import { ProtocolFold } from './protocol-fold';
import { foldResponses } from './responses-fold';

const TASK = 4711;
const SUB = 9902;
const OPTIONS = { executorName: 'codex-svc-1', executorNamespace: 'svc-ns' };

const CONTEXT: RunContext = {
  task_title: 'Fix the parser',
  subtask_title: 'Fix the parser - Assistant',
  task_type: '',
  git_repo: 'alice/app',
  git_domain: 'github.com',
  branch_name: 'main',
  prompt: 'Fix the parser',
  protocol: '2026',
  responses: {
    message_id: 2,
    bot_name: 'codex-bot',
    shell_type: 'Codex',
    executor_name: 'wegent-task-alice-3f9c1a0b7d2e4c1',
    executor_namespace: '',
    model: 'gpt-5.5',
  },
};

type EventSpec = TaskEvent extends infer E
  ? E extends TaskEvent
    ? Omit<E, 'task_id' | 'subtask_id' | 'attempt' | 'seq' | 'timestamp'>
    : never
  : never;

/** Event n is appended at 2026-08-22T10:00:0n Z (epoch 1787392800 + n). */
const at = (seq: number): string => new Date(Date.UTC(2026, 7, 22, 10, 0, seq)).toISOString();
const ms = (seq: number): number => Date.UTC(2026, 7, 22, 10, 0, seq);
const CREATED_AT = 1787392801; // seconds of event 1

function log(...specs: EventSpec[]): StoredEvent[] {
  return specs.map((spec, index) => {
    const seq = index + 1;
    return { id: `${seq}-0`, event: { ...spec, task_id: TASK, subtask_id: SUB, attempt: 1, seq, timestamp: at(seq) } as TaskEvent };
  });
}

const started = (context: RunContext = CONTEXT): EventSpec => ({ type: 'status', phase: 'started', context });
const prepared = (): EventSpec => ({ type: 'status', phase: 'prepared' });
const step = (s: ThinkingStep, report = true): EventSpec => ({ type: 'thinking-step', step: s, report });
const chunk = (item_id: string, text: string): EventSpec => ({ type: 'chunk', item_id, text });
const assistant = (...content: unknown[]): ThinkingStep => ({
  title: StepTitle.assistant,
  next_action: 'continue',
  details: {
    type: 'assistant',
    message: { id: '', type: 'message', role: 'assistant', model: 'gpt-5.5', content, parent_tool_use_id: null },
  },
});
const user = (...content: unknown[]): ThinkingStep => ({
  title: StepTitle.user,
  next_action: 'continue',
  details: { type: 'user', message: { type: 'message', role: 'user', content, parent_tool_use_id: null } },
});
const usage = {
  input_tokens: 450,
  output_tokens: 62,
  cached_input_tokens: 290,
  reasoning_output_tokens: 5,
  total_tokens: 512,
  context_window: 258400,
  context_tokens: 212,
};

/** The envelope every callback of CONTEXT carries: the dispatch's echo fields (empty namespace left out). */
const envelope = { task_id: TASK, subtask_id: SUB, message_id: 2, executor_name: 'wegent-task-alice-3f9c1a0b7d2e4c1' };
const bodies = (events: StoredEvent[], options = OPTIONS) => foldResponses(TASK, SUB, events, options).map((c) => c.body);

describe('2026 fold (docs/protocol/wegent-protocol-2026.md §3)', () => {
  it('maps one turn with reasoning, a command, a patch, usage and a streamed answer to the events BE accepts', () => {
    const events = log(
      started(), // 1
      step({ title: StepTitle.initializeAgent, next_action: 'continue' }, false), // 2
      prepared(), // 3
      { type: 'reasoning', item_id: 'rs_1', text: 'Look at ' }, // 4
      { type: 'reasoning', item_id: 'rs_1', text: 'the parser.' }, // 5
      chunk('msg_a', 'Checking '), // 6
      chunk('msg_a', 'the repo.'), // 7
      step(assistant({ type: 'text', text: 'Checking the repo.' })), // 8
      step(assistant({ type: 'tool_use', id: 'call_1', name: 'Bash', input: { command: 'npm test' } })), // 9
      step(user({ type: 'tool_result', tool_use_id: 'call_1', content: '1 failing', is_error: true })), // 10
      step(
        assistant(
          { type: 'tool_use', id: 'call_2:0', name: 'Edit', input: { file_path: '/w/src/parser.ts', diff: '-a\n+b\n' } },
          { type: 'tool_use', id: 'call_2:1', name: 'Write', input: { file_path: '/w/notes.txt', content: 'hi\n' } },
        ),
      ), // 11
      step(
        user(
          {
            type: 'tool_result',
            tool_use_id: 'call_2:0',
            content: 'Success. Updated the following files:\nM src/parser.ts',
            is_error: false,
          },
          { type: 'tool_result', tool_use_id: 'call_2:1', content: 'Success. Updated the following files:\nA notes.txt', is_error: false },
        ),
      ), // 12
      { type: 'usage', usage }, // 13
      chunk('msg_b', 'Fixed 🎉 the '), // 14
      chunk('msg_b', 'parser.'), // 15
      { type: 'done', value: 'Fixed 🎉 the parser.', usage }, // 16
    );
    const callbacks = foldResponses(TASK, SUB, events, OPTIONS);
    expect(callbacks.map((c) => [c.seq, c.kind, c.body.event_type, c.part, c.moreOfEvent])).toEqual([
      [1, 'milestone', 'response.created', undefined, undefined],
      [4, 'delta', 'response.reasoning_summary_text.delta', undefined, undefined],
      [5, 'delta', 'response.reasoning_summary_text.delta', undefined, undefined],
      [6, 'delta', 'response.output_text.delta', undefined, undefined],
      [7, 'delta', 'response.output_text.delta', undefined, undefined],
      [9, 'block', 'response.block.created', undefined, undefined],
      [10, 'block', 'response.block.updated', undefined, undefined],
      [11, 'block', 'response.block.created', 0, true],
      [11, 'block', 'response.block.created', 1, false],
      [12, 'block', 'response.block.updated', 0, true],
      [12, 'block', 'response.block.updated', 1, false],
      [13, 'status', 'response.status.updated', undefined, undefined],
      [14, 'delta', 'response.output_text.delta', undefined, undefined],
      [15, 'delta', 'response.output_text.delta', undefined, undefined],
      [16, 'terminal', 'response.completed', undefined, undefined],
    ]);
    const answer = 'Checking the repo.\n\nFixed 🎉 the parser.';
    const response = { id: 'resp_9902', object: 'response', created_at: CREATED_AT, model: 'gpt-5.5' };
    expect(callbacks.map((c) => c.body)).toStrictEqual([
      {
        event_type: 'response.created',
        ...envelope,
        data: {
          type: 'response.created',
          shell_type: 'Codex',
          bot_name: 'codex-bot',
          response: { ...response, status: 'in_progress', output: [] },
        },
      },
      {
        event_type: 'response.reasoning_summary_text.delta',
        ...envelope,
        data: { type: 'response.reasoning_summary_text.delta', item_id: 'rs_1', output_index: 0, summary_index: 0, delta: 'Look at ' },
      },
      {
        event_type: 'response.reasoning_summary_text.delta',
        ...envelope,
        data: { type: 'response.reasoning_summary_text.delta', item_id: 'rs_1', output_index: 0, summary_index: 0, delta: 'the parser.' },
      },
      {
        event_type: 'response.output_text.delta',
        ...envelope,
        data: { type: 'response.output_text.delta', item_id: 'msg_9902', output_index: 0, content_index: 0, delta: 'Checking ', offset: 0 },
      },
      {
        event_type: 'response.output_text.delta',
        ...envelope,
        data: { type: 'response.output_text.delta', item_id: 'msg_9902', output_index: 0, content_index: 0, delta: 'the repo.', offset: 9 },
      },
      {
        event_type: 'response.block.created',
        ...envelope,
        data: {
          type: 'response.block.created',
          block: {
            id: 'call_1',
            type: 'tool',
            tool_use_id: 'call_1',
            tool_name: 'Bash',
            tool_input: { command: 'npm test' },
            status: 'pending',
            timestamp: ms(9),
          },
        },
      },
      {
        event_type: 'response.block.updated',
        ...envelope,
        data: { type: 'response.block.updated', block_id: 'call_1', updates: { tool_output: '1 failing', status: 'error' } },
      },
      {
        event_type: 'response.block.created',
        ...envelope,
        data: {
          type: 'response.block.created',
          block: {
            id: 'call_2:0',
            type: 'tool',
            tool_use_id: 'call_2:0',
            tool_name: 'Edit',
            tool_input: { file_path: '/w/src/parser.ts', diff: '-a\n+b\n' },
            status: 'pending',
            timestamp: ms(11),
          },
        },
      },
      {
        event_type: 'response.block.created',
        ...envelope,
        data: {
          type: 'response.block.created',
          block: {
            id: 'call_2:1',
            type: 'tool',
            tool_use_id: 'call_2:1',
            tool_name: 'Write',
            tool_input: { file_path: '/w/notes.txt', content: 'hi\n' },
            status: 'pending',
            timestamp: ms(11),
          },
        },
      },
      {
        event_type: 'response.block.updated',
        ...envelope,
        data: {
          type: 'response.block.updated',
          block_id: 'call_2:0',
          updates: { tool_output: 'Success. Updated the following files:\nM src/parser.ts', status: 'done' },
        },
      },
      {
        event_type: 'response.block.updated',
        ...envelope,
        data: {
          type: 'response.block.updated',
          block_id: 'call_2:1',
          updates: { tool_output: 'Success. Updated the following files:\nA notes.txt', status: 'done' },
        },
      },
      {
        event_type: 'response.status.updated',
        ...envelope,
        data: {
          type: 'response.status.updated',
          phase: 'token_usage',
          // 100 × (258400 − 212) / 258400 = 99.92 → 100
          context_metrics: { ...usage, remaining_percent: 100 },
        },
      },
      {
        event_type: 'response.output_text.delta',
        ...envelope,
        // A new message: a new paragraph. 18 code points before it.
        data: {
          type: 'response.output_text.delta',
          item_id: 'msg_9902',
          output_index: 0,
          content_index: 0,
          delta: '\n\nFixed 🎉 the ',
          offset: 18,
        },
      },
      {
        event_type: 'response.output_text.delta',
        ...envelope,
        // "\n\nFixed 🎉 the " is 14 code points (15 UTF-16 units: the emoji is a surrogate pair).
        data: { type: 'response.output_text.delta', item_id: 'msg_9902', output_index: 0, content_index: 0, delta: 'parser.', offset: 32 },
      },
      {
        event_type: 'response.completed',
        ...envelope,
        data: {
          type: 'response.completed',
          response: {
            ...response,
            status: 'completed',
            output: [
              {
                type: 'message',
                id: 'msg_9902',
                status: 'completed',
                role: 'assistant',
                content: [{ type: 'output_text', text: answer, annotations: [] }],
              },
            ],
            usage: {
              input_tokens: 450,
              input_tokens_details: { cached_tokens: 290 },
              output_tokens: 62,
              output_tokens_details: { reasoning_tokens: 5 },
              total_tokens: 512,
            },
            stop_reason: 'end_turn',
          },
        },
      },
    ]);
  });

  it('the deltas add up to the completed answer, offsets contiguous in code points', () => {
    const texts = ['你好', '😀 ', 'wörld', ''];
    const callbacks = bodies(log(started(), ...texts.map((t) => chunk('m1', t)), chunk('m2', 'Done.'), { type: 'done', value: 'Done.' }));
    let accumulated = '';
    for (const body of callbacks.filter((b) => b.event_type === 'response.output_text.delta')) {
      expect(body.data.offset).toBe(Array.from(accumulated).length);
      accumulated += String(body.data.delta);
    }
    expect(accumulated).toBe('你好😀 wörld\n\nDone.');
    const completed = callbacks.at(-1)!.data.response as { output: { content: { text: string }[] }[] };
    expect(completed.output[0]!.content[0]!.text).toBe('你好😀 wörld\n\nDone.');
  });

  it('a retracted partial leaves the completed answer; offsets still count what was sent (no delta is taken back)', () => {
    const callbacks = bodies(
      log(started(), chunk('a', 'Partial '), { type: 'retract', item_id: 'a' }, chunk('b', 'Recovered.'), {
        type: 'done',
        value: 'Recovered.',
      }),
    );
    expect(callbacks.filter((b) => b.event_type === 'response.output_text.delta').map((b) => [b.data.delta, b.data.offset])).toEqual([
      ['Partial ', 0],
      ['\n\nRecovered.', 8],
    ]);
    expect(callbacks.at(-1)!.data).toMatchObject({ response: { output: [{ content: [{ text: 'Recovered.' }] }] } });
  });

  it('errors carry a code and the cause a user can act on', () => {
    const cases: [EventSpec, { code: string; message: string }][] = [
      [
        { type: 'error', kind: 'agent', message: 'unexpected status 401', error: 'unexpected status 401' },
        { code: 'runtime_error', message: 'unexpected status 401' },
      ],
      [
        {
          type: 'error',
          kind: 'pre-execute',
          message: 'Agent[Codex][4711] handle: pre_execute failed.',
          error: 'git clone: repository not found',
        },
        { code: 'runtime_error', message: 'Preparing the workspace failed: git clone: repository not found' },
      ],
      [
        {
          type: 'error',
          kind: 'stream',
          message: 'Error processing response: the worker running this task was lost',
          error: 'worker lost',
          code: 'executor_crash',
        },
        { code: 'executor_crash', message: 'Error processing response: the worker running this task was lost' },
      ],
    ];
    for (const [event, data] of cases) {
      expect(bodies(log(started(), event)).at(-1)).toStrictEqual({ event_type: 'error', ...envelope, data: { type: 'error', ...data } });
    }
  });

  it('a subtask cancelled while queued still starts with response.created, in the same event as response.incomplete', () => {
    const callbacks = foldResponses(TASK, SUB, log({ type: 'cancelled', stage: 'queued', protocol: '2026' }), OPTIONS);
    const response = { id: 'resp_9902', object: 'response', created_at: CREATED_AT, model: '' };
    // No run context: the deployment's EXECUTOR_NAME/NAMESPACE, no message_id.
    const echo = { task_id: TASK, subtask_id: SUB, executor_name: 'codex-svc-1', executor_namespace: 'svc-ns' };
    expect(callbacks).toStrictEqual([
      {
        eventId: '1-0',
        seq: 1,
        kind: 'milestone',
        part: 0,
        moreOfEvent: true,
        body: {
          event_type: 'response.created',
          ...echo,
          data: { type: 'response.created', shell_type: 'Codex', response: { ...response, status: 'in_progress', output: [] } },
        },
      },
      {
        eventId: '1-0',
        seq: 1,
        kind: 'terminal',
        part: 1,
        moreOfEvent: false,
        body: {
          event_type: 'response.incomplete',
          ...echo,
          data: {
            type: 'response.incomplete',
            response: { ...response, status: 'cancelled', output: [], error: { code: 'cancelled', message: 'Task cancelled' } },
          },
        },
      },
    ]);
  });

  it('one response.created, one terminal, nothing after it; replays and other subtasks ignored', () => {
    const events = log(started(), started(), chunk('m', 'a'), { type: 'cancelled', stage: 'running' }, chunk('m', 'late'), {
      type: 'done',
      value: 'x',
    });
    const replayed = [...events.slice(0, 3), events[2]!, ...events.slice(3)];
    const other = { id: '9-0', event: { ...events[2]!.event, subtask_id: 1, seq: 9 } } as StoredEvent;
    expect(bodies([...replayed, other]).map((b) => b.event_type)).toEqual([
      'response.created',
      'response.output_text.delta',
      'response.incomplete',
    ]);
  });

  it('a plan is a done block at once; steps without tools (text, system, results) send nothing', () => {
    const plan = {
      type: 'tool_use',
      id: 'plan-1',
      name: 'TodoWrite',
      input: { todos: [{ content: 'a', status: 'pending', activeForm: 'a' }] },
    };
    const callbacks = bodies(
      log(
        started(),
        step({ title: StepTitle.system, next_action: 'continue', details: { type: 'system', subtype: 'init' } }),
        step(assistant({ type: 'text', text: 'hello' })),
        step(assistant(plan)),
        step(assistant({ type: 'tool_use', id: '', name: 'Bash', input: {} })), // no id: never sent (BE would answer 500)
      ),
    );
    expect(callbacks.map((b) => [b.event_type, (b.data.block as { status?: string } | undefined)?.status])).toEqual([
      ['response.created', undefined],
      ['response.block.created', 'done'],
    ]);
  });

  it('echo fields: the dispatch wins, the deployment config fills in, empty values are left out', () => {
    const bare: RunContext = { ...CONTEXT, responses: { message_id: null, executor_name: '', executor_namespace: null } };
    const [created] = bodies(log(started(bare)));
    expect(created).toStrictEqual({
      event_type: 'response.created',
      task_id: TASK,
      subtask_id: SUB,
      executor_name: 'codex-svc-1',
      executor_namespace: 'svc-ns',
      data: {
        type: 'response.created',
        shell_type: 'Codex',
        response: { id: 'resp_9902', object: 'response', created_at: CREATED_AT, model: '', status: 'in_progress', output: [] },
      },
    });
  });

  it('never puts a delta anywhere but last in its event (the relay may repeat earlier parts of an event after a crash)', () => {
    const events = log(started(), chunk('m', 'a'), { type: 'reasoning', item_id: 'r', text: 'b' }, { type: 'done', value: 'a' });
    for (const callback of foldResponses(TASK, SUB, events, OPTIONS))
      if (callback.kind === 'delta') expect(callback.moreOfEvent).toBeUndefined();
  });
});

describe('ProtocolFold: the generation comes from the log', () => {
  const fold = (events: StoredEvent[]) => {
    const folder = new ProtocolFold(TASK, SUB, OPTIONS);
    const callbacks = events.flatMap((e) => folder.apply(e));
    return { folder, callbacks };
  };

  it('a 2026 context picks the 2026 fold', () => {
    const { folder, callbacks } = fold(log(started(), { type: 'done', value: 'ok' }));
    expect(folder.protocol).toBe('2026');
    expect(folder.finished).toBe(true);
    expect(callbacks.map((c) => ('event_type' in c.body ? c.body.event_type : c.body.status))).toEqual([
      'response.created',
      'response.completed',
    ]);
  });

  it('no protocol (every log before 2026 existed) picks the 2025 fold, unchanged', () => {
    const { protocol: _p, responses: _r, ...old } = CONTEXT;
    const { folder, callbacks } = fold(log(started({ ...old, task_type: 'online' }), { type: 'done', value: 'ok' }));
    expect(folder.protocol).toBe('2025');
    expect(callbacks.map((c) => ('status' in c.body ? [c.body.status, c.body.progress] : null))).toEqual([
      ['RUNNING', 50],
      ['COMPLETED', 100],
    ]);
  });

  it('a terminal written before any run began says its protocol itself', () => {
    expect(fold(log({ type: 'cancelled', stage: 'queued', protocol: '2026' })).folder.protocol).toBe('2026');
    expect(fold(log({ type: 'cancelled', stage: 'queued' })).folder.protocol).toBe('2025');
  });
});

/** Edges of the 2026 fold, each expected value written out by hand (docs/quality.md, fold survivors). */
describe('2026 fold: edges', () => {
  const types = (events: StoredEvent[]) => bodies(events).map((b) => b.event_type);
  const completedResponse = (events: StoredEvent[]) => bodies(events).at(-1)!.data.response as Record<string, unknown>;

  it('empty text and reasoning send nothing; a second reasoning item starts a new paragraph', () => {
    const callbacks = bodies(
      log(
        started(),
        chunk('m', ''),
        { type: 'reasoning', item_id: 'r1', text: '' },
        { type: 'reasoning', item_id: 'r1', text: 'Plan.' },
        { type: 'reasoning', item_id: 'r1', text: ' More.' },
        { type: 'reasoning', item_id: 'r2', text: 'Then.' },
      ),
    );
    expect(callbacks.map((b) => [b.event_type, b.data.delta])).toEqual([
      ['response.created', undefined],
      ['response.reasoning_summary_text.delta', 'Plan.'],
      ['response.reasoning_summary_text.delta', ' More.'],
      ['response.reasoning_summary_text.delta', '\n\nThen.'],
    ]);
  });

  it('blocks: content that is not a tool block is skipped; a wrong name or input gets the defaults', () => {
    const callbacks = bodies(
      log(
        started(),
        step(
          assistant(
            'not a block',
            null,
            ['tool_use'],
            { type: 'text', id: 'call_t', tool_use_id: 'call_t', text: 'hi' },
            { type: 'tool_use', id: 7, name: 'Bash', input: {} },
            { type: 'tool_use', id: 'call_9', name: 42, input: ['ls'] },
          ),
        ),
        step(
          user(
            { type: 'tool_result', tool_use_id: '', content: 'x' },
            { type: 'tool_result', tool_use_id: 7, content: 'x' },
            { type: 'tool_result', tool_use_id: 'call_9', is_error: true },
            { type: 'tool_result', tool_use_id: 'call_9', content: 'ok', is_error: 'yes' },
          ),
        ),
      ),
    );
    const tool = {
      id: 'call_9',
      type: 'tool',
      tool_use_id: 'call_9',
      tool_name: 'tool',
      tool_input: {},
      status: 'pending',
      timestamp: ms(2),
    };
    expect(callbacks.slice(1)).toStrictEqual([
      { event_type: 'response.block.created', ...envelope, data: { type: 'response.block.created', block: tool } },
      {
        event_type: 'response.block.updated',
        ...envelope,
        data: { type: 'response.block.updated', block_id: 'call_9', updates: { tool_output: '', status: 'error' } },
      },
      {
        event_type: 'response.block.updated',
        ...envelope,
        data: { type: 'response.block.updated', block_id: 'call_9', updates: { tool_output: 'ok', status: 'done' } },
      },
    ]);
  });

  it('response.completed: no answer, no output; the usage of the done event, else of the last usage event', () => {
    expect(completedResponse(log(started(), { type: 'done' }))).toMatchObject({ output: [], usage: null });
    const expectedUsage = {
      input_tokens: 450,
      input_tokens_details: { cached_tokens: 290 },
      output_tokens: 62,
      output_tokens_details: { reasoning_tokens: 5 },
      total_tokens: 512,
    };
    expect(completedResponse(log(started(), { type: 'done', usage }))).toMatchObject({ usage: expectedUsage });
    expect(completedResponse(log(started(), { type: 'usage', usage }, { type: 'done' }))).toMatchObject({ usage: expectedUsage });
  });

  it('a retract removes only the text of its own item', () => {
    const events = log(started(), chunk('a', 'One.'), chunk('b', 'Two.'), { type: 'retract', item_id: 'b' }, { type: 'done' });
    expect(completedResponse(events)).toMatchObject({ output: [{ content: [{ text: 'One.' }] }] });
  });

  it.each([
    [{ context_window: 1000, context_tokens: 250 }, 75],
    [{ context_window: 1000, context_tokens: 1200 }, 0],
    [{ context_window: 1000, context_tokens: 0 }, 100],
    [{ context_tokens: 250 }, undefined],
    [{ context_window: 1000 }, undefined],
  ])('token usage %j: remaining_percent %s', (context, remaining) => {
    const counts = { input_tokens: 3, output_tokens: 2, cached_input_tokens: 0, reasoning_output_tokens: 0, total_tokens: 5 };
    const [, status] = bodies(log(started(), { type: 'usage', usage: { ...counts, ...context } }));
    const metrics = { ...counts, ...context, ...(remaining !== undefined && { remaining_percent: remaining }) };
    expect(status!.data).toStrictEqual({ type: 'response.status.updated', phase: 'token_usage', context_metrics: metrics });
  });

  it.each<[EventSpec, string]>([
    [{ type: 'error', kind: 'init', message: 'Agent init failed.', error: 'codex not found' }, 'The task could not start: codex not found'],
    [{ type: 'error', kind: 'init', message: 'Agent init failed.' }, 'Agent init failed.'],
    [{ type: 'error', kind: 'pre-execute', message: 'pre_execute failed.' }, 'pre_execute failed.'],
    [{ type: 'error', kind: 'agent', message: 'Agent failed.', error: '' }, 'Agent failed.'],
    [{ type: 'error', kind: 'exception', message: 'Runner crashed.', error: 'TypeError' }, 'Runner crashed.'],
  ])('error %j says %j', (event, message) => {
    expect(bodies(log(started(), event)).at(-1)!.data).toStrictEqual({ type: 'error', code: 'runtime_error', message });
  });

  it('ignores events of another task or subtask before the end too', () => {
    const events = log(started(), chunk('m', 'a'));
    const delta = events[1]!.event;
    const foreign: StoredEvent[] = [
      { id: '5-0', event: { ...delta, task_id: TASK + 1, seq: 5 } },
      { id: '6-0', event: { ...delta, subtask_id: SUB + 1, seq: 6 } },
    ];
    expect(types([...events, ...foreign])).toEqual(['response.created', 'response.output_text.delta']);
  });

  it('keeps the first context, and stamps every callback with its traceparent', () => {
    const traced: RunContext = { ...CONTEXT, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    const other: RunContext = { ...CONTEXT, responses: { ...CONTEXT.responses!, message_id: 9 } };
    const callbacks = foldResponses(
      TASK,
      SUB,
      log(started(traced), { type: 'status', phase: 'prepared', context: other }, chunk('m', 'a')),
    );
    expect(callbacks.map((c) => [c.traceparent, c.body.message_id])).toEqual([
      ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 2],
      ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 2],
    ]);
    expect(foldResponses(TASK, SUB, log(started()))[0]).not.toHaveProperty('traceparent');
  });
});
