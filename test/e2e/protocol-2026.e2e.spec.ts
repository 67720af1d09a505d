import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { closeEarly, exec, hang, message, patch, reasoning, turn } from '../fixtures/fake-responses';
import { FakeWegent2026, type Received2026 } from '../fixtures/fake-wegent-2026';
import { waitRelayDone } from '../support/relay-done';
import { eventually } from '../support/test-config';
import { minimalResponsesBody } from '../support/wegent-2026-body';
import { startServiceApp, taskMarker, taskPayload, type ServiceApp } from '../support/service-app';

/**
 * Today's Wegent (docs/protocol/wegent-protocol-2026.md) end to end: the real Codex binary, real
 * Redis, a scripted model, and a fake of today's executor_manager + backend that checks every
 * callback the way §3 says the backend does and records every POST, duplicates included. 2026
 * runs come in through `POST /v1/responses`, 2025 ones through `POST /api/tasks/execute`.
 */
const API_KEY = 'sk-p2026-SECRET-5f4e3d2c1b0a99887766';
const EXECUTOR = 'wegent-task-alice-3f9c1a0b7d2e4c1';
const INTERVAL_MS = 1_000;
/**
 * Heartbeats are periodic and nothing marks a beat that did not come: their stopping can only be
 * observed as silence over more than two intervals.
 */
const HEARTBEAT_SILENCE_MS = 2.5 * INTERVAL_MS;
const OUT = resolve(__dirname, '../../.data/e2e-2026');

const ADD = '*** Begin Patch\n*** Add File: hello.txt\n+hello world\n*** End Patch\n';

/** A Responses body as today's executor_manager POSTs it (§2.11, trimmed to what a Codex run uses). */
function body2026(h: ServiceApp, taskId: number, subtaskId: number, prompt: string, messageId = 2): Record<string, unknown> {
  return minimalResponsesBody({
    taskId,
    subtaskId,
    input: `${taskMarker(taskId)} ${prompt}`,
    model: 'wegent-2026-model',
    apiKey: API_KEY,
    baseUrl: h.fake.baseUrl,
    executorName: EXECUTOR,
    titlePrefix: 'Responses',
    messageId,
  });
}

/** `POST /v1/responses`: 200 `{id: resp_<subtask>, status: queued}` at once. */
async function dispatch(h: ServiceApp, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${h.baseUrl}/v1/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as Record<string, unknown>;
  expect([res.status, answer.status]).toEqual([200, 'queued']);
}

/** One row per callback of a subtask, for the closing note: # | event_type | what it carried. */
function eventTable(requests: Received2026[], taskId: number, subtaskId: number): string {
  const rows = requests
    .filter((r) => r.body.task_id === taskId && r.body.subtask_id === subtaskId)
    .map((r, i) => {
      const d = (r.body.data ?? {}) as Record<string, any>;
      let what = '';
      switch (r.body.event_type) {
        case 'response.created':
          what = `shell_type=${d.shell_type} bot_name=${d.bot_name} id=${d.response?.id}`;
          break;
        case 'response.output_text.delta':
          what = `offset=${d.offset} delta=${JSON.stringify(d.delta)}`;
          break;
        case 'response.reasoning_summary_text.delta':
          what = `item=${d.item_id} delta=${JSON.stringify(d.delta)}`;
          break;
        case 'response.block.created':
          what = `${d.block?.id} ${d.block?.tool_name} ${JSON.stringify(d.block?.tool_input).slice(0, 60)} ${d.block?.status}`;
          break;
        case 'response.block.updated':
          what = `${d.block_id} ${d.updates?.status} output=${JSON.stringify(d.updates?.tool_output).slice(0, 50)}`;
          break;
        case 'response.status.updated':
          what = `${d.phase} in=${d.context_metrics?.input_tokens} out=${d.context_metrics?.output_tokens} remaining=${d.context_metrics?.remaining_percent}%`;
          break;
        case 'response.completed':
          what = `text=${JSON.stringify(d.response?.output?.[0]?.content?.[0]?.text)} usage.total=${d.response?.usage?.total_tokens}`;
          break;
        case 'error':
          what = `code=${d.code} message=${JSON.stringify(d.message)}`;
          break;
        case 'response.incomplete':
          what = `status=${d.response?.status} error=${d.response?.error?.code}`;
          break;
      }
      return `| ${i + 1} | ${r.status} | \`${String(r.body.event_type)}\` | ${what.replace(/\|/g, '\\|')} |`;
    });
  return ['| # | HTTP | event_type | data |', '|---|---|---|---|', ...rows].join('\n');
}

describe("e2e: the 2026 protocol against a fake of today's executor_manager + backend (real Codex)", () => {
  let h: ServiceApp;
  let wegent: FakeWegent2026;

  beforeAll(async () => {
    wegent = await FakeWegent2026.start();
    h = await startServiceApp('p2026', {
      env: {
        CALLBACK_URL: wegent.url,
        HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
        CODEX_STREAM_IDLE_TIMEOUT_MS: '60000',
        CODEX_IDLE_TIMEOUT_MS: '120000',
        CANCEL_GRACE_MS: '1000',
        WORKER_CONCURRENCY: '4',
        // Codex retries a dropped model stream (the retry test); nothing else here drops one.
        CODEX_STREAM_MAX_RETRIES: '2',
      },
    });
    await mkdir(OUT, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await wegent?.close();
  }, 60_000);

  afterEach(() => {
    expect(wegent.violations).toEqual([]);
  });

  it('one turn with reasoning, a command, a patch and a streamed answer: every callback valid, the deltas add up to the stored answer', async () => {
    const taskId = 9601;
    h.router.script(
      taskId,
      turn([
        reasoning('Look at the repository first.'),
        message('Checking the files.', { phase: 'commentary' }),
        exec("printf 'one\\ntwo\\n'"),
      ]),
      turn([patch(ADD, { callId: 'call_add' })]),
      turn([message('Added hello.txt — 完成 ✅.', { phase: 'final_answer' })]),
    );
    const dispatched = Date.now();
    await dispatch(h, body2026(h, taskId, 1, 'Add hello.txt.'));
    await wegent.waitTerminal(taskId, 1, 90_000);
    await waitRelayDone(h.config, taskId, 1); // nothing may follow the terminal

    const state = wegent.subtask(taskId, 1);
    const table = eventTable(wegent.requests, taskId, 1);
    await writeFile(resolve(OUT, 'event-table.md'), `${table}\n`);
    console.log(`2026 event table of one turn (task ${taskId}):\n${table}`);

    expect(state.terminals).toEqual(['response.completed']);
    expect(state.events[0]).toBe('response.created');
    expect(state.events.at(-1)).toBe('response.completed');
    // What streamed is what is stored: commentary and answer, one paragraph each.
    expect(state.text).toBe('Checking the files.\n\nAdded hello.txt — 完成 ✅.');
    expect(state.final).toBe(state.text);
    expect(state.reasoning).toBe('Look at the repository first.');
    const blocks = [...state.blocks.values()];
    const command = blocks.find((b) => b.tool_name === 'Bash');
    expect(command).toMatchObject({
      type: 'tool',
      status: 'done',
      tool_input: { command: "printf 'one\\ntwo\\n'" },
      tool_output: 'one\ntwo\n',
    });
    expect(state.blocks.get('call_add:0')).toMatchObject({
      tool_name: 'Write',
      status: 'done',
      tool_output: 'Success. Updated the following files:\nA hello.txt',
    });
    expect(state.statusUpdates).toBeGreaterThanOrEqual(3); // one per model request
    expect(state.usage).toMatchObject({
      input_tokens: expect.any(Number),
      output_tokens: expect.any(Number),
      total_tokens: expect.any(Number),
    });
    // The dispatch's container name is echoed (the backend routes follow-ups by it).
    expect([...state.executorNames]).toEqual([EXECUTOR]);
    // Each delivered once: no request was answered twice for the same delta.
    expect(wegent.requests.filter((r) => r.body.task_id === taskId).every((r) => r.status === 200)).toBe(true);
    // The API key never left the service.
    expect(JSON.stringify(wegent.requests)).not.toContain(API_KEY);
    // A turn this short may end before the first heartbeat tick: any beat it got came after the
    // dispatch (the timeline test below runs long enough to check the cadence).
    const beats = wegent.heartbeats.filter((b) => b.taskId === taskId);
    expect(beats.every((b) => b.at >= dispatched)).toBe(true);
  }, 120_000);

  it('both generations in one service run: a 2025 subtask gets 2025 snapshots, a 2026 one Responses events, side by side', async () => {
    const old = 9602;
    const now = 9603;
    h.router.script(old, turn([message('Old style answer.', { phase: 'final_answer' })]));
    h.router.script(now, turn([message('New style answer.', { phase: 'final_answer' })]));
    const [a] = await Promise.all([
      h.execute(taskPayload(h, old, 1, 'Answer in the old way.', { apiKey: API_KEY, modelId: 'wegent-2026-model' })),
      dispatch(h, body2026(h, now, 1, 'Answer in the new way.')),
    ]);
    expect(a.status).toBe(200);
    await wegent.waitTerminal(now, 1, 90_000);
    await wegent.waitFor((w) => w.legacy.some((r) => r.body.task_id === old && r.body.progress === 100), 90_000, 'the 2025 terminal');

    const legacy = wegent.legacy.filter((r) => r.body.task_id === old).map((r) => r.body);
    expect(legacy.every((body) => body.event_type === undefined)).toBe(true);
    expect(legacy.at(-1)).toMatchObject({ status: 'COMPLETED', progress: 100, result: { value: 'Old style answer.' } });
    expect(wegent.requests.some((r) => r.body.task_id === old)).toBe(false);
    expect(wegent.subtask(now, 1).final).toBe('New style answer.');
    // No heartbeats for a 2025 task (its executor_manager expects none).
    expect(wegent.heartbeats.some((beat) => beat.taskId === old)).toBe(false);
  }, 120_000);

  it('heartbeats: at once, one per interval while running, none once the task ended (timeline kept)', async () => {
    const taskId = 9604;
    h.router.script(taskId, turn([exec('sleep 3.5', { yieldTimeMs: 60_000 })]), turn([message('Slept.', { phase: 'final_answer' })]));
    const dispatched = Date.now();
    await dispatch(h, body2026(h, taskId, 1, 'Sleep a little.'));
    await wegent.waitTerminal(taskId, 1, 90_000);
    const ended = wegent.requests.find((r) => r.body.task_id === taskId && r.body.event_type === 'response.completed')!.receivedAt;
    const before = wegent.heartbeats.filter((b) => b.taskId === taskId).length;
    await new Promise((r) => setTimeout(r, HEARTBEAT_SILENCE_MS));

    const beats = wegent.heartbeats.filter((b) => b.taskId === taskId);
    const timeline = [
      `dispatch      t=0 ms`,
      ...beats.map((b, i) => `heartbeat ${String(i + 1).padEnd(3)} t=${b.at - dispatched} ms`),
      `terminal      t=${ended - dispatched} ms (response.completed)`,
    ].join('\n');
    await writeFile(resolve(OUT, 'heartbeat-timeline.txt'), `${timeline}\n`);
    console.log(`heartbeat timeline (task ${taskId}, HEARTBEAT_INTERVAL_MS=${INTERVAL_MS}):\n${timeline}`);

    expect(before).toBeGreaterThanOrEqual(3); // the command alone sleeps 3.5 intervals
    expect(beats).toHaveLength(before); // stopped with the run
    expect(beats.every((b) => b.at <= ended + INTERVAL_MS)).toBe(true);
    expect(beats[0]!.body).toMatchObject({ heartbeat_id: String(taskId), heartbeat_type: 'task' });
  }, 120_000);

  it('cancel → response.incomplete, nothing after it, heartbeats stop', async () => {
    const taskId = 9605;
    h.router.script(taskId, hang([message('Thinking about it', { phase: 'commentary' })]));
    await dispatch(h, body2026(h, taskId, 1, 'Hang on.'));
    await eventually(() => h.router.requestsOf(taskId).length >= 1, 60_000);
    await eventually(() => wegent.subtask(taskId, 1).events.includes('response.created'), 30_000);
    const res = await fetch(`${h.baseUrl}/api/tasks/cancel?task_id=${taskId}&subtask_id=1`, { method: 'POST' });
    expect(res.status).toBe(200);
    await wegent.waitTerminal(taskId, 1, 30_000);
    await waitRelayDone(h.config, taskId, 1); // nothing may follow the terminal
    const state = wegent.subtask(taskId, 1);
    expect(state.terminals).toEqual(['response.incomplete']);
    expect(state.events.at(-1)).toBe('response.incomplete');
    const last = wegent.requests.filter((r) => r.body.task_id === taskId).at(-1)!;
    expect(last.body).toMatchObject({
      event_type: 'response.incomplete',
      message_id: 2,
      executor_name: EXECUTOR,
      data: {
        type: 'response.incomplete',
        response: { id: `resp_1`, status: 'cancelled', error: { code: 'cancelled', message: 'Task cancelled' } },
      },
    });
    const beats = wegent.heartbeats.filter((b) => b.taskId === taskId).length;
    await new Promise((r) => setTimeout(r, HEARTBEAT_SILENCE_MS));
    expect(wegent.heartbeats.filter((b) => b.taskId === taskId)).toHaveLength(beats);
  }, 120_000);

  it('a retried model stream is not streamed twice, in either generation (issue 9: "Partial\\n\\nPartial…")', async () => {
    const now = 9607;
    const old = 9608;
    const script = () => [
      closeEarly([message('Partial answ', { phase: 'final_answer' })]),
      closeEarly([message('Partial answ', { phase: 'final_answer' })]),
      turn([message('Partial answer, done.', { phase: 'final_answer' })]),
    ];
    h.router.script(now, ...script());
    h.router.script(old, ...script());
    await dispatch(h, body2026(h, now, 1, 'Answer despite a flaky model.'));
    await h.execute(taskPayload(h, old, 1, 'Answer despite a flaky model.', { apiKey: API_KEY, modelId: 'wegent-2026-model' }));
    await wegent.waitTerminal(now, 1, 90_000);
    await wegent.waitFor((w) => w.legacy.some((r) => r.body.task_id === old && r.body.progress === 100), 90_000, 'the 2025 terminal');
    expect(h.router.requestsOf(now)).toHaveLength(3); // two dropped streams, one complete

    // 2026: the deltas the backend appended add up to the answer, each once, offsets contiguous.
    const state = wegent.subtask(now, 1);
    expect(state.text).toBe('Partial answer, done.');
    expect(state.final).toBe('Partial answer, done.');
    expect(state.deltas.map((d) => d.delta).join('')).toBe('Partial answer, done.');
    // 2025: every RUNNING value and the COMPLETED one hold the text once.
    const legacy = wegent.legacy.filter((r) => r.body.task_id === old).map((r) => r.body as Record<string, any>);
    for (const body of legacy) expect(String(body.result?.value ?? '')).not.toMatch(/Partial answ.*Partial/s);
    expect(legacy.at(-1)).toMatchObject({ status: 'COMPLETED', result: { value: 'Partial answer, done.' } });
  }, 120_000);

  it('a follow-up remembers: the second subtask resumes the same Codex thread (the model sees the first turn)', async () => {
    const taskId = 9606;
    h.router.script(
      taskId,
      turn([message('Noted: the word is kiwi.', { phase: 'final_answer' })]),
      turn([message('The word was kiwi.', { phase: 'final_answer' })]),
    );
    await dispatch(h, body2026(h, taskId, 1, 'Remember the word kiwi.', 2));
    await wegent.waitTerminal(taskId, 1, 90_000);
    await dispatch(h, body2026(h, taskId, 2, 'Which word did I ask you to remember?', 4));
    await wegent.waitTerminal(taskId, 2, 90_000);

    expect(wegent.subtask(taskId, 2).final).toBe('The word was kiwi.');
    const second = h.router.requestsOf(taskId).at(-1)!;
    const input = JSON.stringify(second.body.input);
    expect(input).toContain('Remember the word kiwi.');
    expect(input).toContain('Noted: the word is kiwi.');
    expect(wegent.requests.filter((r) => r.body.task_id === taskId && r.body.subtask_id === 2).every((r) => r.body.message_id === 4)).toBe(
      true,
    );
  }, 180_000);
});
