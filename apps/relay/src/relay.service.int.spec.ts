import { randomBytes } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { StepTitle, type Config, type NewTaskEvent, type RunContext, type StoredEvent } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys, foldCallbacks, type PlannedCallback } from '@wegent-codex/event-log';
import { RuntimeModule } from '@wegent-codex/runtime';
import { FakeExecutorManager, type FakeExecutorManagerOptions, type ReceivedCallback } from '../../../test/fixtures/fake-executor-manager';
import { eventually, testConfig } from '../../../test/support/test-config';
import { sleep } from './backoff';
import { RelayCounters } from './relay-metrics';
import { RelayModule } from './relay.module';
import { RelayService } from './relay.service';
import { relayTimings } from './relay-timings';

jest.setTimeout(60_000);

/** Every test gets its own key prefix under this file's, so leftovers never leak between tests. */
const FILE_PREFIX = `test-relay-${randomBytes(4).toString('hex')}`;
let testNumber = 0;

// ---------------------------------------------------------------------------------------------
// Realistic event sequences (what the worker appends for one subtask).

type Ids = { task_id: number; subtask_id: number; attempt: number };

const context = (taskId: number): RunContext => ({
  task_title: `Fix login bug #${taskId}`,
  subtask_title: `Fix login bug #${taskId} - Assistant`,
  task_type: 'online',
  git_repo: 'acme/app',
  git_domain: 'github.com',
  branch_name: 'main',
  prompt: 'Fix the null check in login.ts',
});

const git = {
  initial_commit_id: 'a1b2c3d',
  initial_commit_message: 'Initial commit',
  source_branch: 'main',
  target_branch: 'main',
  file_changes: [],
  task_commits: [],
};

/** started → prepared → agent-started → a reported step (the run up to 60 and the first 75). */
function runStart(ids: Ids): NewTaskEvent[] {
  return [
    { ...ids, type: 'status', phase: 'started', context: context(ids.task_id) },
    { ...ids, type: 'thinking-step', step: { title: StepTitle.initializeAgent, next_action: 'continue' }, report: false },
    { ...ids, type: 'status', phase: 'prepared', git },
    { ...ids, type: 'status', phase: 'agent-started' },
    {
      ...ids,
      type: 'thinking-step',
      step: {
        title: StepTitle.system,
        next_action: 'continue',
        details: { type: 'system', subtype: 'init', model: 'gpt-5.5', cwd: '/workspace/app' },
      },
      report: true,
    },
  ];
}

const chunks = (ids: Ids, texts: string[], item = 'msg_1'): NewTaskEvent[] =>
  texts.map((text) => ({ ...ids, type: 'chunk', item_id: item, text }));

const toolStep = (ids: Ids, n: number): NewTaskEvent => ({
  ...ids,
  type: 'thinking-step',
  step: {
    title: StepTitle.assistant,
    next_action: 'continue',
    details: {
      type: 'assistant',
      message: { content: [{ type: 'tool_use', id: `call_${n}`, name: 'Bash', input: { command: 'ls -la' } }] },
    },
  },
  report: true,
});

/** A whole successful run: the ladder 50, 55, 60, 75 (steps and text), 100. */
function successRun(ids: Ids, texts = ['Looking', ' at login.ts.']): NewTaskEvent[] {
  return [
    ...runStart(ids),
    ...chunks(ids, texts),
    toolStep(ids, 1),
    { ...ids, type: 'status', phase: 'workbench', git },
    ...chunks(ids, [' Fixed it.'], 'msg_2'),
    { ...ids, type: 'done', value: 'Fixed the null check in login.ts.' },
  ];
}

const ids = (task: number, subtask: number): Ids => ({ task_id: task, subtask_id: subtask, attempt: 1 });

// ---------------------------------------------------------------------------------------------
// Harness.

interface Harness {
  config: Config;
  keys: RedisKeys;
  redis: Redis;
  log: EventLogRepository;
  em: FakeExecutorManager;
  relays: TestingModule[];
}

let h: Harness;

async function setUp(env: Record<string, string> = {}, emOptions: FakeExecutorManagerOptions = {}): Promise<Harness> {
  testNumber += 1;
  const em = await FakeExecutorManager.start(emOptions);
  const config = testConfig('relay', {
    REDIS_PREFIX: `${FILE_PREFIX}.${testNumber}`,
    CALLBACK_URL: em.url,
    CALLBACK_TIMEOUT_MS: '2000',
    CALLBACK_RETRY_BASE_MS: '10',
    CALLBACK_RETRY_MAX_MS: '100',
    CALLBACK_COALESCE_MS: '0',
    // Lock TTL = half of it: long enough that event-loop stalls of a busy test process never
    // expire a lock. The claim tests shorten it.
    RELAY_CLAIM_IDLE_MS: '2000',
    ...env,
  });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  const keys = new RedisKeys(config.REDIS_PREFIX);
  h = { config, keys, redis, log: new EventLogRepository(redis, keys), em, relays: [] };
  return h;
}

async function startRelay(
  config: Config = h.config,
  metrics = new RelayCounters(),
): Promise<{ relay: RelayService; metrics: RelayCounters; app: TestingModule }> {
  const app = await Test.createTestingModule({ imports: [RuntimeModule.forRoot(config), RelayModule.register({ metrics })] }).compile();
  await app.init();
  h.relays.push(app);
  return { relay: app.get(RelayService), metrics, app };
}

async function stopRelay(app: TestingModule): Promise<void> {
  h.relays = h.relays.filter((a) => a !== app);
  await within(app.close(), 10_000, 'relay shutdown');
}

async function append(events: NewTaskEvent[]): Promise<void> {
  for (const event of events) await h.log.append(event);
}

/** Fails the test instead of hanging when `promise` does not settle in time. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

const subtaskKey = (task: number, subtask: number) => `${task}:${subtask}`;
const delivered = (task: number, subtask: number): ReceivedCallback[] => h.em.bySubtask().get(subtaskKey(task, subtask)) ?? [];
const waitTerminals = (subtasks: [number, number][], timeoutMs = 30_000) =>
  h.em.waitFor(
    (em) => {
      const groups = em.bySubtask(); // once per check: this runs on every request
      return subtasks.every(([t, s]) => groups.get(subtaskKey(t, s))?.some((c) => c.body.progress === 100));
    },
    timeoutMs,
    `terminal callbacks of ${subtasks.length} subtask(s)`,
  );

const eventIdOf = (callback: ReceivedCallback): string => String(callback.idempotencyKey).split(':').at(-1)!;

/**
 * The delivered callbacks of a subtask are exactly the fold of its log, minus superseded text:
 * same bodies, log order, every non-text callback, one terminal and last, progress never down,
 * streamed value append-only, nothing delivered twice. Returns the fold for further checks.
 */
async function expectFaithful(task: number, subtask: number): Promise<PlannedCallback[]> {
  const stored: StoredEvent[] = await h.log.read(task, subtask);
  const planned = foldCallbacks(task, subtask, stored, { executorName: 'codex-test' });
  const byEvent = new Map(planned.map((p) => [p.eventId, p]));
  const got = delivered(task, subtask);
  expect(h.em.duplicates().filter((c) => c.body.task_id === task && c.body.subtask_id === subtask)).toEqual([]);

  for (const callback of got) {
    expect(callback.headers['content-type']).toBe('application/json');
    expect(callback.idempotencyKey).toMatch(new RegExp(`^wegent-codex:${task}:${subtask}:\\d+-\\d+$`));
    const expected = byEvent.get(eventIdOf(callback));
    expect(expected).toBeDefined();
    expect(callback.body).toEqual(expected!.body);
  }
  const seqs = got.map((c) => byEvent.get(eventIdOf(c))!.seq);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // in log order
  expect(got.map(eventIdOf)).toEqual(expect.arrayContaining(planned.filter((p) => p.kind !== 'text').map((p) => p.eventId)));

  const terminals = got.filter((c) => c.body.progress === 100);
  expect(terminals).toHaveLength(1);
  expect(got.at(-1)).toBe(terminals[0]);
  const progress = got.map((c) => Number(c.body.progress));
  expect(progress).toEqual([...progress].sort((a, b) => a - b));
  let previous = '';
  for (const callback of got.filter((c) => c.body.status === 'RUNNING')) {
    const value = (callback.body.result as { value?: string } | undefined)?.value ?? '';
    expect(value.startsWith(previous)).toBe(true);
    previous = value;
  }
  return planned;
}

async function outboxDrained(): Promise<boolean> {
  const [length, pending] = await Promise.all([h.redis.xlen(h.keys.outbox), h.redis.xpending(h.keys.outbox, 'relay')]);
  return length === 0 && Number((pending as [number])[0]) === 0;
}

async function pendingOf(consumer: string): Promise<number> {
  const summary = (await h.redis.xpending(h.keys.outbox, 'relay')) as [number, string | null, string | null, [string, string][] | null];
  return Number(summary[3]?.find(([name]) => name === consumer)?.[1] ?? 0);
}

afterEach(async () => {
  if (!h) return;
  for (const app of h.relays) await within(app.close(), 10_000, 'relay shutdown').catch(() => undefined);
  h.relays = [];
  await h.em.close();
  h.redis.disconnect();
});

afterAll(async () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 3 });
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${FILE_PREFIX}*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
});

// ---------------------------------------------------------------------------------------------

describe('RelayService (real Redis)', () => {
  it("sends the run's W3C traceparent with every callback of the subtask, and none for a run without one", async () => {
    await setUp();
    await startRelay();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const traced = successRun(ids(306, 1)).map((event) =>
      event.type === 'status' && event.phase === 'started' ? { ...event, context: { ...context(306), traceparent } } : event,
    );
    await append(traced);
    await append(successRun(ids(306, 2)));

    await waitTerminals([
      [306, 1],
      [306, 2],
    ]);
    expect(delivered(306, 1).length).toBeGreaterThan(3);
    for (const callback of delivered(306, 1)) expect(callback.headers.traceparent).toBe(traceparent);
    for (const callback of delivered(306, 2)) expect(callback.headers).not.toHaveProperty('traceparent');
    await expectFaithful(306, 1);
  });

  it("an event that fails validation fails only its subtask's passes, retried with back-off; the relay and other subtasks go on", async () => {
    await setUp();
    await startRelay();
    const run = successRun(ids(307, 1));
    await append(run.slice(0, 3));
    const delivered3 = (await h.log.read(307, 1)).at(-1)!.id;
    await eventually(async () => (await h.redis.get(h.keys.relayCursor(307, 1))) === delivered3, 10_000);
    const before = delivered(307, 1).length;

    // A broken writer's entry: JSON, but not an event (zod rejects it when the relay reads it).
    const bad = String(
      await h.redis.xadd(
        h.keys.events(307, 1),
        '*',
        'seq',
        '4',
        'type',
        'chunk',
        'ts',
        new Date().toISOString(),
        'body',
        '{"task_id":307}',
      ),
    );
    await h.redis.xadd(h.keys.outbox, '*', 'task', '307', 'subtask', '1', 'id', bad);
    await append(run.slice(3));
    await append(successRun(ids(307, 2)));

    await waitTerminals([[307, 2]]);
    await expectFaithful(307, 2);
    // Stuck before the bad entry: nothing of it or after it went out, the cursor did not pass it.
    expect(delivered(307, 1)).toHaveLength(before);
    expect(await h.redis.get(h.keys.relayCursor(307, 1))).toBe(delivered3);

    // Repaired: the passes still being retried deliver the rest, with nothing new announced.
    await h.redis.xdel(h.keys.events(307, 1), bad);
    await waitTerminals([[307, 1]]);
    await expectFaithful(307, 1);
  });

  it('delivers a run in order: the progress ladder, exact bodies, Idempotency-Keys; then acknowledges and leaves cleanly', async () => {
    await setUp();
    const { relay, app } = await startRelay();
    await append(successRun(ids(305, 812)));

    await waitTerminals([[305, 812]]);

    const planned = await expectFaithful(305, 812);
    const got = delivered(305, 812);
    const steps = got.filter((c) => byKind(planned, c) !== 'text');
    expect(steps.map((c) => [c.body.status, c.body.progress, c.body.error_message])).toEqual([
      ['RUNNING', 50, 'Task execution started'],
      ['RUNNING', 55, '${{thinking.initialize_agent}}'],
      ['RUNNING', 60, '${{thinking.initialize_agent}}'],
      ['RUNNING', 75, 'Thinking: thinking.system_message_received'],
      ['RUNNING', 75, 'Thinking: thinking.assistant_message_received'],
      // The stored answer is what streamed (issue 9), not the done event's last message alone.
      ['COMPLETED', 100, 'Looking at login.ts.\n\n Fixed it.'],
    ]);
    expect(h.em.duplicates()).toEqual([]);

    // Entries acknowledged and deleted; the cursor sits on the last event and expires with the log.
    await eventually(outboxDrained, 10_000);
    const stored = await h.log.read(305, 812);
    expect(await h.redis.get(h.keys.relayCursor(305, 812))).toBe(stored.at(-1)!.id);
    expect(await h.redis.pttl(h.keys.relayCursor(305, 812))).toBeGreaterThan(0);
    expect(await h.redis.exists(h.keys.relayLock(305, 812))).toBe(0);

    await stopRelay(app);
    const consumers = (await h.redis.xinfo('CONSUMERS', h.keys.outbox, 'relay')) as unknown[][];
    expect(consumers.map((c) => c[1])).not.toContain(relay.consumer);
  });

  it('closes its connections to executor_manager when it stops, not after their keep-alive', async () => {
    await setUp({}, { keepAliveTimeoutMs: 30_000 }); // EM would keep idle connections 30 s, the relay 4 s
    const { app } = await startRelay();
    await append(successRun(ids(308, 1)));
    await waitTerminals([[308, 1]]);
    await expectFaithful(308, 1);
    expect(h.em.openConnections).toBeGreaterThan(0); // kept alive for the next callback

    await stopRelay(app);

    // Left idle, they would close 4 s after the last answer; stopping closes them at once.
    await eventually(() => h.em.openConnections === 0, "the relay's connections closed", 1_500);
  });

  it('is at least once through 503 answers: nothing lost, order kept', async () => {
    await setUp();
    h.em.failNext(7, 503);
    const { metrics } = await startRelay();
    await append(successRun(ids(1, 1)));
    await append(successRun(ids(1, 2)));

    await waitTerminals([
      [1, 1],
      [1, 2],
    ]);

    await expectFaithful(1, 1);
    await expectFaithful(1, 2);
    expect(h.em.requests.filter((r) => r.status === 503)).toHaveLength(7);
    expect(metrics.retriesTotal).toBe(7);
  });

  it('loses nothing while executor_manager is down for a few seconds', async () => {
    await setUp();
    await h.em.goDown();
    await startRelay();
    const subtasks: [number, number][] = [
      [2, 1],
      [2, 2],
      [3, 1],
    ];
    await Promise.all(subtasks.map(([t, s]) => append(successRun(ids(t, s)))));
    await sleep(2_000); // down for a while: every subtask is in back-off
    await h.em.comeBack();

    await waitTerminals(subtasks);

    for (const [t, s] of subtasks) await expectFaithful(t, s);
  });

  it('a relay stopped mid-delivery leaves its entries pending; another relay claims them and delivers the rest', async () => {
    await setUp({ RELAY_CLAIM_IDLE_MS: '400' });
    const first = await startRelay();
    await append(runStart(ids(4, 1)));
    await append(runStart(ids(4, 2)));
    await h.em.waitFor(() => delivered(4, 1).length === 4 && delivered(4, 2).length === 4, 10_000, 'first half');

    h.em.failNext(Number.MAX_SAFE_INTEGER, 503);
    await append([...chunks(ids(4, 1), ['Reading']), toolStep(ids(4, 1), 1), { ...ids(4, 1), type: 'done', value: 'Done.' }]);
    await append([
      toolStep(ids(4, 2), 1),
      { ...ids(4, 2), type: 'error', kind: 'agent', message: 'model overloaded', error: 'model overloaded' },
    ]);
    await h.em.waitFor((em) => em.requests.some((r) => r.status === 503), 10_000, 'a failed attempt');
    await stopRelay(first.app);
    expect(await pendingOf(first.relay.consumer)).toBeGreaterThan(0);

    h.em.failNext(0);
    const second = await startRelay();

    await waitTerminals([
      [4, 1],
      [4, 2],
    ]);
    await expectFaithful(4, 1);
    await expectFaithful(4, 2);
    expect(delivered(4, 2).at(-1)!.body.status).toBe('FAILED');
    await eventually(outboxDrained, 10_000);
    expect(await pendingOf(first.relay.consumer)).toBe(0);
    expect(second.relay.state).toBe('running');
  });

  it.each([
    ['its lock expires before the entries are claimable (same timings)', (config: Config) => relayTimings(config).lockTtlMs],
    ['its lock outlives the claim idle time (claimed entries wait for the lock)', (config: Config) => config.RELAY_CLAIM_IDLE_MS * 3],
  ])('recovers a subtask whose relay died holding its lock: %s', async (_, lockTtl) => {
    await setUp({ RELAY_CLAIM_IDLE_MS: '400' });
    await append(successRun(ids(5, 1)));
    // A relay that read every entry and took the lock, then died (no release, no acknowledgement).
    await h.redis.xgroup('CREATE', h.keys.outbox, 'relay', '0', 'MKSTREAM');
    await h.redis.xreadgroup('GROUP', 'relay', 'dead-relay', 'COUNT', 1000, 'STREAMS', h.keys.outbox, '>');
    await h.redis.set(h.keys.relayLock(5, 1), 'dead-relay:token', 'PX', lockTtl(h.config));

    await startRelay();

    await waitTerminals([[5, 1]]);
    await expectFaithful(5, 1);
    await eventually(outboxDrained, 10_000);
    expect(await pendingOf('dead-relay')).toBe(0);
  });

  it('two relays at once on many subtasks: each subtask in order, exactly one terminal and it is last', async () => {
    await setUp({ CALLBACK_COALESCE_MS: '20' });
    h.em.failNext(15, 503);
    h.em.stall(3);
    const relays = [await startRelay(), await startRelay()];

    const subtasks: [number, number][] = [];
    for (let task = 100; task < 110; task += 1) for (let subtask = 1; subtask <= 4; subtask += 1) subtasks.push([task, subtask]);
    await Promise.all(
      subtasks.map(async ([t, s], i) => {
        const run = ids(t, s);
        const body = [...runStart(run), ...chunks(run, ['a', 'b', 'c']), toolStep(run, 1), ...chunks(run, ['d', 'e'], 'msg_2')];
        const end: NewTaskEvent[] =
          i % 3 === 0
            ? [
                { ...run, type: 'cancelled', stage: 'running' },
                { ...run, type: 'done', value: 'late' },
              ]
            : i % 3 === 1
              ? [{ ...run, type: 'error', kind: 'stream', message: 'Error processing response: exit 1', error: 'exit 1' }]
              : [{ ...run, type: 'done', value: 'answer' }];
        // Events trickle in, so the relays keep contending for the subtasks' locks.
        for (const event of [...body, ...end]) {
          await h.log.append(event);
          await sleep((i * 7 + event.type.length) % 6);
        }
      }),
    );

    await waitTerminals(subtasks, 45_000);

    for (const [t, s] of subtasks) await expectFaithful(t, s);
    await eventually(outboxDrained, 10_000);
    const retries = relays.reduce((sum, r) => sum + r.metrics.retriesTotal, 0);
    expect(retries).toBe(15);
  });

  it('coalesces streamed text: 200 chunks give few text callbacks, append-only, and COMPLETED carries the full answer', async () => {
    await setUp({ CALLBACK_COALESCE_MS: '300' });
    const { metrics } = await startRelay();
    const run = ids(6, 1);
    const words = Array.from({ length: 200 }, (_, i) => `word${i} `);
    await append(runStart(run));
    await Promise.all(chunks(run, words).map((event) => h.log.append(event))); // one connection: appended in order
    await append([{ ...run, type: 'done', value: words.join('') }]);

    await waitTerminals([[6, 1]]);

    const planned = await expectFaithful(6, 1);
    const texts = delivered(6, 1).filter((c) => byKind(planned, c) === 'text');
    expect(texts.length).toBeLessThan(20);
    expect(metrics.coalescedTotal).toBeGreaterThan(150);
    const completed = delivered(6, 1).at(-1)!;
    expect(completed.body).toMatchObject({ status: 'COMPLETED', error_message: words.join(''), result: { value: words.join('') } });
  });

  it('flushes a held text snapshot once the coalescing interval has passed', async () => {
    await setUp({ CALLBACK_COALESCE_MS: '200' });
    await startRelay();
    const run = ids(7, 1);
    await append(runStart(run));
    await append(chunks(run, ['Hello', ', ', 'world']));

    await h.em.waitFor(
      () => delivered(7, 1).some((c) => (c.body.result as { value?: string } | undefined)?.value === 'Hello, world'),
      10_000,
      'the streamed text',
    );
    await append([{ ...run, type: 'done', value: 'Hello, world' }]);
    await waitTerminals([[7, 1]]);
    await expectFaithful(7, 1);
  });

  it('sends nothing after a terminal callback, even for events a broken writer added after it', async () => {
    await setUp({ CALLBACK_COALESCE_MS: '10000' });
    await startRelay();
    const run = ids(8, 1);
    await append([...runStart(run), ...chunks(run, ['partial', ' answer']), { ...run, type: 'cancelled', stage: 'running' }]);
    expect(await h.log.append({ ...run, type: 'done', value: 'too late' })).toEqual({ appended: false, terminal: 'cancelled' });
    // Bypass the append script: events after the terminal, announced in the outbox.
    for (const [seq, event] of [
      { ...run, type: 'chunk', item_id: 'x', text: '!' },
      { ...run, type: 'done', value: 'x' },
    ].entries()) {
      const id = await h.redis.xadd(
        h.keys.events(8, 1),
        '*',
        'seq',
        100 + seq,
        'type',
        event.type,
        'ts',
        new Date().toISOString(),
        'body',
        JSON.stringify(event),
      );
      await h.redis.xadd(h.keys.outbox, '*', 'task', 8, 'subtask', 1, 'id', id!);
    }

    await waitTerminals([[8, 1]]);
    await eventually(outboxDrained, 10_000);

    const got = delivered(8, 1);
    expect(got.at(-1)!.body).toMatchObject({ status: 'CANCELLED', progress: 100, error_message: '${{tasks.cancel_task}}' });
    expect(got.at(-1)!.body).not.toHaveProperty('result');
    // The text right before CANCELLED is never coalesced away: BE keeps that last result.
    expect((got.at(-2)!.body.result as { value?: string }).value).toBe('partial answer');
    expect(h.em.requests.filter((r) => r.body.subtask_id === 1 && r.body.task_id === 8).at(-1)!.body.status).toBe('CANCELLED');
  });

  it('logs and skips a callback that executor_manager rejects with a 4xx; the rest still goes out', async () => {
    await setUp();
    h.em.failNext(1, 422);
    const { metrics } = await startRelay();
    await append(successRun(ids(9, 1)));

    await waitTerminals([[9, 1]]);

    expect(metrics.rejectedTotal).toBe(1);
    expect(h.em.requests[0]).toMatchObject({ status: 422, body: { progress: 50 } });
    expect(delivered(9, 1)[0].body.progress).toBe(55);
  });

  it('stops promptly while a callback waits in back-off, leaving its entries pending', async () => {
    await setUp({ CALLBACK_RETRY_BASE_MS: '600000', CALLBACK_RETRY_MAX_MS: '600000' });
    h.em.failNext(Number.MAX_SAFE_INTEGER, 503);
    const { relay, app } = await startRelay();
    await append(runStart(ids(10, 1)));
    await h.em.waitFor((em) => em.requests.length > 0 && em.requests.every((r) => r.status === 503), 10_000, 'a failed attempt');

    await stopRelay(app); // bounded by `within`

    expect(relay.state).toBe('stopped');
    expect(await pendingOf(relay.consumer)).toBeGreaterThan(0);
    expect(await h.redis.exists(h.keys.relayLock(10, 1))).toBe(0);
  });

  it('idles with CALLBACK_URL unset and leaves the outbox untouched', async () => {
    await setUp();
    const config: Config = { ...h.config, CALLBACK_URL: undefined };
    const { relay } = await startRelay(config);
    await append(successRun(ids(11, 1)));

    expect(relay.state).toBe('idle');
    expect(await h.redis.xlen(h.keys.outbox)).toBe(successRun(ids(11, 1)).length);
    expect(await h.redis.xinfo('GROUPS', h.keys.outbox)).toEqual([]);
    expect(h.em.requests).toHaveLength(0);
  });
});

function byKind(planned: PlannedCallback[], callback: ReceivedCallback): PlannedCallback['kind'] | undefined {
  return planned.find((p) => p.eventId === eventIdOf(callback))?.kind;
}
