import { randomBytes } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { StepTitle, type Config, type NewTaskEvent } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { RuntimeModule } from '@wegent-codex/runtime';
import { FakeWegent2026 } from '../../../test/fixtures/fake-wegent-2026';
import { runContext } from '../../../test/fixtures/run-context';
import { waitRelayDone } from '../../../test/support/relay-done';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { RelayCounters } from './relay-metrics';
import { RelayModule } from './relay.module';

jest.setTimeout(60_000);

const FILE_PREFIX = `test-relay26-${randomBytes(4).toString('hex')}`;
let testNumber = 0;

type Ids = { task_id: number; subtask_id: number; attempt: number };
const ids = (task: number, subtask: number): Ids => ({ task_id: task, subtask_id: subtask, attempt: 1 });

const ANSWER_TEXTS = ['Looking ', 'at the ', 'parser… ', '完成', ' ✅'];

/** A 2026 run: reasoning, commentary, a command, the answer in many deltas, done. */
function run2026(i: Ids, protocol: '2026' | '2025' = '2026'): NewTaskEvent[] {
  return [
    { ...i, type: 'status', phase: 'started', context: runContext(protocol) },
    { ...i, type: 'status', phase: 'prepared' },
    { ...i, type: 'reasoning', item_id: 'rs_1', text: 'Plan: read the parser.' },
    ...ANSWER_TEXTS.slice(0, 3).map((text): NewTaskEvent => ({ ...i, type: 'chunk', item_id: 'msg_1', text })),
    {
      ...i,
      type: 'thinking-step',
      report: true,
      step: {
        title: StepTitle.assistant,
        next_action: 'continue',
        details: {
          type: 'assistant',
          message: { content: [{ type: 'tool_use', id: 'call_7', name: 'Bash', input: { command: 'npm test' } }] },
        },
      },
    },
    {
      ...i,
      type: 'thinking-step',
      report: true,
      step: {
        title: StepTitle.user,
        next_action: 'continue',
        details: { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 'call_7', content: 'ok', is_error: false }] } },
      },
    },
    ...ANSWER_TEXTS.slice(3).map((text): NewTaskEvent => ({ ...i, type: 'chunk', item_id: 'msg_2', text })),
    { ...i, type: 'done', value: '完成 ✅' },
  ];
}

/** Written out by hand: what BE must end up with for run2026. */
const EXPECTED_TEXT = 'Looking at the parser… \n\n完成 ✅';
const EXPECTED_EVENTS = [
  'response.created',
  'response.reasoning_summary_text.delta',
  'response.output_text.delta',
  'response.output_text.delta',
  'response.output_text.delta',
  'response.block.created',
  'response.block.updated',
  'response.output_text.delta',
  'response.output_text.delta',
  'response.completed',
];
const EXPECTED_DELTAS = [
  { offset: 0, delta: 'Looking ' },
  { offset: 8, delta: 'at the ' },
  { offset: 15, delta: 'parser… ' },
  { offset: 23, delta: '\n\n完成' },
  { offset: 27, delta: ' ✅' },
];
/** The same run read by the relay in one go: the deltas queued behind each other go out as one. */
const EXPECTED_EVENTS_MERGED = [
  'response.created',
  'response.reasoning_summary_text.delta',
  'response.output_text.delta',
  'response.block.created',
  'response.block.updated',
  'response.output_text.delta',
  'response.completed',
];
const EXPECTED_DELTAS_MERGED = [
  { offset: 0, delta: 'Looking at the parser… ' },
  { offset: 23, delta: '\n\n完成 ✅' },
];
/** Callbacks each event of run2026 gives, in order (the `prepared` status gives none). */
const CALLBACKS_PER_EVENT = [1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1];

/** Consecutive deltas of one kind as one entry: the order of what BE saw, whatever the relay merged. */
const collapsed = (events: string[]): string[] => events.filter((e, i) => !(e.endsWith('.delta') && events[i - 1] === e));

interface Harness {
  config: Config;
  keys: RedisKeys;
  redis: Redis;
  log: EventLogRepository;
  wegent: FakeWegent2026;
  relays: TestingModule[];
}
let h: Harness;

async function setUp(env: Record<string, string> = {}): Promise<void> {
  testNumber += 1;
  const wegent = await FakeWegent2026.start();
  const config = testConfig('relay', {
    REDIS_PREFIX: `${FILE_PREFIX}.${testNumber}`,
    CALLBACK_URL: wegent.url,
    CALLBACK_TIMEOUT_MS: '2000',
    CALLBACK_RETRY_BASE_MS: '10',
    CALLBACK_RETRY_MAX_MS: '100',
    CALLBACK_COALESCE_MS: '300',
    RELAY_CLAIM_IDLE_MS: '2000',
    EXECUTOR_NAME: 'codex-svc',
    ...env,
  });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  const keys = new RedisKeys(config.REDIS_PREFIX);
  h = { config, keys, redis, log: new EventLogRepository(redis, keys), wegent, relays: [] };
}

async function startRelay(): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [RuntimeModule.forRoot(h.config), RelayModule.register({ metrics: new RelayCounters() })],
  }).compile();
  await app.init();
  h.relays.push(app);
  return app;
}

async function append(events: NewTaskEvent[]): Promise<void> {
  for (const event of events) await h.log.append(event);
}

/** The applied (2xx) deltas of a subtask, every one, as BE saw them. */
const appliedDeltas = (task: number, subtask: number) => h.wegent.subtask(task, subtask).deltas;

afterEach(async () => {
  if (!h) return;
  for (const app of h.relays) await app.close().catch(() => undefined);
  await h.wegent.close();
  h.redis.disconnect();
  await dropPrefix(h.config);
});

describe('relay, 2026 protocol (real Redis, a fake EM + backend that records every POST)', () => {
  it("deltas queued behind each other go out as one, as Wegent's executor sends them: every callback once, BE ends with the answer", async () => {
    await setUp();
    const stored: string[] = [];
    for (const event of run2026(ids(11, 1))) {
      const result = await h.log.append(event);
      if (result.appended) stored.push(result.id);
    }
    await startRelay(); // the whole log is there before the relay reads it
    await h.wegent.waitTerminal(11, 1);

    const state = h.wegent.subtask(11, 1);
    expect(h.wegent.violations).toEqual([]);
    expect(state.events).toEqual(EXPECTED_EVENTS_MERGED);
    expect(appliedDeltas(11, 1)).toEqual(EXPECTED_DELTAS_MERGED);
    expect(state.text).toBe(EXPECTED_TEXT);
    expect(state.final).toBe(EXPECTED_TEXT);
    expect(state.reasoning).toBe('Plan: read the parser.');
    expect(state.blocks.get('call_7')).toMatchObject({
      tool_name: 'Bash',
      tool_input: { command: 'npm test' },
      tool_output: 'ok',
      status: 'done',
    });
    // The dispatch's container name, not this deployment's EXECUTOR_NAME (follow-ups are routed by it).
    expect([...state.executorNames]).toEqual(['wegent-task-bob-1']);
    expect(h.wegent.requests).toHaveLength(EXPECTED_EVENTS_MERGED.length);
    // A merged delta's Idempotency-Key names the first and the last event it carries.
    const keys = h.wegent.requests.map((r) => r.headers['idempotency-key']);
    expect(keys).toEqual([
      `wegent-codex:11:1:${stored[0]}`,
      `wegent-codex:11:1:${stored[2]}`,
      `wegent-codex:11:1:${stored[3]}..${stored[5]}`,
      `wegent-codex:11:1:${stored[6]}`,
      `wegent-codex:11:1:${stored[7]}`,
      `wegent-codex:11:1:${stored[8]}..${stored[9]}`,
      `wegent-codex:11:1:${stored[10]}`,
    ]);
    // The cursor comes to rest on the last event and nothing more is sent.
    await waitRelayDone(h.config, 11, 1);
    expect(await h.redis.get(h.keys.relayCursor(11, 1))).toBe(stored[10]);
    expect(h.wegent.requests).toHaveLength(EXPECTED_EVENTS_MERGED.length);
  });

  it('a delta with nothing queued behind it goes out on its own, at once (nothing is held back to merge)', async () => {
    await setUp();
    await startRelay();
    let expected = 0;
    for (const [index, event] of run2026(ids(17, 1)).entries()) {
      await h.log.append(event);
      expected += CALLBACKS_PER_EVENT[index];
      await h.wegent.waitFor((w) => w.requests.length === expected, 20_000, `callback ${expected}`);
    }
    await h.wegent.waitTerminal(17, 1);
    expect(h.wegent.violations).toEqual([]);
    expect(h.wegent.subtask(17, 1).events).toEqual(EXPECTED_EVENTS);
    expect(appliedDeltas(17, 1)).toEqual(EXPECTED_DELTAS);
    expect(h.wegent.subtask(17, 1).final).toBe(EXPECTED_TEXT);
  });

  it('through 503 answers: each refused delta is sent again, none applied twice, none skipped', async () => {
    await setUp();
    h.wegent.failNext(6, 503);
    await append(run2026(ids(12, 1)));
    await startRelay();
    await h.wegent.waitTerminal(12, 1);

    expect(h.wegent.violations).toEqual([]);
    expect(h.wegent.requests.filter((r) => r.status === 503)).toHaveLength(6);
    expect(h.wegent.subtask(12, 1).events).toEqual(EXPECTED_EVENTS_MERGED);
    expect(appliedDeltas(12, 1)).toEqual(EXPECTED_DELTAS_MERGED);
    expect(h.wegent.subtask(12, 1).final).toBe(EXPECTED_TEXT);
  });

  it('a relay restarted mid-stream rebuilds its fold from the log and resends no delivered delta (the cursor is the truth)', async () => {
    await setUp();
    const first = await startRelay();
    const events = run2026(ids(13, 1));
    await append(events.slice(0, 5)); // created, reasoning, 2 deltas (sent as one or two)
    await h.wegent.waitFor((w) => w.subtask(13, 1).text === 'Looking at the ', 20_000, 'the first two deltas');
    await first.close();
    h.relays = h.relays.filter((a) => a !== first);

    await append(events.slice(5));
    await startRelay(); // a fresh process: no fold state, only the log and the cursor
    await h.wegent.waitTerminal(13, 1);

    // The fake fails an offset that repeats or skips text: BE got each piece once, in order.
    expect(h.wegent.violations).toEqual([]);
    expect(collapsed(h.wegent.subtask(13, 1).events)).toEqual(EXPECTED_EVENTS_MERGED);
    expect(h.wegent.subtask(13, 1).text).toBe(EXPECTED_TEXT);
    // What the restarted relay sent: from the cursor on, the queued deltas merged.
    expect(appliedDeltas(13, 1).slice(-2)).toEqual([
      { offset: 15, delta: 'parser… ' },
      { offset: 23, delta: '\n\n完成 ✅' },
    ]);
    expect(h.wegent.requests.every((r) => r.status === 200)).toBe(true);
  });

  it('two relays at once: one stream per subtask, in order, nothing twice', async () => {
    await setUp();
    await startRelay();
    await startRelay();
    await Promise.all([append(run2026(ids(14, 1))), append(run2026(ids(14, 2))), append(run2026(ids(15, 1)))]);
    await Promise.all([h.wegent.waitTerminal(14, 1), h.wegent.waitTerminal(14, 2), h.wegent.waitTerminal(15, 1)]);
    // The fake fails an offset that repeats or skips text, and anything after the terminal.
    expect(h.wegent.violations).toEqual([]);
    for (const [t, s] of [
      [14, 1],
      [14, 2],
      [15, 1],
    ] as const) {
      const state = h.wegent.subtask(t, s);
      expect(collapsed(state.events)).toEqual(EXPECTED_EVENTS_MERGED);
      expect(state.text).toBe(EXPECTED_TEXT);
      expect(state.reasoning).toBe('Plan: read the parser.');
      expect(state.final).toBe(EXPECTED_TEXT);
    }
  });

  it('both generations on one relay: a 2025 log next to a 2026 one gets 2025 snapshots', async () => {
    await setUp();
    await startRelay();
    await append(run2026(ids(16, 1)));
    await append(run2026(ids(16, 2), '2025')); // no protocol in its context: 2025
    await h.wegent.waitTerminal(16, 1);
    await h.wegent.waitFor(
      (w) => w.legacy.some((r) => r.body.subtask_id === 2 && r.body.status === 'COMPLETED'),
      20_000,
      'the 2025 COMPLETED',
    );
    expect(h.wegent.requests.filter((r) => r.body.subtask_id === 2)).toEqual([]);
    expect(h.wegent.violations).toEqual([]);
    const old = h.wegent.legacy.map((r) => r.body);
    expect(old.every((b) => b.event_type === undefined && typeof b.status === 'string')).toBe(true);
    expect(old.at(-1)).toMatchObject({ status: 'COMPLETED', progress: 100, result: { value: EXPECTED_TEXT } });
    expect(h.wegent.subtask(16, 1).final).toBe(EXPECTED_TEXT);
  });
});
