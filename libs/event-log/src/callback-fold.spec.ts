import fc from 'fast-check';
import {
  callbackBodySchema,
  type CallbackBody,
  type FileChange,
  type GitSnapshot,
  type RunContext,
  type StoredEvent,
  type TaskCommit,
  type TaskEvent,
  type ThinkingStep,
  type Workbench,
} from '@wegent-codex/contracts';
import { CallbackFolder, foldCallbacks, isSupersededBy, type FoldOptions, type PlannedCallback } from './callback-fold';
import { assistantTextOf, commitListSummary, gitTypeOf } from './workbench-fold';

// ---------------------------------------------------------------------------------------------
// Fixtures: a task as in docs/protocol/wegent-protocol.md §2.9 and events built in log order.
// ---------------------------------------------------------------------------------------------

const TASK = 305;
const SUB = 812;
const OPTIONS: FoldOptions = { executorName: 'codex-svc-1' };

const CONTEXT: RunContext = {
  task_title: 'Fix login bug',
  subtask_title: 'Fix login bug - Assistant',
  task_type: 'online',
  git_repo: 'alice/app',
  git_domain: 'github.com',
  branch_name: 'main',
  prompt: 'Please fix the login bug',
};

type EventSpec = TaskEvent extends infer E
  ? E extends TaskEvent
    ? Omit<E, 'task_id' | 'subtask_id' | 'attempt' | 'seq' | 'timestamp'>
    : never
  : never;

/** Event n (1-based) is appended at 10:00:0n. */
const at = (seq: number): string => new Date(Date.UTC(2025, 11, 30, 10, 0, seq)).toISOString();

function log(...specs: EventSpec[]): StoredEvent[] {
  return specs.map((spec, index) => {
    const seq = index + 1;
    const event = { ...spec, task_id: TASK, subtask_id: SUB, attempt: 1, seq, timestamp: at(seq) } as TaskEvent;
    return { id: `${seq}-0`, event };
  });
}

const started = (context: RunContext = CONTEXT): EventSpec => ({ type: 'status', phase: 'started', context });
const prepared = (git?: GitSnapshot): EventSpec => ({ type: 'status', phase: 'prepared', ...(git && { git }) });
const agentStarted = (): EventSpec => ({ type: 'status', phase: 'agent-started' });
const refresh = (git: GitSnapshot): EventSpec => ({ type: 'status', phase: 'workbench', git });
const step = (s: ThinkingStep, report = true): EventSpec => ({ type: 'thinking-step', step: s, report });
const chunk = (item_id: string, text: string): EventSpec => ({ type: 'chunk', item_id, text });
const done = (value?: string): EventSpec => ({ type: 'done', ...(value !== undefined && { value }) });
const failure = (kind: 'agent' | 'stream' | 'exception' | 'pre-execute' | 'init', message: string, error?: string): EventSpec => ({
  type: 'error',
  kind,
  message,
  ...(error !== undefined && { error }),
});
const cancelled = (stage: 'queued' | 'running' = 'running'): EventSpec => ({ type: 'cancelled', stage });
const validation = (
  status: 'RUNNING' | 'COMPLETED' | 'FAILED',
  progress: number,
  message: string,
  result?: Record<string, unknown>,
): EventSpec => ({
  type: 'status',
  phase: 'validation',
  validation: { status, progress, message, ...(result && { result }) },
});

const INIT: ThinkingStep = { title: 'thinking.initialize_agent', next_action: 'continue' };
const ATTACHMENTS: ThinkingStep = { title: 'thinking.attachments_downloaded', next_action: 'continue', details: { count: 1 } };
const SYSTEM: ThinkingStep = {
  title: 'thinking.system_message_received',
  next_action: 'continue',
  details: {
    type: 'system',
    subtype: 'init',
    session_id: 'thr_1',
    cwd: '/workspace/305/app',
    model: 'gpt-5.5',
    tools: ['Bash', 'Edit', 'Write', 'TodoWrite', 'WebSearch'],
    mcp_servers: [],
    permissionMode: 'danger-full-access',
  },
};
const assistant = (...content: Record<string, unknown>[]): ThinkingStep => ({
  title: 'thinking.assistant_message_received',
  next_action: 'continue',
  details: {
    type: 'assistant',
    message: { id: '', type: 'message', role: 'assistant', model: 'gpt-5.5', content, parent_tool_use_id: null },
  },
});
const text = (value: string): Record<string, unknown> => ({ type: 'text', text: value });
const TOOL_USE = assistant({ type: 'tool_use', id: 'call_1', name: 'Bash', input: { command: 'ls -la' } });
const TOOL_RESULT: ThinkingStep = {
  title: 'thinking.user_message_received',
  next_action: 'continue',
  details: {
    type: 'user',
    message: {
      type: 'message',
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'a.ts', is_error: false }],
      parent_tool_use_id: null,
    },
  },
};
const resultStep = (subtype: 'success' | 'error_during_execution', result: string): ThinkingStep => ({
  title: subtype === 'success' ? 'thinking.task_execution_success' : 'thinking.task_execution_failed',
  next_action: 'continue',
  details: { type: 'result', subtype, is_error: subtype !== 'success', session_id: 'thr_1', num_turns: 2, result },
});
const PRE_FAILED: ThinkingStep = { title: 'Pre-execution Failed', next_action: 'continue', details: { error: 'clone failed' } };
const EXECUTION_FAILED: ThinkingStep = {
  title: 'thinking.execution_failed',
  next_action: 'continue',
  details: { execution_type: 'Codex Agent execution', error_message: 'spawn codex ENOENT' },
};
const RESPONSE_ERROR: ThinkingStep = { title: 'thinking.response_processing_error', next_action: 'continue' };

const fileChange = (path: string): FileChange => ({
  old_path: path,
  new_path: path,
  new_file: false,
  renamed_file: false,
  deleted_file: false,
  added_lines: 3,
  removed_lines: 1,
  diff_title: path.split('/').pop() ?? path,
});
const commit = (sha: string, message: string): TaskCommit => ({
  commit_id: sha,
  short_id: sha.slice(0, 8),
  message,
  author: 'alice',
  author_email: 'alice@example.com',
  committed_date: '2025-12-30T10:00:30',
  stats: { files_changed: 1, insertions: 3, deletions: 1 },
});
const git = (fileChanges: FileChange[] = [], commits: TaskCommit[] = [], targetBranch = ''): GitSnapshot => ({
  initial_commit_id: 'a'.repeat(40),
  initial_commit_message: 'Initial commit',
  source_branch: 'main',
  target_branch: targetBranch,
  file_changes: fileChanges,
  task_commits: commits,
});

// Expected values, written out literally.

const HEAD = {
  task_id: 305,
  subtask_id: 812,
  task_title: 'Fix login bug',
  subtask_title: 'Fix login bug - Assistant',
  executor_name: 'codex-svc-1',
};
const GIT_INFO = {
  initial_commit_id: 'a'.repeat(40),
  initial_commit_message: 'Initial commit',
  task_commits: [],
  source_branch: 'main',
  target_branch: '',
};
const NO_GIT_INFO = { initial_commit_id: '', initial_commit_message: '', task_commits: [], source_branch: '', target_branch: '' };

function workbench(overrides: Partial<Workbench>): Workbench {
  return {
    taskTitle: 'Fix login bug',
    taskNumber: '305',
    status: 'running',
    completedTime: '',
    repository: 'alice/app',
    branch: 'main',
    sessions: 1,
    premiumRequests: 0,
    lastUpdated: '',
    summary: 'Fix login bug - Assistant',
    changes: [],
    originalPrompt: 'Please fix the login bug',
    file_changes: [],
    git_info: GIT_INFO,
    git_domain: 'github.com',
    git_type: 'github',
    ...overrides,
  };
}

const bodies = (callbacks: PlannedCallback[]): CallbackBody[] => callbacks.map((c) => c.body);
const fold = (events: StoredEvent[], options: FoldOptions = OPTIONS) => foldCallbacks(TASK, SUB, events, options);

// ---------------------------------------------------------------------------------------------

describe('callback fold: success ladder (§5.2)', () => {
  const events = log(
    started(), //                                        1 → 50
    step(INIT, false), //                                2
    step(ATTACHMENTS, false), //                         3 silent: rides on 55
    prepared(git()), //                                  4 → 55
    agentStarted(), //                                   5 → 60
    step(SYSTEM), //                                     6 → 75
    step(TOOL_USE), //                                   7 → 75
    step(TOOL_RESULT), //                                8 → 75
    step(assistant(text('Fixed the null check.'))), //   9 → 75, summary
    step(resultStep('success', 'Fixed the null check.'), false), // 10 silent
    refresh(git([fileChange('src/login.ts')])), //       11 no callback
    done('Fixed the null check.'), //                    12 → 100
  );
  // Folded in each test, not when the file loads: mutation testing (docs/quality.md) then knows
  // which tests cover which code, instead of running every spec for every mutant.
  let callbacks: PlannedCallback[] = [];
  beforeEach(() => {
    callbacks = fold(events);
  });

  it('sends 50 → 55 → 60 → 75×4 → 100 with exact bodies', () => {
    const early = [INIT, ATTACHMENTS];
    const throughSystem = [...early, SYSTEM];
    const throughToolUse = [...throughSystem, TOOL_USE];
    const throughToolResult = [...throughToolUse, TOOL_RESULT];
    const throughAnswer = [...throughToolResult, assistant(text('Fixed the null check.'))];
    const all = [...throughAnswer, resultStep('success', 'Fixed the null check.')];

    expect(callbacks.map(({ eventId, seq, kind }) => ({ eventId, seq, kind }))).toStrictEqual([
      { eventId: '1-0', seq: 1, kind: 'milestone' },
      { eventId: '4-0', seq: 4, kind: 'milestone' },
      { eventId: '5-0', seq: 5, kind: 'milestone' },
      { eventId: '6-0', seq: 6, kind: 'step' },
      { eventId: '7-0', seq: 7, kind: 'step' },
      { eventId: '8-0', seq: 8, kind: 'step' },
      { eventId: '9-0', seq: 9, kind: 'step' },
      { eventId: '12-0', seq: 12, kind: 'terminal' },
    ]);
    expect(bodies(callbacks)).toStrictEqual([
      { ...HEAD, progress: 50, status: 'RUNNING', error_message: 'Task execution started', task_type: 'online' },
      {
        ...HEAD,
        progress: 55,
        status: 'RUNNING',
        error_message: '${{thinking.initialize_agent}}',
        result: { thinking: early, workbench: workbench({ lastUpdated: at(4) }) },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 60,
        status: 'RUNNING',
        error_message: '${{thinking.initialize_agent}}',
        result: { thinking: early, workbench: workbench({ lastUpdated: at(5) }) },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.system_message_received',
        result: { thinking: throughSystem, workbench: workbench({ lastUpdated: at(6) }) },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.assistant_message_received',
        result: { thinking: throughToolUse, workbench: workbench({ lastUpdated: at(7) }) },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.user_message_received',
        result: { thinking: throughToolResult, workbench: workbench({ lastUpdated: at(8) }) },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.assistant_message_received',
        result: { thinking: throughAnswer, workbench: workbench({ lastUpdated: at(9), summary: 'Fixed the null check.' }) },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 100,
        status: 'COMPLETED',
        error_message: 'Fixed the null check.',
        result: {
          value: 'Fixed the null check.',
          thinking: all,
          workbench: workbench({
            status: 'completed',
            completedTime: at(12),
            lastUpdated: at(12),
            summary: 'Fixed the null check.',
            file_changes: [fileChange('src/login.ts')],
          }),
        },
        task_type: 'online',
      },
    ]);
  });

  it('keeps the protocol key order in the body and the workbench', () => {
    const last = callbacks[callbacks.length - 1].body;
    expect(Object.keys(last)).toEqual([
      'task_id',
      'subtask_id',
      'task_title',
      'subtask_title',
      'executor_name',
      'progress',
      'status',
      'error_message',
      'result',
      'task_type',
    ]);
    expect(Object.keys(last.result ?? {})).toEqual(['value', 'thinking', 'workbench']);
    expect(Object.keys((last.result as { workbench: Workbench }).workbench)).toEqual([
      'taskTitle',
      'taskNumber',
      'status',
      'completedTime',
      'repository',
      'branch',
      'sessions',
      'premiumRequests',
      'lastUpdated',
      'summary',
      'changes',
      'originalPrompt',
      'file_changes',
      'git_info',
      'git_domain',
      'git_type',
    ]);
  });

  it('produces bodies that satisfy the callback schema and survive JSON unchanged', () => {
    for (const { body } of callbacks) {
      expect(callbackBodySchema.strict().parse(body)).toStrictEqual(body);
      expect(JSON.parse(JSON.stringify(body))).toStrictEqual(body);
    }
  });

  it('returns snapshots: a callback does not change when later events are folded', () => {
    const folder = new CallbackFolder(TASK, SUB, OPTIONS);
    const asSent: string[] = [];
    const planned: PlannedCallback[] = [];
    for (const stored of events) {
      const callback = folder.apply(stored);
      if (callback) {
        asSent.push(JSON.stringify(callback));
        planned.push(callback);
      }
    }
    expect(planned.map((c) => JSON.stringify(c))).toEqual(asSent);
  });

  it('is deterministic: folding the same log twice gives equal callbacks', () => {
    expect(fold(events)).toStrictEqual(callbacks);
    expect(JSON.stringify(fold(events))).toBe(JSON.stringify(callbacks));
  });

  it('projects the finished subtask as a view', () => {
    const folder = new CallbackFolder(TASK, SUB, OPTIONS);
    events.forEach((e) => folder.apply(e));
    expect(folder.finished).toBe(true);
    expect(folder.view).toStrictEqual({
      task_id: 305,
      subtask_id: 812,
      state: 'completed',
      status: 'COMPLETED',
      progress: 100,
      message: 'Fixed the null check.',
      result: callbacks[callbacks.length - 1].body.result as Record<string, unknown>,
      events: 12,
      lastEventId: '12-0',
      updatedAt: at(12),
    });
  });
});

describe('callback fold: streamed answer (§8)', () => {
  const events = log(
    started(), //                                  1
    step(INIT, false), //                          2
    prepared(git()), //                            3
    agentStarted(), //                             4
    step(SYSTEM), //                               5
    chunk('msg_1', 'Let me '), //                  6 text
    chunk('msg_1', 'look.'), //                    7 text
    step(assistant(text('Let me look.'))), //      8 step carries value
    step(TOOL_USE), //                             9
    chunk('msg_2', 'Fixed'), //                   10 text: new message, "\n\n"
    chunk('msg_2', ''), //                        11 nothing grew: no callback
    chunk('msg_2', ' it.'), //                    12 text
    step(assistant(text('Fixed it.'))), //        13
    step(resultStep('success', 'Fixed it.'), false), // 14
    done('Fixed it.'), //                         15
  );
  // Folded in each test, not when the file loads: mutation testing (docs/quality.md) then knows
  // which tests cover which code, instead of running every spec for every mutant.
  let callbacks: PlannedCallback[] = [];
  beforeEach(() => {
    callbacks = fold(events);
  });
  const steps5 = [INIT, SYSTEM];
  const steps8 = [...steps5, assistant(text('Let me look.'))];
  const steps9 = [...steps8, TOOL_USE];
  const steps13 = [...steps9, assistant(text('Fixed it.'))];

  it('streams a growing, append-only value on every RUNNING callback after the first text', () => {
    expect(callbacks.map((c) => [c.seq, c.kind])).toEqual([
      [1, 'milestone'],
      [3, 'milestone'],
      [4, 'milestone'],
      [5, 'step'],
      [6, 'text'],
      [7, 'text'],
      [8, 'step'],
      [9, 'step'],
      [10, 'text'],
      [12, 'text'],
      [13, 'step'],
      [15, 'terminal'],
    ]);
    expect(bodies(callbacks.slice(4))).toStrictEqual([
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.system_message_received',
        result: { value: 'Let me ', thinking: steps5, workbench: workbench({ lastUpdated: at(6) }) },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.system_message_received',
        result: { value: 'Let me look.', thinking: steps5, workbench: workbench({ lastUpdated: at(7) }) },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.assistant_message_received',
        result: { value: 'Let me look.', thinking: steps8, workbench: workbench({ lastUpdated: at(8), summary: 'Let me look.' }) },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.assistant_message_received',
        result: { value: 'Let me look.', thinking: steps9, workbench: workbench({ lastUpdated: at(9), summary: 'Let me look.' }) },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.assistant_message_received',
        result: {
          value: 'Let me look.\n\nFixed',
          thinking: steps9,
          workbench: workbench({ lastUpdated: at(10), summary: 'Let me look.' }),
        },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.assistant_message_received',
        result: {
          value: 'Let me look.\n\nFixed it.',
          thinking: steps9,
          workbench: workbench({ lastUpdated: at(12), summary: 'Let me look.' }),
        },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 75,
        status: 'RUNNING',
        error_message: 'Thinking: thinking.assistant_message_received',
        result: {
          value: 'Let me look.\n\nFixed it.',
          thinking: steps13,
          workbench: workbench({ lastUpdated: at(13), summary: 'Fixed it.' }),
        },
        task_type: 'online',
      },
      {
        ...HEAD,
        progress: 100,
        status: 'COMPLETED',
        // Issue 9: the stored answer is what streamed (it used to shrink to the final message alone).
        error_message: 'Let me look.\n\nFixed it.',
        result: {
          value: 'Let me look.\n\nFixed it.',
          thinking: [...steps13, resultStep('success', 'Fixed it.')],
          workbench: workbench({ status: 'completed', completedTime: at(15), lastUpdated: at(15), summary: 'Fixed it.' }),
        },
        task_type: 'online',
      },
    ]);
  });

  it('each RUNNING value extends the previous one', () => {
    let previous = '';
    for (const { body } of callbacks.filter((c) => c.body.status === 'RUNNING' && c.seq >= 6)) {
      const value = (body.result as { value: string }).value;
      expect(value.startsWith(previous)).toBe(true);
      previous = value;
    }
  });

  it('repeats ${{thinking.initialize_agent}} on text before any reported step', () => {
    const [, , text1] = fold(log(started(), step(INIT, false), prepared(), chunk('m', 'Hi')));
    expect(text1.body).toStrictEqual({
      ...HEAD,
      progress: 75,
      status: 'RUNNING',
      error_message: '${{thinking.initialize_agent}}',
      result: { value: 'Hi', thinking: [INIT], workbench: workbench({ lastUpdated: at(4), git_info: NO_GIT_INFO }) },
      task_type: 'online',
    });
  });

  it('drops retracted text (a retried stream) from every later value, FAILED included', () => {
    const values = fold(
      log(
        started(),
        prepared(),
        chunk('a', 'Partial'),
        { type: 'retract', item_id: 'a' },
        chunk('b', 'Other'),
        { type: 'retract', item_id: 'zz' }, // unknown item: nothing changes, no callback
        failure('agent', 'model gave up', 'model gave up'),
      ),
    ).map((c) => [c.seq, c.kind, c.body.status, (c.body.result as { value?: string } | undefined)?.value]);
    expect(values).toEqual([
      [1, 'milestone', 'RUNNING', undefined],
      [2, 'milestone', 'RUNNING', undefined],
      [3, 'text', 'RUNNING', 'Partial'],
      [4, 'text', 'RUNNING', undefined],
      [5, 'text', 'RUNNING', 'Other'],
      [7, 'terminal', 'FAILED', 'Other'],
    ]);
  });

  it('COMPLETED without streamed text keeps the done event answer', () => {
    const [, , completed] = fold(log(started(), prepared(), done('Only at the end.')));
    expect(completed.body).toMatchObject({ status: 'COMPLETED', error_message: 'Only at the end.', result: { value: 'Only at the end.' } });
  });

  it('ignores the 2026-only events (reasoning, usage)', () => {
    const usage = { input_tokens: 1, output_tokens: 2, cached_input_tokens: 0, reasoning_output_tokens: 0, total_tokens: 3 };
    const callbacks = fold(log(started(), prepared(), { type: 'reasoning', item_id: 'r', text: 'think' }, { type: 'usage', usage }));
    expect(callbacks.map((c) => c.seq)).toEqual([1, 2]);
  });

  it('shows the streamed text in the view while running', () => {
    const folder = new CallbackFolder(TASK, SUB, OPTIONS);
    events.slice(0, 12).forEach((e) => folder.apply(e));
    expect(folder.view).toMatchObject({
      state: 'running',
      status: 'RUNNING',
      progress: 75,
      result: { value: 'Let me look.\n\nFixed it.' },
    });
  });
});

describe('callback fold: failures', () => {
  it('agent failure (§5.3): FAILED with thinking, failed workbench and result.error', () => {
    const failed = resultStep('error_during_execution', 'Rate limit exceeded');
    const callbacks = fold(
      log(
        started(),
        step(INIT, false),
        prepared(git()),
        agentStarted(),
        step(SYSTEM),
        step(failed, false),
        failure('agent', 'Rate limit exceeded', 'Rate limit exceeded'),
      ),
    );
    expect(callbacks.map((c) => c.body.progress)).toEqual([50, 55, 60, 75, 100]);
    expect(callbacks[4]).toStrictEqual({
      eventId: '7-0',
      seq: 7,
      kind: 'terminal',
      body: {
        ...HEAD,
        progress: 100,
        status: 'FAILED',
        error_message: 'Rate limit exceeded',
        result: {
          thinking: [INIT, SYSTEM, failed],
          workbench: workbench({ status: 'failed', lastUpdated: at(7) }),
          error: 'Rate limit exceeded',
        },
        task_type: 'online',
      },
    });
  });

  it('stream error (§5.7): FAILED with error, thinking, failed workbench — and keeps the streamed value', () => {
    const callbacks = fold(
      log(
        started(),
        step(INIT, false),
        prepared(git()),
        agentStarted(),
        chunk('msg_1', 'Working on it'),
        step(RESPONSE_ERROR, false),
        failure('stream', 'Error processing response: app-server exited with code 1', 'app-server exited with code 1'),
      ),
    );
    expect(callbacks.map((c) => c.body.progress)).toEqual([50, 55, 60, 75, 100]);
    const last = callbacks[4].body;
    expect(last).toStrictEqual({
      ...HEAD,
      progress: 100,
      status: 'FAILED',
      error_message: 'Error processing response: app-server exited with code 1',
      result: {
        value: 'Working on it',
        error: 'app-server exited with code 1',
        thinking: [INIT, RESPONSE_ERROR],
        workbench: workbench({ status: 'failed', lastUpdated: at(7) }),
      },
      task_type: 'online',
    });
    expect(Object.keys(last.result ?? {})).toEqual(['value', 'error', 'thinking', 'workbench']);
  });

  it('runner exception (§5.4): FAILED with the thinking list only', () => {
    const message = '${thinking.execution_failed} Codex Agent execution: spawn codex ENOENT';
    const callbacks = fold(
      log(started(), step(INIT, false), prepared(git()), step(EXECUTION_FAILED, false), failure('exception', message)),
    );
    expect(bodies(callbacks).map((b) => b.progress)).toEqual([50, 55, 100]);
    expect(callbacks[2].body).toStrictEqual({
      ...HEAD,
      progress: 100,
      status: 'FAILED',
      error_message: message,
      result: { thinking: [INIT, EXECUTION_FAILED] },
      task_type: 'online',
    });
    const folder = new CallbackFolder(TASK, SUB);
    log(started(), failure('exception', message)).forEach((e) => folder.apply(e));
    expect(folder.view).toMatchObject({ state: 'failed', status: 'FAILED', error: message, message });
  });

  it('pre-execute failure (§5.5): 50, 50 with the Pre-execution Failed step (no workbench), FAILED without result', () => {
    const callbacks = fold(
      log(started(), step(INIT, false), step(PRE_FAILED), failure('pre-execute', 'Agent[Codex][305] handle: pre_execute failed.')),
    );
    expect(bodies(callbacks)).toStrictEqual([
      { ...HEAD, progress: 50, status: 'RUNNING', error_message: 'Task execution started', task_type: 'online' },
      {
        ...HEAD,
        progress: 50,
        status: 'RUNNING',
        error_message: 'Thinking: Pre-execution Failed',
        result: { thinking: [INIT, PRE_FAILED] },
        task_type: 'online',
      },
      { ...HEAD, progress: 100, status: 'FAILED', error_message: 'Agent[Codex][305] handle: pre_execute failed.', task_type: 'online' },
    ]);
    expect(callbacks[1].kind).toBe('step');
  });

  it('initialisation failure (§5.6): 50 then FAILED without result', () => {
    const callbacks = fold(log(started(), failure('init', '[task_id: 305.812] Unable to get or create agent')));
    expect(bodies(callbacks)).toStrictEqual([
      { ...HEAD, progress: 50, status: 'RUNNING', error_message: 'Task execution started', task_type: 'online' },
      { ...HEAD, progress: 100, status: 'FAILED', error_message: '[task_id: 305.812] Unable to get or create agent', task_type: 'online' },
    ]);
  });

  it('falls back to the message for result.error when the event has no separate error text', () => {
    const [, , failed] = fold(log(started(), prepared(git()), failure('agent', 'Turn failed')));
    expect(failed.body.result).toStrictEqual({
      thinking: [],
      workbench: workbench({ status: 'failed', lastUpdated: at(3) }),
      error: 'Turn failed',
    });
  });
});

describe('callback fold: cancel (§9) and the end of a log', () => {
  it('CANCELLED has no result and no task_type, and nothing follows it', () => {
    const folder = new CallbackFolder(TASK, SUB, OPTIONS);
    const events = log(
      started(),
      step(INIT, false),
      prepared(git()),
      chunk('m', 'partial'),
      cancelled(),
      done('late'),
      step(SYSTEM),
      chunk('m', 'more'),
      failure('stream', 'boom'),
    );
    const out = events.map((e) => folder.apply(e));
    expect(out[4]).toStrictEqual({
      eventId: '5-0',
      seq: 5,
      kind: 'terminal',
      body: { ...HEAD, progress: 100, status: 'CANCELLED', error_message: '${{tasks.cancel_task}}' },
    });
    expect(out.slice(5)).toEqual([null, null, null, null]);
    expect(folder.finished).toBe(true);
    expect(folder.view).toMatchObject({
      state: 'cancelled',
      status: 'CANCELLED',
      progress: 100,
      events: 5,
      lastEventId: '5-0',
      result: { value: 'partial' },
    });
  });

  it('a cancel while queued is the only callback', () => {
    expect(bodies(fold(log(cancelled('queued'))))).toStrictEqual([
      {
        task_id: 305,
        subtask_id: 812,
        task_title: '',
        subtask_title: '',
        executor_name: 'codex-svc-1',
        progress: 100,
        status: 'CANCELLED',
        error_message: '${{tasks.cancel_task}}',
      },
    ]);
  });

  it.each([
    ['done', done('late answer')],
    ['error', failure('agent', 'late failure')],
    ['cancelled', cancelled()],
  ])('the first terminal event wins over a later %s', (_name, late) => {
    const folder = new CallbackFolder(TASK, SUB, OPTIONS);
    const events = log(started(), done('first'), late, started(), step(SYSTEM));
    expect(events.map((e) => folder.apply(e)?.body.status ?? null)).toEqual(['RUNNING', 'COMPLETED', null, null, null]);
    expect(folder.view.events).toBe(2);
  });
});

describe('callback fold: trace context', () => {
  const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('every callback of a run carries the traceparent of its started context, never in the body', () => {
    const callbacks = fold(log(started({ ...CONTEXT, traceparent: TRACEPARENT }), prepared(), step(SYSTEM), chunk('m', 'hi'), done('hi')));
    expect(callbacks.length).toBeGreaterThan(3);
    for (const callback of callbacks) {
      expect(callback.traceparent).toBe(TRACEPARENT);
      expect(JSON.stringify(callback.body)).not.toContain(TRACEPARENT);
    }
  });

  it('a run without one (or a cancel while queued) has none', () => {
    for (const callback of [...fold(log(started(), prepared(), done('hi'))), ...fold(log(cancelled('queued')))]) {
      expect(callback).not.toHaveProperty('traceparent');
    }
  });
});

describe('callback fold: empty fields are left out (§4.2)', () => {
  it('omits executor_name and executor_namespace when not configured', () => {
    const [body] = bodies(fold(log(started()), {}));
    expect(body).toStrictEqual({
      task_id: 305,
      subtask_id: 812,
      task_title: 'Fix login bug',
      subtask_title: 'Fix login bug - Assistant',
      progress: 50,
      status: 'RUNNING',
      error_message: 'Task execution started',
      task_type: 'online',
    });
    expect(bodies(fold(log(started()), { executorName: '', executorNamespace: '' }))[0]).toStrictEqual(body);
  });

  it('sends executor_namespace when non-empty, after executor_name', () => {
    const [body] = bodies(fold(log(started()), { executorName: 'codex-svc-1', executorNamespace: 'wegent' }));
    expect(Object.keys(body).slice(4, 6)).toEqual(['executor_name', 'executor_namespace']);
    expect(body.executor_namespace).toBe('wegent');
  });

  it('omits task_type when the payload type is empty', () => {
    const callbacks = fold(log(started({ ...CONTEXT, task_type: '' }), prepared(), done()));
    for (const { body } of callbacks) expect(body).not.toHaveProperty('task_type');
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
  ])('a done with an %s value says No result and has no value key', (_name, value) => {
    const [, , completed] = fold(log(started(), prepared(), done(value)));
    expect(completed.body).toStrictEqual({
      ...HEAD,
      progress: 100,
      status: 'COMPLETED',
      error_message: 'No result',
      result: {
        thinking: [],
        workbench: workbench({ status: 'completed', completedTime: at(3), lastUpdated: at(3), git_info: NO_GIT_INFO }),
      },
      task_type: 'online',
    });
  });

  it('omits an empty error_message and an empty result', () => {
    const [, failed] = fold(log(started(), failure('init', '')));
    expect(failed.body).toStrictEqual({ ...HEAD, progress: 100, status: 'FAILED', task_type: 'online' });
  });
});

describe('callback fold: workbench (§7)', () => {
  const workbenchOf = (callback: PlannedCallback): Workbench => (callback.body.result as { workbench: Workbench }).workbench;
  const workbenchIfAny = (callback: PlannedCallback): Workbench | undefined =>
    (callback.body.result as { workbench?: Workbench } | undefined)?.workbench;

  it.each([
    ['github.com', 'github'],
    ['GitHub.COM', 'github'],
    ['enterprise.github.com', 'github'],
    ['github.example.com', 'gitlab'],
    ['gitlab.example.com', 'gitlab'],
    ['', 'gitlab'],
  ])('git_type of %p is %s', (domain, type) => {
    expect(gitTypeOf(domain)).toBe(type);
    const [, ready] = fold(log(started({ ...CONTEXT, git_domain: domain }), prepared()));
    expect(workbenchOf(ready)).toMatchObject({ git_domain: domain, git_type: type });
  });

  it('starts the summary with the subtask title, else the prompt', () => {
    const [, withTitle] = fold(log(started(), prepared()));
    expect(workbenchOf(withTitle).summary).toBe('Fix login bug - Assistant');
    const [, withoutTitle] = fold(log(started({ ...CONTEXT, subtask_title: '' }), prepared()));
    expect(workbenchOf(withoutTitle).summary).toBe('Please fix the login bug');
  });

  it('replaces the summary with assistant text and commit lists, and keeps it on completion', () => {
    const commits = [commit('1'.repeat(40), 'Fix null check'), commit('2'.repeat(40), 'Add test')];
    const callbacks = fold(
      log(
        started(), //                                           1
        prepared(git()), //                                     2 title
        step(TOOL_USE), //                                      3 no text: title stays
        step(TOOL_RESULT), //                                   4 user step: title stays
        step(assistant(text('First'), text(''), text('Second'))), // 5 last non-empty text block
        step(assistant(text(''))), //                           6 empty text does not wipe it
        refresh(git([fileChange('src/a.ts')], commits)), //     7 commit list
        step(SYSTEM), //                                        8
        step(assistant(text('Pushed.'))), //                    9 text again
        refresh(git([fileChange('src/a.ts')], commits)), //    10 commit list again
        done('Pushed.'), //                                    11 unchanged
      ),
    );
    const commitList =
      '### commit id: 1111111111111111111111111111111111111111\nFix null check\n\n---\n\n' +
      '### commit id: 2222222222222222222222222222222222222222\nAdd test\n\n---\n';
    expect(commitListSummary(commits)).toBe(commitList);
    expect(callbacks.map((c) => [c.seq, workbenchIfAny(c)?.summary])).toEqual([
      [1, undefined],
      [2, 'Fix login bug - Assistant'],
      [3, 'Fix login bug - Assistant'],
      [4, 'Fix login bug - Assistant'],
      [5, 'Second'],
      [6, 'Second'],
      [8, commitList],
      [9, 'Pushed.'],
      [11, commitList],
    ]);
    expect(workbenchOf(callbacks[8]).git_info).toStrictEqual({ ...GIT_INFO, task_commits: commits });
  });

  it('never lets file_changes go back to [] once it had entries', () => {
    const callbacks = fold(
      log(
        started(),
        prepared(git()),
        refresh(git([fileChange('src/a.ts')], [], 'fix/login')),
        step(SYSTEM),
        refresh(git([])),
        step(SYSTEM),
        refresh(git([fileChange('src/b.ts')])),
        done('ok'),
      ),
    );
    expect(callbacks.map((c) => workbenchIfAny(c)?.file_changes.map((f) => f.new_path))).toEqual([
      undefined,
      [],
      ['src/a.ts'],
      ['src/a.ts'],
      ['src/b.ts'],
    ]);
    expect(workbenchOf(callbacks[2]).git_info.target_branch).toBe('fix/login');
    expect(workbenchOf(callbacks[3]).git_info.target_branch).toBe('');
  });

  it('stamps lastUpdated with the latest folded event, including events without a callback', () => {
    const [, , step1] = fold(log(started(), prepared(), refresh(git()), step(SYSTEM)));
    expect(workbenchOf(step1).lastUpdated).toBe(at(4));
    const folder = new CallbackFolder(TASK, SUB);
    log(started(), prepared(), refresh(git())).forEach((e) => folder.apply(e));
    expect(folder.view.result.workbench?.lastUpdated).toBe(at(3));
  });

  it('keeps empty strings when there is no context yet', () => {
    const folder = new CallbackFolder(TASK, SUB);
    const [callback] = log(prepared()).map((e) => folder.apply(e));
    expect(callback?.body).toStrictEqual({
      task_id: 305,
      subtask_id: 812,
      task_title: '',
      subtask_title: '',
      progress: 55,
      status: 'RUNNING',
      error_message: '${{thinking.initialize_agent}}',
      result: {
        thinking: [],
        workbench: {
          taskTitle: '',
          taskNumber: '305',
          status: 'running',
          completedTime: '',
          repository: '',
          branch: '',
          sessions: 1,
          premiumRequests: 0,
          lastUpdated: at(1),
          summary: '',
          changes: [],
          originalPrompt: '',
          file_changes: [],
          git_info: NO_GIT_INFO,
          git_domain: '',
          git_type: 'gitlab',
        },
      },
    });
  });
});

describe('callback fold: image validation (§12.2)', () => {
  const VALIDATION_CONTEXT: RunContext = {
    task_title: 'Image Validation: my-codex-shell',
    subtask_title: 'Validating Codex dependencies',
    task_type: 'validation',
    git_repo: '',
    git_domain: '',
    branch_name: '',
    prompt: '',
  };
  const V_HEAD = {
    task_id: 305,
    subtask_id: 812,
    task_title: 'Image Validation: my-codex-shell',
    subtask_title: 'Validating Codex dependencies',
    executor_name: 'codex-svc-1',
  };
  const vid = '5f0c';
  const checks = [
    { name: 'node', version: '20.19.0', status: 'pass' },
    { name: 'codex', version: '0.169.0', status: 'pass' },
    { name: 'git', version: '2.39.5', status: 'pass' },
  ];

  it('passes validation callbacks through and ends with the result-less COMPLETED', () => {
    const finalResult = {
      stage: 'completed',
      validation_id: vid,
      validation_result: { valid: true, checks, errors: [], shell_name: 'my-codex-shell', shell_type: 'Codex', image: 'wegent-codex:1.0' },
    };
    const callbacks = fold(
      log(
        started(VALIDATION_CONTEXT),
        validation('RUNNING', 50, 'Task execution started', { validation_id: vid, stage: 'running' }),
        validation('RUNNING', 70, 'Running dependency checks', { stage: 'running_checks', validation_id: vid, current_check: null }),
        validation('RUNNING', 70, 'Checking node', { stage: 'running_checks', validation_id: vid, current_check: 'node' }),
        validation('RUNNING', 78, 'Checking codex', { stage: 'running_checks', validation_id: vid, current_check: 'codex' }),
        validation('RUNNING', 86, 'Checking git', { stage: 'running_checks', validation_id: vid, current_check: 'git' }),
        validation('COMPLETED', 100, 'Image validation completed', finalResult),
        done('Task executed successfully'),
      ),
    );
    expect(callbacks.map((c) => c.kind)).toEqual([
      'validation',
      'validation',
      'validation',
      'validation',
      'validation',
      'validation',
      'terminal',
    ]);
    expect(bodies(callbacks)).toStrictEqual([
      {
        ...V_HEAD,
        progress: 50,
        status: 'RUNNING',
        error_message: 'Task execution started',
        result: { validation_id: vid, stage: 'running' },
        task_type: 'validation',
      },
      {
        ...V_HEAD,
        progress: 70,
        status: 'RUNNING',
        error_message: 'Running dependency checks',
        result: { stage: 'running_checks', validation_id: vid, current_check: null },
        task_type: 'validation',
      },
      {
        ...V_HEAD,
        progress: 70,
        status: 'RUNNING',
        error_message: 'Checking node',
        result: { stage: 'running_checks', validation_id: vid, current_check: 'node' },
        task_type: 'validation',
      },
      {
        ...V_HEAD,
        progress: 78,
        status: 'RUNNING',
        error_message: 'Checking codex',
        result: { stage: 'running_checks', validation_id: vid, current_check: 'codex' },
        task_type: 'validation',
      },
      {
        ...V_HEAD,
        progress: 86,
        status: 'RUNNING',
        error_message: 'Checking git',
        result: { stage: 'running_checks', validation_id: vid, current_check: 'git' },
        task_type: 'validation',
      },
      {
        ...V_HEAD,
        progress: 100,
        status: 'COMPLETED',
        error_message: 'Image validation completed',
        result: finalResult,
        task_type: 'validation',
      },
      { ...V_HEAD, progress: 100, status: 'COMPLETED', error_message: 'Task executed successfully', task_type: 'validation' },
    ]);
  });

  it('sends exactly one FAILED when the validation itself reported the failure', () => {
    const failedResult = {
      validation_id: vid,
      stage: 'failed',
      validation_result: { valid: false, checks: [], errors: ['Unknown shell type: Agno'] },
    };
    const message = '[task_id: 305.1] Unable to get or create agent';
    const folder = new CallbackFolder(TASK, SUB, OPTIONS);
    const out = log(
      started(VALIDATION_CONTEXT),
      validation('RUNNING', 50, 'Task execution started', { validation_id: vid, stage: 'running' }),
      validation('FAILED', 100, message, failedResult),
      failure('init', message),
    ).map((e) => folder.apply(e)?.body ?? null);
    expect(out).toStrictEqual([
      null,
      {
        ...V_HEAD,
        progress: 50,
        status: 'RUNNING',
        error_message: 'Task execution started',
        result: { validation_id: vid, stage: 'running' },
        task_type: 'validation',
      },
      { ...V_HEAD, progress: 100, status: 'FAILED', error_message: message, result: failedResult, task_type: 'validation' },
      null,
    ]);
    expect(folder.view).toMatchObject({ state: 'failed', status: 'FAILED', progress: 100, error: message });
  });

  it('a validation run that fails without a validation callback still ends with FAILED', () => {
    const callbacks = fold(log(started(VALIDATION_CONTEXT), failure('init', 'boom')));
    expect(bodies(callbacks)).toStrictEqual([
      { ...V_HEAD, progress: 100, status: 'FAILED', error_message: 'boom', task_type: 'validation' },
    ]);
  });
});

describe('callback fold: replays and odd orders', () => {
  it('ignores a replayed event and events of another subtask', () => {
    const folder = new CallbackFolder(TASK, SUB, OPTIONS);
    const [first, second] = log(started(), step(SYSTEM));
    expect(folder.apply(first)).not.toBeNull();
    expect(folder.apply(first)).toBeNull();
    expect(folder.apply({ id: '9-0', event: { ...second.event, subtask_id: SUB + 1, seq: 9 } })).toBeNull();
    expect(folder.apply(second)?.body.result).toStrictEqual({ thinking: [SYSTEM] });
    expect(folder.view.events).toBe(2);
  });

  it('a repeated started sends nothing and milestones never lower the progress', () => {
    const callbacks = fold(log(started(), prepared(), step(SYSTEM), started(), prepared(), agentStarted()));
    expect(callbacks.map((c) => [c.seq, c.body.progress, c.body.error_message])).toEqual([
      [1, 50, 'Task execution started'],
      [2, 55, '${{thinking.initialize_agent}}'],
      [3, 75, 'Thinking: thinking.system_message_received'],
      [5, 75, '${{thinking.initialize_agent}}'],
      [6, 75, '${{thinking.initialize_agent}}'],
    ]);
  });

  it('a view before any event is a queued subtask', () => {
    expect(new CallbackFolder(TASK, SUB).view).toStrictEqual({
      task_id: 305,
      subtask_id: 812,
      state: 'queued',
      status: 'PENDING',
      progress: 0,
      result: { thinking: [] },
      events: 0,
    });
  });
});

describe('isSupersededBy (relay coalescing)', () => {
  let callbacks: PlannedCallback[] = [];
  let [start, ready, text1, text2, systemStep, text3, cancel] = callbacks;
  beforeEach(() => {
    callbacks = fold(log(started(), prepared(), chunk('m', 'a'), chunk('m', 'b'), step(SYSTEM), chunk('m', 'c'), cancelled()));
    [start, ready, text1, text2, systemStep, text3, cancel] = callbacks;
  });

  it('a text callback is superseded by any later callback of the subtask that has a result', () => {
    expect(isSupersededBy(text1, text2)).toBe(true);
    expect(isSupersededBy(text1, systemStep)).toBe(true);
  });

  it('never by an earlier callback, a result-less CANCELLED, or another subtask', () => {
    expect(isSupersededBy(text2, text1)).toBe(false);
    expect(isSupersededBy(text3, cancel)).toBe(false);
    expect(isSupersededBy(text1, { ...text2, body: { ...text2.body, subtask_id: SUB + 1 } })).toBe(false);
  });

  it('other kinds are never superseded', () => {
    for (const earlier of [start, ready, systemStep, cancel])
      for (const later of callbacks) expect(isSupersededBy(earlier, later)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Invariants over generated logs (§5.9, §8, §13).
// ---------------------------------------------------------------------------------------------

describe('callback fold: invariants over generated logs', () => {
  const stepArb: fc.Arbitrary<ThinkingStep> = fc.oneof(
    fc.constantFrom(INIT, ATTACHMENTS, SYSTEM, TOOL_USE, TOOL_RESULT, PRE_FAILED, EXECUTION_FAILED, RESPONSE_ERROR),
    fc.string({ maxLength: 6 }).map((t) => assistant(text(t))),
  );
  const gitArb: fc.Arbitrary<GitSnapshot> = fc
    .tuple(
      fc.subarray([fileChange('a.ts'), fileChange('b.ts')]),
      fc.subarray([commit('1'.repeat(40), 'one'), commit('2'.repeat(40), 'two')]),
      fc.constantFrom('', 'fix/x'),
    )
    .map(([changes, commits, target]) => git(changes, commits, target));
  const contextArb = fc.constantFrom('online', 'offline', '').map((task_type) => ({ ...CONTEXT, task_type }));
  const terminalArb: fc.Arbitrary<EventSpec> = fc.oneof(
    fc.option(fc.string({ maxLength: 6 }), { nil: undefined }).map((v) => done(v)),
    fc
      .tuple(
        fc.constantFrom('agent', 'stream', 'exception', 'pre-execute', 'init') as fc.Arbitrary<'agent'>,
        fc.string({ maxLength: 6 }),
        fc.option(fc.string({ maxLength: 4 }), { nil: undefined }),
      )
      .map(([kind, message, error]) => failure(kind, message, error)),
    fc.constantFrom<'queued' | 'running'>('queued', 'running').map((stage) => cancelled(stage)),
  );
  const eventArb: fc.Arbitrary<EventSpec> = fc.oneof(
    { arbitrary: contextArb.map((c) => started(c)), weight: 1 },
    { arbitrary: fc.option(gitArb, { nil: undefined }).map((g) => prepared(g)), weight: 2 },
    { arbitrary: fc.constant(agentStarted()), weight: 1 },
    { arbitrary: gitArb.map((g) => refresh(g)), weight: 2 },
    { arbitrary: fc.tuple(stepArb, fc.boolean()).map(([s, report]) => step(s, report)), weight: 6 },
    { arbitrary: fc.tuple(fc.constantFrom('m1', 'm2', 'm3'), fc.string({ maxLength: 4 })).map(([item, t]) => chunk(item, t)), weight: 5 },
    { arbitrary: terminalArb, weight: 1 },
  );
  const logArb = fc
    .tuple(fc.option(contextArb, { nil: undefined }), fc.array(eventArb, { maxLength: 40 }))
    .map(([context, rest]) => log(...(context ? [started(context)] : []), ...rest));

  const hasNoResultByDesign = (event: TaskEvent, body: CallbackBody): boolean =>
    body.status === 'CANCELLED' || (event.type === 'error' && (event.kind === 'pre-execute' || event.kind === 'init'));

  it('hold for every log', () => {
    fc.assert(
      fc.property(logArb, (events) => {
        const folder = new CallbackFolder(TASK, SUB, OPTIONS);
        const sent: PlannedCallback[] = [];
        const thinking: ThinkingStep[] = [];
        let streamed = '';
        let streamedItem: string | undefined;
        let ended = false;
        let progress = 0;
        let hadFileChanges = false;

        for (const stored of events) {
          const { event } = stored;
          if (!ended && event.type === 'thinking-step') thinking.push(event.step);
          if (!ended && event.type === 'chunk' && event.text !== '') {
            streamed += (streamed !== '' && event.item_id !== streamedItem ? '\n\n' : '') + event.text;
            streamedItem = event.item_id;
          }
          const callback = folder.apply(stored);
          if (ended) {
            // Nothing after a terminal event, ever.
            expect(callback).toBeNull();
            continue;
          }
          if (event.type === 'done' || event.type === 'error' || event.type === 'cancelled') ended = true;
          if (!callback) continue;
          sent.push(callback);
          const { body } = callback;
          const result = body.result as { value?: string; thinking?: ThinkingStep[]; workbench?: Workbench } | undefined;

          expect(callback.kind === 'terminal').toBe(ended);
          expect(body.status === 'RUNNING').toBe(!ended);
          expect(body.progress).toBeGreaterThanOrEqual(progress);
          progress = body.progress;
          if (ended) expect(body.progress).toBe(100);
          else expect(body.progress === 0 || body.progress === 50 || body.progress >= 55).toBe(true);

          // Wire shape: schema-valid, no undefined, no empty message or result.
          expect(callbackBodySchema.strict().parse(body)).toStrictEqual(body);
          expect(JSON.parse(JSON.stringify(body))).toStrictEqual(body);
          expect(body.error_message).not.toBe('');
          if (result) expect(Object.keys(result).length).toBeGreaterThan(0);
          if (body.status === 'CANCELLED') {
            expect(body).not.toHaveProperty('result');
            expect(body).not.toHaveProperty('task_type');
          }

          // From 55 on: the full thinking list.
          if (body.progress >= 55 && !hasNoResultByDesign(event, body)) expect(result?.thinking).toStrictEqual(thinking);
          // Once text streamed, every RUNNING or FAILED result carries all of it: a result replaces the
          // stored one wholesale (a callback without result, like a late 50, leaves it alone).
          if (streamed !== '' && result && (body.status === 'RUNNING' || body.status === 'FAILED')) expect(result.value).toBe(streamed);
          // file_changes never revert to [].
          if (result?.workbench) {
            if (hadFileChanges) expect(result.workbench.file_changes.length).toBeGreaterThan(0);
            hadFileChanges ||= result.workbench.file_changes.length > 0;
          }
        }

        const terminals = sent.filter((c) => c.kind === 'terminal');
        expect(terminals.length).toBeLessThanOrEqual(1);
        if (terminals.length === 1) expect(sent[sent.length - 1]).toBe(terminals[0]);
        // Deterministic, and equal to the incremental fold.
        expect(fold(events)).toStrictEqual(sent);
        expect(fold(events)).toStrictEqual(fold(events));
      }),
      { numRuns: 300 },
    );
  });
});

/** Edges of the 2025 fold, each expected value written out by hand (docs/quality.md, fold survivors). */
describe('callback fold: edges', () => {
  it('ignores an event of another task, and a second started at exactly 50', () => {
    const events = log(started(), started(), chunk('m', 'a'));
    const foreign: StoredEvent = { id: '9-0', event: { ...events[2]!.event, task_id: TASK + 1, seq: 9 } };
    expect(fold([...events, foreign]).map((c) => [c.kind, c.body.progress])).toEqual([
      ['milestone', 50],
      ['text', 50],
    ]);
  });

  it('keeps the first context when a later status carries another', () => {
    const events = log(started(), { type: 'status', phase: 'prepared', context: { ...CONTEXT, task_title: 'Other' } });
    expect(bodies(fold(events)).map((b) => b.task_title)).toEqual([CONTEXT.task_title, CONTEXT.task_title]);
  });

  it('is finished only after its terminal event', () => {
    const folder = new CallbackFolder(TASK, SUB, OPTIONS);
    const [first, second] = log(started(), done('x'));
    folder.apply(first!);
    expect(folder.finished).toBe(false);
    folder.apply(second!);
    expect(folder.finished).toBe(true);
  });

  it.each(['agent', 'stream'] as const)('shows the workbench in the view after a %s failure before prepared', (kind) => {
    const folder = new CallbackFolder(TASK, SUB, OPTIONS);
    for (const stored of log(started(), failure(kind, 'failed', 'why'))) folder.apply(stored);
    expect(folder.view.result.workbench?.status).toBe('failed');
  });

  it('sends a validation run its FAILED when the validation events before it did not fail', () => {
    const vcontext: RunContext = { ...CONTEXT, task_type: 'validation' };
    const events = log(started(vcontext), validation('RUNNING', 50, 'checking'), failure('init', 'Image check crashed.'));
    expect(fold(events).map((c) => [c.kind, c.body.status, c.body.progress, c.body.error_message])).toEqual([
      ['validation', 'RUNNING', 50, 'checking'],
      ['terminal', 'FAILED', 100, 'Image check crashed.'],
    ]);
  });

  it('isSupersededBy: never by itself, a validation callback, another task, or a result that is undefined', () => {
    const [, , text1, text2] = fold(log(started(), prepared(), chunk('m', 'a'), chunk('m', 'b')));
    expect(isSupersededBy(text1!, text2!)).toBe(true);
    expect(isSupersededBy(text1!, text1!)).toBe(false);
    expect(isSupersededBy(text1!, { ...text2!, kind: 'validation' })).toBe(false);
    expect(isSupersededBy(text1!, { ...text2!, body: { ...text2!.body, task_id: TASK + 1 } })).toBe(false);
    expect(isSupersededBy(text1!, { ...text2!, body: { ...text2!.body, result: undefined } })).toBe(false);
  });

  it.each<[string, unknown, string | undefined]>([
    ['a message without content', undefined, undefined],
    ['content that is not a list', { type: 'text', text: 'x' }, undefined],
    ['a null block', [null, { type: 'text', text: 'kept' }], 'kept'],
    ['a text that is not a string', [{ type: 'text', text: 5 }], undefined],
    [
      'an empty text',
      [
        { type: 'text', text: 'first' },
        { type: 'text', text: '' },
      ],
      'first',
    ],
    ['a tool block with text', [{ type: 'tool_use', text: 'x' }], undefined],
  ])('assistantTextOf: %s', (_, content, expected) => {
    const message = content === undefined ? undefined : { content };
    expect(assistantTextOf({ title: 'assistant', next_action: 'continue', details: { type: 'assistant', message } })).toBe(expected);
  });
});
