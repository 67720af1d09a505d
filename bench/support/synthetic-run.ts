import { StepTitle, type NewTaskEvent, type RunContext } from '@wegent-codex/contracts';
import { COMMAND, FINAL_ANSWER } from './model-scripts';
import { BENCH_PROMPT, SUBTASK_ID } from './service-harness';

/**
 * What a worker appends for one subtask running the scripted turn (one command, a short
 * commentary and a final answer), with the gaps a real run has between them — for relay
 * measurements without Codex.
 */
export interface PacedEvent {
  event: NewTaskEvent;
  /** Wait before appending it. */
  delayMs: number;
}

/** Which callbacks the relay makes of the run: 2025 snapshots or 2026 Responses events. */
export type SyntheticProtocol = '2025' | '2026';

const context = (taskId: number, protocol: SyntheticProtocol): RunContext => ({
  task_title: `Bench task ${taskId}`,
  subtask_title: `Bench task ${taskId} - Assistant`,
  task_type: 'online',
  git_repo: '',
  git_domain: '',
  branch_name: '',
  prompt: BENCH_PROMPT,
  ...(protocol === '2026' && {
    protocol,
    responses: {
      message_id: taskId,
      bot_name: 'codex-bench',
      shell_type: 'Codex',
      executor_name: 'wegent-codex-bench',
      executor_namespace: '',
    },
  }),
});

const words = (text: string): string[] => text.match(/\s*\S+\s*/g) ?? [];

export interface SyntheticRunOptions {
  /** Gap between two chunks (0: a flood, nothing waits). */
  deltaMs: number;
  /** Default 2025. */
  protocol?: SyntheticProtocol;
  /** Commands run (each a tool_use and a tool_result step); default 1. */
  commands?: number;
}

/**
 * started → prepared → agent-started (Codex start-up ~150 ms) → system step → commentary streamed
 * → `commands` × command (tool_use, tool_result) → answer streamed → done.
 */
export function syntheticRun(taskId: number, options: SyntheticRunOptions): PacedEvent[] {
  const { protocol = '2025', commands = 1 } = options;
  const ids = { task_id: taskId, subtask_id: SUBTASK_ID, attempt: 1 };
  const paced = options.deltaMs > 0;
  const gap = (ms: number) => (paced ? ms : 0);
  const step = (title: string, report: boolean, details?: Record<string, unknown>): NewTaskEvent => ({
    ...ids,
    type: 'thinking-step',
    report,
    step: { title, next_action: 'continue', ...(details ? { details } : {}) },
  });
  const commandSteps = (n: number): PacedEvent[] => [
    {
      event: step(StepTitle.assistant, true, {
        type: 'assistant',
        message: { id: `msg_c${n}`, content: [{ type: 'tool_use', id: `call_${n}`, name: 'Bash', input: { command: COMMAND } }] },
      }),
      delayMs: gap(40),
    },
    {
      event: step(StepTitle.user, true, {
        type: 'user',
        message: { content: [{ type: 'tool_result', tool_use_id: `call_${n}`, content: 'hello from codex', is_error: false }] },
      }),
      delayMs: gap(60),
    },
  ];
  const chunks = (text: string, item: string): PacedEvent[] =>
    words(text).map((piece) => ({ event: { ...ids, type: 'chunk', item_id: item, text: piece }, delayMs: options.deltaMs }));
  return [
    { event: { ...ids, type: 'status', phase: 'started', context: context(taskId, protocol) }, delayMs: 0 },
    { event: step(StepTitle.initializeAgent, false), delayMs: gap(5) },
    { event: { ...ids, type: 'status', phase: 'prepared' }, delayMs: gap(15) },
    { event: { ...ids, type: 'status', phase: 'agent-started' }, delayMs: gap(150) },
    {
      event: step(StepTitle.system, true, {
        type: 'system',
        subtype: 'init',
        session_id: '00000000-0000-4000-8000-000000000000',
        model: 'gpt-5.5',
        cwd: '/workspace',
        tools: ['Bash', 'Edit', 'Write', 'TodoWrite'],
        permissionMode: 'danger-full-access',
      }),
      delayMs: gap(5),
    },
    ...chunks('Checking the workspace first.', 'msg_1'),
    ...Array.from({ length: commands }, (_, i) => commandSteps(i + 1)).flat(),
    ...chunks(FINAL_ANSWER, 'msg_3'),
    {
      event: step(StepTitle.success, false, { type: 'result', subtype: 'success', is_error: false, result: FINAL_ANSWER }),
      delayMs: gap(10),
    },
    { event: { ...ids, type: 'done', value: FINAL_ANSWER }, delayMs: 0 },
  ];
}
