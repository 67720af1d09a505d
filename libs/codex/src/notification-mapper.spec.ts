import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { isTerminalEvent, StepTitle, taskEventSchema, type NewTaskEvent } from '@wegent-codex/contracts';
import {
  capUtf8,
  describeError,
  NotificationMapper,
  RESUME_NOTE,
  unwrapShellCommand,
  type NotificationMapperOptions,
} from './notification-mapper';

interface Notification {
  method: string;
  params: unknown;
}
interface Fixture {
  description: string;
  threadId: string;
  notifications: Notification[];
}

const fixture = (name: string): Fixture => JSON.parse(readFileSync(join(__dirname, '__fixtures__', `${name}.json`), 'utf8')) as Fixture;

const CWD = '/workspace/305/app';
const TOOLS = ['Bash', 'Edit', 'Write', 'TodoWrite', 'WebSearch'];

function options(threadId: string, overrides: Partial<NotificationMapperOptions> = {}): NotificationMapperOptions {
  return {
    taskId: 305,
    subtaskId: 812,
    attempt: 1,
    threadId,
    model: 'gpt-5.5',
    cwd: CWD,
    permissionMode: 'danger-full-access',
    tools: TOOLS,
    mcpServers: [],
    mask: (value) => value,
    ...overrides,
  };
}

/** Feed notifications in order; keep which notification produced which events. */
function feed(mapper: NotificationMapper, notifications: Notification[]) {
  const produced = notifications.map((n) => ({ method: n.method, events: mapper.handle(n.method, n.params) }));
  return { produced, events: produced.flatMap((p) => p.events) };
}

function run(name: string, overrides: Partial<NotificationMapperOptions> = {}) {
  const f = fixture(name);
  const mapper = new NotificationMapper(options(f.threadId, overrides));
  return { mapper, threadId: f.threadId, ...feed(mapper, f.notifications) };
}

// ---- expected-event builders (the shapes of docs/protocol/wegent-protocol.md §6.3/6.4) ----

const envelope = { task_id: 305, subtask_id: 812, attempt: 1 };
const step = (title: string, details: Record<string, unknown>, report = true) => ({
  ...envelope,
  type: 'thinking-step',
  step: { title, next_action: 'continue', details },
  report,
});
const assistant = (...content: unknown[]) =>
  step(StepTitle.assistant, {
    type: 'assistant',
    message: { id: '', type: 'message', role: 'assistant', model: 'gpt-5.5', content, parent_tool_use_id: null },
  });
const user = (...content: unknown[]) =>
  step(StepTitle.user, { type: 'user', message: { type: 'message', role: 'user', content, parent_tool_use_id: null } });
const system = (sessionId: string, extra: Record<string, unknown> = {}) =>
  step(StepTitle.system, {
    type: 'system',
    subtype: 'init',
    session_id: sessionId,
    cwd: CWD,
    model: 'gpt-5.5',
    tools: TOOLS,
    mcp_servers: [],
    permissionMode: 'danger-full-access',
    ...extra,
  });
const text = (value: string) => ({ type: 'text', text: value });
const thinking = (value: string) => ({ type: 'unknown', block_type: 'ThinkingBlock', block_data: { thinking: value, signature: '' } });
const toolUse = (id: string, name: string, input: Record<string, unknown>) => ({ type: 'tool_use', id, name, input });
const toolResult = (id: string, content: string, isError = false) => ({ type: 'tool_result', tool_use_id: id, content, is_error: isError });
const chunk = (itemId: string, value: string) => ({ ...envelope, type: 'chunk', item_id: itemId, text: value });
const usage = (input: number, output: number, cacheRead: number, cacheCreation: number, reasoning: number) => ({
  input_tokens: input,
  output_tokens: output,
  cache_read_input_tokens: cacheRead,
  cache_creation_input_tokens: cacheCreation,
  reasoning_output_tokens: reasoning,
});
const resultStep =
  (title: string, subtype: string, isError: boolean) =>
  (sessionId: string, fields: { num_turns: number; duration_ms: number | null; usage: unknown; result: string | null }) =>
    step(
      title,
      {
        type: 'result',
        subtype,
        is_error: isError,
        session_id: sessionId,
        num_turns: fields.num_turns,
        duration_ms: fields.duration_ms,
        duration_api_ms: fields.duration_ms,
        total_cost_usd: null,
        usage: fields.usage,
        result: fields.result,
      },
      false,
    );
const success = resultStep(StepTitle.success, 'success', false);
const failure = resultStep(StepTitle.failed, 'error_during_execution', true);
const done = (value?: string, tokens?: Record<string, number>) => ({
  ...envelope,
  type: 'done',
  ...(value === undefined ? {} : { value }),
  ...(tokens ? { usage: tokens } : {}),
});
const reasoning = (itemId: string, value: string) => ({ ...envelope, type: 'reasoning', item_id: itemId, text: value });
const retract = (itemId: string) => ({ ...envelope, type: 'retract', item_id: itemId });
/** 2026 usage: this subtask's tokens (OpenAI meaning) and, from Codex, the window and its fill. */
const tokens = (input: number, output: number, cached: number, reasoningTokens: number) => ({
  input_tokens: input,
  output_tokens: output,
  cached_input_tokens: cached,
  reasoning_output_tokens: reasoningTokens,
  total_tokens: input + output,
});
const usageEvent = (counts: Record<string, number>, contextTokens: number) => ({
  ...envelope,
  type: 'usage',
  usage: { ...counts, context_window: 258400, context_tokens: contextTokens },
});
/** Tests about other things ignore usage events (checked in the recorded happy path and retries). */
const withoutUsage = (events: NewTaskEvent[]) => events.filter((e) => e.type !== 'usage');
const agentError = (message: string) => ({ ...envelope, type: 'error', kind: 'agent', message, error: message });

// ---- small hand-made notifications for edge cases ----

const T = '01a2132e-0000-7000-8000-000000000001';
const TURN = '01a2132e-0001-7000-8000-000000000001';
const at = { threadId: T, turnId: TURN };
const n = {
  turnStarted: (turnId = TURN): Notification => ({
    method: 'turn/started',
    params: { threadId: T, turn: { id: turnId, status: 'inProgress', error: null } },
  }),
  started: (item: Record<string, unknown>, turnId = TURN): Notification => ({
    method: 'item/started',
    params: { threadId: T, turnId, item },
  }),
  completed: (item: Record<string, unknown>, turnId = TURN): Notification => ({
    method: 'item/completed',
    params: { threadId: T, turnId, item },
  }),
  delta: (itemId: string, delta: string, turnId = TURN): Notification => ({
    method: 'item/agentMessage/delta',
    params: { threadId: T, turnId, itemId, delta },
  }),
  error: (error: Record<string, unknown>, willRetry: boolean): Notification => ({ method: 'error', params: { ...at, error, willRetry } }),
  turnCompleted: (turn: Record<string, unknown>): Notification => ({
    method: 'turn/completed',
    params: { threadId: T, turn: { id: TURN, items: [], error: null, durationMs: 50, ...turn } },
  }),
};
const agentMessage = (id: string, value: string, phase: string | null = null) => ({ type: 'agentMessage', id, text: value, phase });
const command = (id: string, extra: Record<string, unknown> = {}) => ({
  type: 'commandExecution',
  id,
  command: "/bin/bash -lc 'npm test'",
  cwd: CWD,
  status: 'inProgress',
  aggregatedOutput: null,
  exitCode: null,
  ...extra,
});

function mapperFor(overrides: Partial<NotificationMapperOptions> = {}) {
  return new NotificationMapper(options(T, overrides));
}

describe('NotificationMapper', () => {
  describe('recorded turns', () => {
    it('maps a resumed happy-path turn: reasoning, commentary, plan, commands, patch, final answer, usage delta', () => {
      const { mapper, events, threadId } = run('turn-happy-resumed');
      const answer = 'Added notes.txt and updated the README.';
      expect(events).toEqual([
        system(threadId),
        reasoning('rs_1_0', '**Planning**\n\nLook at the files first.'),
        assistant(thinking('**Planning**\n\nLook at the files first.')),
        chunk('msg_1_1', 'Checking '),
        chunk('msg_1_1', 'the '),
        chunk('msg_1_1', 'repo.'),
        assistant(text('Checking the repo.')),
        assistant(
          text('Small fix'),
          toolUse('plan-1', 'TodoWrite', {
            todos: [
              { content: 'Inspect files', status: 'in_progress', activeForm: 'Inspect files' },
              { content: 'Write notes', status: 'pending', activeForm: 'Write notes' },
            ],
          }),
        ),
        assistant(toolUse('call_1_3', 'Bash', { command: "printf 'a\\nb\\n' && ls" })),
        user(toolResult('call_1_3', 'a\nb\nREADME.md\n')),
        // 424 − 304 tokens so far: input 400−300, output 24−4, cached 240−200, reasoning 5.
        usageEvent(tokens(100, 20, 40, 5), 120),
        assistant(
          toolUse('call_2_0:0', 'Edit', { file_path: `${CWD}/README.md`, diff: '@@ -1 +1 @@\n-old line\n+new line\n' }),
          toolUse('call_2_0:1', 'Write', { file_path: `${CWD}/notes.txt`, content: 'hello world\n' }),
        ),
        user(
          toolResult('call_2_0:0', 'Success. Updated the following files:\nM README.md'),
          toolResult('call_2_0:1', 'Success. Updated the following files:\nA notes.txt'),
        ),
        assistant(toolUse('call_2_1', 'Bash', { command: 'cat missing.txt' })),
        user(toolResult('call_2_1', 'cat: missing.txt: No such file or directory\n', true)),
        assistant(
          toolUse('plan-2', 'TodoWrite', {
            todos: [
              { content: 'Inspect files', status: 'completed', activeForm: 'Inspect files' },
              { content: 'Write notes', status: 'completed', activeForm: 'Write notes' },
            ],
          }),
        ),
        usageEvent(tokens(250, 50, 140, 5), 180),
        chunk('msg_3_0', 'Added '),
        chunk('msg_3_0', 'notes.txt '),
        chunk('msg_3_0', 'and '),
        chunk('msg_3_0', 'updated '),
        chunk('msg_3_0', 'the '),
        chunk('msg_3_0', 'README.'),
        assistant(text(answer)),
        usageEvent(tokens(450, 62, 290, 5), 212),
        // Thread total 816 tokens minus the 304 re-announced by thread/resume; three model requests.
        success(threadId, { num_turns: 3, duration_ms: 530, usage: usage(450, 62, 290, 0, 5), result: answer }),
        done(answer, tokens(450, 62, 290, 5)),
      ]);
      expect(mapper.finished).toBe(true);
      expect(mapper.outcome).toBe('completed');
      expect(mapper.turnId).toBe('01a21329-6e31-7793-a06e-b032b02df2be');
      expect(mapper.streamedText()).toBe(`Checking the repo.\n\n${answer}`);
      expect(mapper.finalAnswer()).toBe(answer);
    });

    it('produces events that satisfy the contracts schema once stamped', () => {
      const { events } = run('turn-happy-resumed');
      for (const [i, event] of events.entries()) {
        expect(taskEventSchema.safeParse({ ...event, seq: i + 1, timestamp: '2026-11-25T14:43:09.000Z' }).success).toBe(true);
      }
    });

    it('takes a late re-announced total of an earlier turn as the baseline too', () => {
      const f = fixture('turn-happy-resumed');
      const baselineAt = f.notifications.findIndex((x) => x.method === 'thread/tokenUsage/updated');
      const turnStartedAt = f.notifications.findIndex((x) => x.method === 'turn/started');
      const reordered = [...f.notifications];
      const [baseline] = reordered.splice(baselineAt, 1);
      reordered.splice(turnStartedAt, 0, baseline!);
      expect(reordered[turnStartedAt - 1]?.method).toBe('turn/started');
      const { events } = feed(new NotificationMapper(options(f.threadId)), reordered);
      const result = events.find((e) => e.type === 'thinking-step' && e.step.title === StepTitle.success);
      expect(result?.type === 'thinking-step' && result.step.details).toMatchObject({ num_turns: 3, usage: usage(450, 62, 290, 0, 5) });
    });

    it('counts the whole thread total when no baseline was announced (new thread)', () => {
      const f = fixture('turn-happy-resumed');
      const withoutBaseline = f.notifications.filter((x, i) => !(x.method === 'thread/tokenUsage/updated' && i < 3));
      const { events } = feed(new NotificationMapper(options(f.threadId)), withoutBaseline);
      const result = events.find((e) => e.type === 'thinking-step' && e.step.title === StepTitle.success);
      expect(result?.type === 'thinking-step' && result.step.details?.usage).toEqual(usage(750, 66, 490, 0, 5));
    });

    it('says so in the system step when the follow-up could not resume its thread', () => {
      const { events, threadId } = run('turn-happy-resumed', { resumedFresh: true });
      expect(events[0]).toEqual(system(threadId, { resume_note: RESUME_NOTE }));
    });

    it('fails the turn with the inner message of a JSON error body', () => {
      const { mapper, events, threadId } = run('turn-failed-json-body');
      expect(events).toEqual([
        system(threadId),
        failure(threadId, { num_turns: 0, duration_ms: 98, usage: usage(0, 0, 0, 0, 0), result: 'Invalid value for input' }),
        agentError('Invalid value for input'),
      ]);
      expect(mapper.finished).toBe(true);
      expect(mapper.outcome).toBe('failed');
    });

    it('reports a reconnect as api_error_retry and retracts the partial text the retry does not regenerate', () => {
      const { mapper, events, threadId } = run('turn-retry-then-success');
      expect(events).toEqual([
        system(threadId),
        // The half-streamed message of the failed attempt never completes; its text was already sent.
        chunk('msg_x_0', 'Partial '),
        step(StepTitle.apiErrorRetry, {
          retry_count: 1,
          max_retries: 2,
          session_id: threadId,
          error: 'stream disconnected before completion: The model crashed',
        }),
        // The retry's message disagrees with "Partial ": that text leaves the answer.
        retract('msg_x_0'),
        chunk('msg_x_1', 'Recovered '),
        chunk('msg_x_1', 'answer.'),
        assistant(text('Recovered answer.')),
        usageEvent(tokens(80, 6, 0, 0), 86),
        success(threadId, { num_turns: 1, duration_ms: 302, usage: usage(80, 6, 0, 0, 0), result: 'Recovered answer.' }),
        done('Recovered answer.', tokens(80, 6, 0, 0)),
      ]);
      expect(mapper.streamedText()).toBe('Recovered answer.');
    });

    it('a stream dropped twice: each regenerated message and summary goes on where it stopped, nothing twice (recorded)', () => {
      const { mapper, events, threadId } = run('turn-stream-dropped-twice');
      const retry = (n: number) =>
        step(StepTitle.apiErrorRetry, {
          retry_count: n,
          max_retries: 2,
          session_id: threadId,
          error: 'stream disconnected before completion: stream closed before response.completed',
        });
      // Every attempt's completed items still show in the timeline (they happened); the streamed text does not repeat.
      const attempt = (answer: string) => [
        assistant(thinking('Plan the answer.')),
        assistant(text('Checking the files.')),
        assistant(text(answer)),
      ];
      expect(events).toEqual([
        system(threadId),
        reasoning('rs_1_0', 'Plan '),
        reasoning('rs_1_0', 'the '),
        reasoning('rs_1_0', 'answer.'),
        assistant(thinking('Plan the answer.')),
        chunk('msg_1_1', 'Checking '),
        chunk('msg_1_1', 'the '),
        chunk('msg_1_1', 'files.'),
        assistant(text('Checking the files.')),
        chunk('msg_1_2', 'Partial '),
        chunk('msg_1_2', 'answ'),
        assistant(text('Partial answ')),
        retry(1),
        ...attempt('Partial answ'),
        retry(2),
        ...attempt('Partial answer, done.').slice(0, 2),
        // The third attempt passes what was sent: only the rest, under the first attempt's ids.
        chunk('msg_1_2', 'er, '),
        chunk('msg_1_2', 'done.'),
        assistant(text('Partial answer, done.')),
        usageEvent(tokens(100, 10, 0, 0), 110),
        success(threadId, {
          num_turns: 1,
          duration_ms: expect.any(Number) as unknown as number,
          usage: usage(100, 10, 0, 0, 0),
          result: 'Partial answer, done.',
        }),
        done('Partial answer, done.', tokens(100, 10, 0, 0)),
      ]);
      expect(mapper.streamedText()).toBe('Checking the files.\n\nPartial answer, done.');
    });

    it('does not stream a cut-off partial twice when the retry regenerates it under a new item id', () => {
      const mapper = mapperFor();
      const retry = n.error({ message: 'Reconnecting... 1/5', additionalDetails: 'stream disconnected' }, true);
      const events = feed(mapper, [
        n.turnStarted(),
        n.started(agentMessage('a', '')),
        n.delta('a', 'Partial'),
        retry,
        n.started(agentMessage('b', '')),
        n.delta('b', 'Part'),
        n.delta('b', 'ial'),
        retry,
        n.started(agentMessage('c', '')),
        n.delta('c', 'Partial'),
        n.delta('c', ' answer'),
        n.completed(agentMessage('c', 'Partial answer', 'final_answer')),
      ]).events.filter((e) => e.type === 'chunk' || e.type === 'retract');
      // The issue-9 run sent "Partial\n\nPartial…" six times; now the text goes on where it stopped.
      expect(events).toEqual([chunk('a', 'Partial'), chunk('a', ' answer')]);
      expect(mapper.streamedText()).toBe('Partial answer');
    });

    it('retracts a cut-off partial when the retry produces no message at all before the turn ends', () => {
      const mapper = mapperFor();
      const events = feed(mapper, [
        n.turnStarted(),
        n.delta('a', 'Half an ans'),
        n.error({ message: 'Reconnecting... 1/5' }, true),
        n.error({ message: 'stream disconnected: gave up' }, false),
        n.turnCompleted({ status: 'failed', error: { message: 'stream disconnected: gave up' } }),
      ]).events.filter((e) => e.type === 'chunk' || e.type === 'retract' || e.type === 'error');
      expect(events).toEqual([chunk('a', 'Half an ans'), retract('a'), agentError('stream disconnected: gave up')]);
    });

    it('ignores items that a retried stream re-emits with the same ids', () => {
      const { events, threadId } = run('turn-stream-retry-duplicates');
      expect(events).toEqual([
        system(threadId),
        reasoning('rs_d_0', 'Check the tests.'),
        assistant(thinking('Check the tests.')),
        chunk('msg_d_1', 'Running '),
        chunk('msg_d_1', 'the '),
        chunk('msg_d_1', 'tests.'),
        assistant(text('Running the tests.')),
        step(StepTitle.apiErrorRetry, {
          retry_count: 1,
          max_retries: 2,
          session_id: threadId,
          error: 'stream disconnected before completion: The model crashed',
        }),
        chunk('msg_d_2', 'All '),
        chunk('msg_d_2', 'tests '),
        chunk('msg_d_2', 'pass.'),
        assistant(text('All tests pass.')),
        usageEvent(tokens(70, 9, 0, 2), 79),
        success(threadId, { num_turns: 1, duration_ms: 405, usage: usage(70, 9, 0, 0, 2), result: 'All tests pass.' }),
        done('All tests pass.', tokens(70, 9, 0, 2)),
      ]);
    });

    it('emits nothing for an interrupted turn and nothing afterwards', () => {
      const { mapper, events, threadId } = run('turn-interrupted');
      expect(events).toEqual([system(threadId), chunk('msg_i_0', 'Working ')]);
      expect(mapper.outcome).toBe('interrupted');
      expect(mapper.finished).toBe(false);
      expect(mapper.handle('item/completed', { threadId, item: agentMessage('late', 'late text', 'final_answer') })).toEqual([]);
    });

    describe('MCP servers and tool calls', () => {
      const unsupportedMcpServers = [{ name: 'legacy-sse', reason: 'SSE transport is not supported' }];
      const mcpEvents = (threadId: string) => [
        assistant(toolUse('call_m_0', 'mcp__echo__echo', { text: 'hi' })),
        user(toolResult('call_m_0', 'echo: hi\n{"type":"image","data":"iVBORw0KGgo=","mimeType":"image/png"}')),
        assistant(toolUse('call_m_1', 'mcp__echo__boom', {})),
        user(
          toolResult(
            'call_m_1',
            'tool call error: tool call failed for `echo/boom`\n\nCaused by:\n    Mcp error: -32000: echo server exploded',
            true,
          ),
        ),
        chunk('msg_m_2', 'Echoed.'),
        assistant(text('Echoed.')),
        success(threadId, { num_turns: 4, duration_ms: 337, usage: usage(510, 33, 350, 0, 0), result: 'Echoed.' }),
        done('Echoed.', tokens(510, 33, 350, 0)),
      ];

      it('waits for every configured server to settle, then lists them (unsupported ones as failed)', () => {
        const { produced, events, threadId } = run('turn-mcp', { mcpServers: ['echo', 'broken'], unsupportedMcpServers });
        const servers = [
          { name: 'echo', status: 'connected' },
          { name: 'broken', status: 'failed' },
          { name: 'legacy-sse', status: 'failed' },
        ];
        expect(withoutUsage(events)).toEqual([system(threadId, { mcp_servers: servers }), ...mcpEvents(threadId)]);
        // echo became ready after turn/started: that notification releases the step.
        expect(produced.find((p) => p.events.length > 0)?.method).toBe('mcpServer/startupStatus/updated');
      });

      it('does not wait for a server that never settles: the first model item releases the step', () => {
        const { produced, events, threadId } = run('turn-mcp', { mcpServers: ['echo', 'broken', 'slow'], unsupportedMcpServers });
        const servers = [
          { name: 'echo', status: 'connected' },
          { name: 'broken', status: 'failed' },
          { name: 'slow', status: 'pending' },
          { name: 'legacy-sse', status: 'failed' },
        ];
        expect(withoutUsage(events)).toEqual([system(threadId, { mcp_servers: servers }), ...mcpEvents(threadId)]);
        expect(produced.find((p) => p.events.some((e) => e.type === 'thinking-step'))?.method).toBe('item/started');
      });

      it('emits at turn/started when every server settled before it, listing unconfigured ones Codex reported', () => {
        const mapper = mapperFor({ mcpServers: ['github'] });
        const status = (name: string, value: string) =>
          mapper.handle('mcpServer/startupStatus/updated', { threadId: T, name, status: value, error: null, failureReason: null });
        expect([status('github', 'starting'), status('codex_apps', 'starting'), status('github', 'ready')].flat()).toEqual([]);
        expect(mapper.handle(n.turnStarted().method, n.turnStarted().params)).toEqual([
          system(T, {
            mcp_servers: [
              { name: 'github', status: 'connected' },
              { name: 'codex_apps', status: 'pending' },
            ],
          }),
        ]);
      });

      it('maps startup states: ready → connected, failed/cancelled → failed, starting → pending', () => {
        const mapper = mapperFor({ mcpServers: ['a', 'b', 'c', 'd'] });
        const status = (name: string, value: string) =>
          mapper.handle('mcpServer/startupStatus/updated', { threadId: null, name, status: value, error: null });
        expect([status('a', 'ready'), status('b', 'failed'), status('c', 'cancelled'), status('d', 'starting')].flat()).toEqual([]);
        const [init] = [
          ...mapper.handle(n.turnStarted().method, n.turnStarted().params),
          ...mapper.handle('item/started', { ...at, item: { type: 'reasoning', id: 'r' } }),
        ];
        expect(init).toEqual(
          system(T, {
            mcp_servers: [
              { name: 'a', status: 'connected' },
              { name: 'b', status: 'failed' },
              { name: 'c', status: 'failed' },
              { name: 'd', status: 'pending' },
            ],
          }),
        );
        // Emitted once: later status changes do not repeat it.
        expect(status('d', 'ready')).toEqual([]);
      });
    });

    it('ignores sub-agent threads and stale turns of its own thread', () => {
      const { events, threadId } = run('turn-subagent-noise');
      const child = '01a2132b-2b3c-7d4e-9f50-6a7b8c9d0e1f';
      expect(withoutUsage(events)).toEqual([
        system(threadId),
        assistant(toolUse('call_spawn_1', 'Task', { tool: 'spawnAgent', prompt: 'Count the TODO comments in src/' })),
        user(toolResult('call_spawn_1', JSON.stringify({ [child]: { status: 'pendingInit', message: null } }))),
        assistant(toolUse('call_wait_2', 'Task', { tool: 'wait', prompt: '' })),
        user(toolResult('call_wait_2', JSON.stringify({ [child]: { status: 'completed', message: 'There are 3 TODOs.' } }))),
        chunk('msg_p_3', 'The helper found '),
        chunk('msg_p_3', '3 TODOs.'),
        assistant(text('The helper found 3 TODOs.')),
        success(threadId, { num_turns: 3, duration_ms: 2480, usage: usage(360, 40, 200, 0, 0), result: 'The helper found 3 TODOs.' }),
        done('The helper found 3 TODOs.', tokens(360, 40, 200, 0)),
      ]);
    });

    it('maps the rarer item types and ignores unknown ones', () => {
      const { events, threadId } = run('turn-other-items');
      expect(withoutUsage(events)).toEqual([
        system(threadId),
        assistant(toolUse('ws_1', 'WebSearch', { query: 'codex app-server protocol' })),
        user(
          toolResult(
            'ws_1',
            JSON.stringify({ type: 'search', query: 'codex app-server protocol', queries: ['codex app-server protocol'] }),
          ),
        ),
        assistant(toolUse('call_img_2', 'Read', { file_path: `${CWD}/docs/screenshot.png` })),
        assistant(
          toolUse('call_patch_3:0', 'Edit', { file_path: `${CWD}/old.txt`, deleted: true }),
          toolUse('call_patch_3:1', 'Edit', {
            file_path: `${CWD}/src/a.ts`,
            diff: '@@ -1 +1 @@\n-export const a = 1;\n+export const b = 1;\n',
            move_path: `${CWD}/src/b.ts`,
          }),
        ),
        user(
          toolResult('call_patch_3:0', 'Success. Updated the following files:\nD old.txt'),
          toolResult('call_patch_3:1', 'Success. Updated the following files:\nM src/b.ts'),
        ),
        // Completed without a start: the tool_use comes first so the result has its call.
        assistant(toolUse('call_patch_4:0', 'Edit', { file_path: '/etc/hosts', diff: '@@ -1 +1 @@\n-a\n+b\n' })),
        user(toolResult('call_patch_4:0', 'The patch was not applied (declined):\nM /etc/hosts', true)),
        // A command substitution cannot be unwrapped exactly: the full string stays.
        assistant(toolUse('call_cmd_5', 'Bash', { command: '/bin/bash -lc "echo \\"$(whoami)\\""' })),
        user(toolResult('call_cmd_5', '', true)),
        assistant(toolUse('call_mcp_6', 'mcp__docs__lookup', { arguments: 'raw-argument' })),
        user(toolResult('call_mcp_6', '{"code":42,"reason":"not found"}', true)),
        step(StepTitle.system, { type: 'system', subtype: 'compact_boundary' }),
        success(threadId, { num_turns: 1, duration_ms: 640, usage: usage(40, 10, 0, 0, 0), result: null }),
        done(undefined, tokens(40, 10, 0, 0)),
      ]);
    });
  });

  describe('masking', () => {
    const SECRET = 'sk-proj-S3CR3Tvalue_abc123XYZ';
    const maskSecret = (value: unknown): unknown => JSON.parse(JSON.stringify(value).split(SECRET).join('[MASKED]'));

    it('runs every details object through the mask, so the secret appears in no event', () => {
      const mask = jest.fn(maskSecret);
      const { events } = run('turn-secrets', { mask });
      const steps = events.filter((e) => e.type === 'thinking-step');
      const reasoningEvents = events.filter((e) => e.type === 'reasoning');
      expect(JSON.stringify(events)).not.toContain(SECRET);
      expect(reasoningEvents).toHaveLength(1);
      expect(mask).toHaveBeenCalledTimes(steps.length + reasoningEvents.length);
      expect(steps.length).toBeGreaterThanOrEqual(10);
      expect(JSON.stringify(steps).split('[MASKED]').length - 1).toBe(12);
    });

    it('would leak without the mask (the fixture really carries the secret)', () => {
      const { events } = run('turn-secrets');
      expect(JSON.stringify(events)).toContain(SECRET);
    });

    it('masks the system step too', () => {
      const { events } = run('turn-secrets', { cwd: `/workspace/${SECRET}`, mask: maskSecret });
      expect(JSON.stringify(events)).not.toContain(SECRET);
    });
  });

  describe('answer text and de-duplication', () => {
    const start = (mapper: NotificationMapper, list: Notification[]) => feed(mapper, [n.turnStarted(), ...list]).events.slice(1);

    it('sends the text of a message whose deltas never arrived, once, at completion', () => {
      const events = start(mapperFor(), [
        n.started(agentMessage('m1', '')),
        n.completed(agentMessage('m1', 'Whole text.', 'final_answer')),
      ]);
      expect(events).toEqual([chunk('m1', 'Whole text.'), assistant(text('Whole text.'))]);
    });

    it('sends only the missing tail when some deltas were lost', () => {
      const events = start(mapperFor(), [n.delta('m1', 'Whole '), n.completed(agentMessage('m1', 'Whole text.'))]);
      expect(events).toEqual([chunk('m1', 'Whole '), chunk('m1', 'text.'), assistant(text('Whole text.'))]);
    });

    it('does not resend text when the same in-progress message is restreamed', () => {
      const mapper = mapperFor();
      const events = start(mapper, [
        n.started(agentMessage('m1', '')),
        n.delta('m1', 'Hel'),
        n.started(agentMessage('m1', '')),
        n.delta('m1', 'He'),
        n.delta('m1', 'llo'),
        n.delta('m1', ' world'),
        n.completed(agentMessage('m1', 'Hello world')),
      ]);
      expect(events).toEqual([chunk('m1', 'Hel'), chunk('m1', 'lo'), chunk('m1', ' world'), assistant(text('Hello world'))]);
      expect(mapper.streamedText()).toBe('Hello world');
    });

    it('retracts the text of an item whose restream disagrees with what was sent, then streams the new text', () => {
      const mapper = mapperFor();
      const events = start(mapper, [
        n.delta('m1', 'Yes'),
        n.started(agentMessage('m1', '')),
        n.delta('m1', 'No, '),
        n.delta('m1', 'sorry'),
        n.completed(agentMessage('m1', 'No, sorry')),
      ]);
      expect(events).toEqual([chunk('m1', 'Yes'), retract('m1'), chunk('m1', 'No, '), chunk('m1', 'sorry'), assistant(text('No, sorry'))]);
      expect(mapper.finalAnswer()).toBe('No, sorry');
      expect(mapper.streamedText()).toBe('No, sorry');
    });

    it('streams reasoning summaries as reasoning events, a new summary part as a new paragraph, the missing tail at completion', () => {
      const rdelta = (delta: string, summaryIndex: number): Notification => ({
        method: 'item/reasoning/summaryTextDelta',
        params: { ...at, itemId: 'r1', delta, summaryIndex },
      });
      const events = start(mapperFor(), [
        n.started({ type: 'reasoning', id: 'r1', summary: [], content: [] }),
        rdelta('Read ', 0),
        rdelta('the code.', 0),
        rdelta('Then test.', 1),
        n.completed({ type: 'reasoning', id: 'r1', summary: ['Read the code.', 'Then test it.'], content: [] }),
      ]);
      expect(events).toEqual([
        reasoning('r1', 'Read '),
        reasoning('r1', 'the code.'),
        reasoning('r1', '\n\nThen test.'),
        assistant(thinking('Read the code.\nThen test it.')),
      ]);
    });

    it('ignores re-emitted tool items and deltas of completed messages', () => {
      const events = start(mapperFor(), [
        n.started(command('c1')),
        n.completed(command('c1', { status: 'completed', aggregatedOutput: 'ok\n', exitCode: 0 })),
        n.started(command('c1')),
        n.completed(command('c1', { status: 'completed', aggregatedOutput: 'ok\n', exitCode: 0 })),
        n.completed(agentMessage('m1', 'Done.')),
        n.delta('m1', 'Done.'),
        n.completed(agentMessage('m1', 'Done.')),
      ]);
      expect(events).toEqual([
        assistant(toolUse('c1', 'Bash', { command: 'npm test' })),
        user(toolResult('c1', 'ok\n')),
        chunk('m1', 'Done.'),
        assistant(text('Done.')),
      ]);
    });

    it.each([
      ['the last final_answer', [agentMessage('a', 'one', 'final_answer'), agentMessage('b', 'two', 'commentary')], 'one'],
      ['else the last completed message', [agentMessage('a', 'one', 'commentary'), agentMessage('b', 'two', null)], 'two'],
    ])('picks %s as the final answer', (_, messages, expected) => {
      const mapper = mapperFor();
      const { events } = feed(mapper, [n.turnStarted(), ...messages.map((m) => n.completed(m)), n.turnCompleted({ status: 'completed' })]);
      expect(events.at(-1)).toEqual(done(expected));
    });

    it('falls back to the summary items of turn/completed when no message completed', () => {
      const { events } = feed(mapperFor(), [
        n.turnStarted(),
        n.turnCompleted({ status: 'completed', items: [agentMessage('z', 'From summary', 'final_answer')] }),
      ]);
      expect(events.at(-1)).toEqual(done('From summary'));
    });

    it('skips an identical plan update', () => {
      const plan: Notification = {
        method: 'turn/plan/updated',
        params: { ...at, explanation: null, plan: [{ step: 'A', status: 'pending' }] },
      };
      const events = start(mapperFor(), [plan, plan]);
      expect(events).toEqual([
        assistant(toolUse('plan-1', 'TodoWrite', { todos: [{ content: 'A', status: 'pending', activeForm: 'A' }] })),
      ]);
    });
  });

  describe('turn identity and the terminal event', () => {
    it('takes the turn id from turn/started and ignores other turns, including their turn/completed', () => {
      const mapper = mapperFor();
      const { events } = feed(mapper, [
        n.turnStarted('turn-b'),
        n.delta('m-old', 'stale', 'turn-a'),
        n.completed(agentMessage('m-old', 'stale', 'final_answer'), 'turn-a'),
        { method: 'turn/completed', params: { threadId: T, turn: { id: 'turn-a', status: 'completed', items: [], error: null } } },
        n.completed(agentMessage('m-new', 'fresh', 'final_answer'), 'turn-b'),
        {
          method: 'turn/completed',
          params: { threadId: T, turn: { id: 'turn-b', status: 'completed', items: [], error: null, durationMs: 9 } },
        },
      ]);
      expect(mapper.turnId).toBe('turn-b');
      expect(events.filter((e) => e.type !== 'thinking-step')).toEqual([chunk('m-new', 'fresh'), done('fresh')]);
    });

    it('emits nothing once terminal', () => {
      const mapper = mapperFor();
      feed(mapper, [n.turnStarted(), n.turnCompleted({ status: 'completed' })]);
      expect(mapper.finished).toBe(true);
      const after = feed(mapper, [
        n.delta('m', 'more'),
        n.completed(agentMessage('m', 'more')),
        n.turnCompleted({ status: 'failed' }),
        n.turnStarted('next'),
      ]);
      expect(after.events).toEqual([]);
    });

    it('emits the system step before the terminal even when nothing else happened', () => {
      const { events } = feed(mapperFor({ mcpServers: ['never'] }), [n.turnStarted(), n.turnCompleted({ status: 'completed' })]);
      expect(events.map((e) => (e.type === 'thinking-step' ? e.step.title : e.type))).toEqual([
        StepTitle.system,
        StepTitle.success,
        'done',
      ]);
    });

    it('ignores a turn/completed with an unknown status', () => {
      const mapper = mapperFor();
      expect(feed(mapper, [n.turnStarted(), n.turnCompleted({ status: 'paused' })]).events).toHaveLength(1);
      expect(mapper.outcome).toBeUndefined();
    });

    it.each([
      [
        'message joined with additionalDetails',
        { message: 'unexpected status 401 Unauthorized', additionalDetails: 'Incorrect API key provided' },
        [],
        'unexpected status 401 Unauthorized\nIncorrect API key provided',
      ],
      [
        'a JSON body in additionalDetails',
        { message: 'Request failed', additionalDetails: '{"error":{"message":"quota exceeded"}}' },
        [],
        'Request failed\nquota exceeded',
      ],
      ['a JSON body without an inner message, as is', { message: '{"detail":"nope"}', additionalDetails: null }, [], '{"detail":"nope"}'],
      [
        'the last fatal error notification when the turn has none',
        null,
        [n.error({ message: 'Missing environment variable: `WEGENT_CODEX_API_KEY`.', additionalDetails: null }, false)],
        'Missing environment variable: `WEGENT_CODEX_API_KEY`.',
      ],
      ['a generic text when nobody said anything', null, [], 'The Codex turn failed without an error message.'],
      ['a generic text when turn.error has an unexpected shape', 'boom', [], 'The Codex turn failed without an error message.'],
    ])('builds the failure text from %s', (_, error, before, expected) => {
      const { events } = feed(mapperFor(), [n.turnStarted(), ...before, n.turnCompleted({ status: 'failed', error })]);
      expect(events.at(-1)).toEqual(agentError(expected));
      const result = events.at(-2);
      expect(result?.type === 'thinking-step' && result.step.details?.result).toBe(expected);
    });

    it('numbers retries itself when the notice is not "Reconnecting... n/m"', () => {
      const { events } = feed(mapperFor(), [
        n.turnStarted(),
        n.error({ message: 'Retrying after a network error at 12/31', additionalDetails: null }, true),
        n.error({ message: 'Retrying again', additionalDetails: null }, true),
      ]);
      expect(events.slice(1)).toEqual([
        step(StepTitle.apiErrorRetry, {
          retry_count: 1,
          max_retries: null,
          session_id: T,
          error: 'Retrying after a network error at 12/31',
        }),
        step(StepTitle.apiErrorRetry, { retry_count: 2, max_retries: null, session_id: T, error: 'Retrying again' }),
      ]);
    });
  });

  describe('tool output', () => {
    it('caps command output at maxToolOutputBytes on a UTF-8 boundary', () => {
      const output = 'ééééé'; // 10 bytes
      const { events } = feed(mapperFor({ maxToolOutputBytes: 5 }), [
        n.turnStarted(),
        n.completed(command('c1', { status: 'completed', aggregatedOutput: output, exitCode: 0 })),
      ]);
      expect(events.at(-1)).toEqual(user(toolResult('c1', 'éé\n… [6 more bytes not shown]')));
    });

    it.each([
      ['completed, exit 0', { status: 'completed', exitCode: 0 }, false],
      ['completed, exit unknown', { status: 'completed', exitCode: null }, false],
      ['completed, exit 2', { status: 'completed', exitCode: 2 }, true],
      ['failed', { status: 'failed', exitCode: 1 }, true],
      ['declined', { status: 'declined', exitCode: null }, true],
    ])('marks a command %s with is_error=%s', (_, fields, isError) => {
      const { events } = feed(mapperFor(), [n.turnStarted(), n.completed(command('c1', { aggregatedOutput: 'x', ...fields }))]);
      expect(events.at(-1)).toEqual(user(toolResult('c1', 'x', isError)));
    });

    it('capUtf8 leaves short text alone', () => {
      expect(capUtf8('short', 64)).toBe('short');
    });
  });

  describe('unwrapShellCommand', () => {
    it.each([
      ["/bin/bash -lc 'ls -la'", 'ls -la'],
      [`/bin/bash -lc "printf 'a\\\\nb\\\\n' && ls"`, "printf 'a\\nb\\n' && ls"],
      [`/bin/bash -lc 'echo '"'"'hi'"'"''`, "echo 'hi'"],
      [`/bin/bash -lc 'it'\\''s'`, "it's"],
      ['/bin/bash -lc ls', 'ls'],
      ["/usr/bin/zsh -lc 'git status'", 'git status'],
      ["bash -c 'make test'", 'make test'],
      ["/bin/bash -lc 'echo $HOME'", 'echo $HOME'],
      [`/bin/bash -lc "say \\"hi\\" \\$5"`, 'say "hi" $5'],
    ])('unwraps %s', (wrapped, inner) => {
      expect(unwrapShellCommand(wrapped)).toBe(inner);
    });

    it.each([
      ['/bin/bash -lc "echo $HOME"'],
      ['/bin/bash -lc "echo `date`"'],
      ["/bin/bash -lc 'a' 'b'"],
      ["/bin/bash -lc 'unterminated"],
      ['/bin/bash -lc *.ts'],
      ['python3 script.py'],
      ["/bin/fish -c 'ls'"],
    ])('keeps %s as is', (command) => {
      expect(unwrapShellCommand(command)).toBe(command);
    });
  });

  describe('describeError', () => {
    it('does not repeat details already in the message', () => {
      expect(describeError('stream disconnected: timeout', 'timeout')).toBe('stream disconnected: timeout');
    });

    it('reads nested details objects', () => {
      expect(describeError('Request failed', { message: 'upstream closed' })).toBe('Request failed\nupstream closed');
    });
  });

  describe('tolerance', () => {
    const methods = [
      'turn/started',
      'turn/completed',
      'item/started',
      'item/completed',
      'item/agentMessage/delta',
      'turn/plan/updated',
      'thread/tokenUsage/updated',
      'mcpServer/startupStatus/updated',
      'error',
      'thread/started',
      'warning',
      'some/future/method',
    ];

    it.each([
      ['unknown method', 'model/rerouted', { threadId: T, fromModel: 'a', toModel: 'b' }],
      ['unknown item type', 'item/completed', { ...at, item: { type: 'hologram', id: 'h1' } }],
      ['null params', 'item/completed', null],
      ['array params', 'turn/started', []],
      ['string params', 'error', 'oops'],
      ['item without id', 'item/started', { ...at, item: { type: 'commandExecution', command: 'ls' } }],
      ['item with wrong field types', 'item/completed', { ...at, item: { type: 'agentMessage', id: 'm', text: 42 } }],
      ['delta without text', 'item/agentMessage/delta', { ...at, itemId: 'm' }],
      ['plan that is not a list', 'turn/plan/updated', { ...at, plan: 'step one' }],
      ['usage without totals', 'thread/tokenUsage/updated', { ...at, tokenUsage: {} }],
      ['turn/completed without a turn', 'turn/completed', { threadId: T }],
    ])('ignores %s', (_, method, params) => {
      const mapper = mapperFor();
      mapper.handle(n.turnStarted().method, n.turnStarted().params);
      expect(mapper.handle(method, params)).toEqual([]);
    });

    it('never throws, whatever the params', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.constantFrom(...methods), fc.anything({ withNullPrototype: true, withBigInt: true }))),
          (calls) => {
            const mapper = mapperFor();
            mapper.handle(n.turnStarted().method, n.turnStarted().params);
            for (const [method, params] of calls) mapper.handle(method, params);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('never throws on items with arbitrary fields of known types', () => {
      const item = fc.record({
        type: fc.constantFrom(
          'agentMessage',
          'reasoning',
          'commandExecution',
          'fileChange',
          'mcpToolCall',
          'webSearch',
          'collabAgentToolCall',
          'imageView',
          'contextCompaction',
        ),
        id: fc.string(),
        text: fc.anything(),
        summary: fc.anything(),
        content: fc.anything(),
        command: fc.anything(),
        changes: fc.anything(),
        result: fc.anything(),
        error: fc.anything(),
        action: fc.anything(),
        results: fc.anything(),
        agentsStates: fc.anything(),
        arguments: fc.anything(),
      });
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.constantFrom('item/started', 'item/completed'), item)), (calls) => {
          const mapper = mapperFor();
          mapper.handle(n.turnStarted().method, n.turnStarted().params);
          for (const [method, value] of calls) mapper.handle(method, { ...at, item: value });
        }),
        { numRuns: 300 },
      );
    });

    it('emits at most one terminal event, always last, for any subsequence of a recorded turn', () => {
      const { threadId, notifications } = fixture('turn-happy-resumed');
      const failed = fixture('turn-failed-json-body').notifications.map((x) => withThread(x, threadId));
      fc.assert(
        fc.property(fc.shuffledSubarray([...notifications, ...failed]), (subset) => {
          const { events } = feed(new NotificationMapper(options(threadId)), subset);
          const terminals = events.filter((e) => isTerminalEvent(e));
          expect(terminals.length).toBeLessThanOrEqual(1);
          if (terminals.length === 1) expect(isTerminalEvent(events.at(-1) as NewTaskEvent)).toBe(true);
          const systems = events.filter((e) => e.type === 'thinking-step' && e.step.title === StepTitle.system);
          expect(systems.length).toBeLessThanOrEqual(1);
        }),
        { numRuns: 200 },
      );
    });
  });
});

/** Re-home a recorded notification on another thread (for mixing fixtures). */
function withThread(notification: Notification, threadId: string): Notification {
  return JSON.parse(JSON.stringify(notification).replace(/01a21329-083c-7d53-bae5-099fd62ed38e/g, threadId)) as Notification;
}
