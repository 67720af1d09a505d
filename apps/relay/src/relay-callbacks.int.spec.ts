import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { StepTitle, type NewTaskEvent } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { RuntimeModule } from '@wegent-codex/runtime';
import { FakeExecutorManager } from '../../../test/fixtures/fake-executor-manager';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { RelayCounters, RelayModule } from '.';

/**
 * What executor_manager receives for one run, written out by hand (not computed by the fold): the
 * exact callback bodies, in order, each once — through one relay, and through a relay that stops
 * half-way and a new one that rebuilds the subtask's state from the log and its cursor.
 * Event times are fixed, so the workbench times are known.
 */
jest.setTimeout(30_000);

const ids = { task_id: 77, subtask_id: 3, attempt: 1 };
const git = {
  initial_commit_id: 'a1b2c3d',
  initial_commit_message: 'Initial commit',
  source_branch: 'main',
  target_branch: 'main',
  file_changes: [],
  task_commits: [],
};
const toolUse = {
  title: StepTitle.assistant,
  next_action: 'continue',
  details: { type: 'assistant', message: { content: [{ type: 'tool_use', id: 'call_1', name: 'Bash', input: { command: 'ls' } }] } },
} as const;

const EVENTS: NewTaskEvent[] = [
  {
    ...ids,
    type: 'status',
    phase: 'started',
    context: {
      task_title: 'Fix login',
      subtask_title: 'Fix login - Assistant',
      task_type: 'online',
      git_repo: 'acme/app',
      git_domain: 'github.com',
      branch_name: 'main',
      prompt: 'Fix it',
    },
  },
  { ...ids, type: 'status', phase: 'prepared', git },
  { ...ids, type: 'status', phase: 'agent-started' },
  { ...ids, type: 'thinking-step', step: toolUse, report: true },
  { ...ids, type: 'chunk', item_id: 'msg_1', text: 'Fixed' },
  { ...ids, type: 'chunk', item_id: 'msg_1', text: ' it.' },
  { ...ids, type: 'done', value: 'Fixed it.' },
];
/** Event n (1-based) is appended at 10:00:0n. */
const timeOf = (n: number) => new Date(Date.parse('2026-03-01T10:00:00.000Z') + n * 1_000);

// ---------------------------------------------------------------------------------------------
// The expected callbacks (docs/protocol/wegent-protocol.md §4–8), by hand.

const head = { task_id: 77, subtask_id: 3, task_title: 'Fix login', subtask_title: 'Fix login - Assistant', executor_name: 'codex-test' };
const workbench = (lastUpdated: string, ended?: string) => ({
  taskTitle: 'Fix login',
  taskNumber: '77',
  status: ended ? 'completed' : 'running',
  completedTime: ended ?? '',
  repository: 'acme/app',
  branch: 'main',
  sessions: 1,
  premiumRequests: 0,
  lastUpdated,
  summary: 'Fix login - Assistant',
  changes: [],
  originalPrompt: 'Fix it',
  file_changes: [],
  git_info: {
    initial_commit_id: 'a1b2c3d',
    initial_commit_message: 'Initial commit',
    task_commits: [],
    source_branch: 'main',
    target_branch: 'main',
  },
  git_domain: 'github.com',
  git_type: 'github',
});
const toolStep = {
  title: 'thinking.assistant_message_received',
  next_action: 'continue',
  details: { type: 'assistant', message: { content: [{ type: 'tool_use', id: 'call_1', name: 'Bash', input: { command: 'ls' } }] } },
};

const STARTED = { ...head, progress: 50, status: 'RUNNING', error_message: 'Task execution started', task_type: 'online' };
const PREPARED = {
  ...head,
  progress: 55,
  status: 'RUNNING',
  error_message: '${{thinking.initialize_agent}}',
  result: { thinking: [], workbench: workbench('2026-03-01T10:00:02.000Z') },
  task_type: 'online',
};
const AGENT_STARTED = { ...PREPARED, progress: 60, result: { thinking: [], workbench: workbench('2026-03-01T10:00:03.000Z') } };
const STEP = {
  ...head,
  progress: 75,
  status: 'RUNNING',
  error_message: 'Thinking: thinking.assistant_message_received',
  result: { thinking: [toolStep], workbench: workbench('2026-03-01T10:00:04.000Z') },
  task_type: 'online',
};
const TEXT_FIXED = { ...STEP, result: { value: 'Fixed', thinking: [toolStep], workbench: workbench('2026-03-01T10:00:05.000Z') } };
const COMPLETED = {
  ...head,
  progress: 100,
  status: 'COMPLETED',
  error_message: 'Fixed it.',
  result: { value: 'Fixed it.', thinking: [toolStep], workbench: workbench('2026-03-01T10:00:07.000Z', '2026-03-01T10:00:07.000Z') },
  task_type: 'online',
};

// ---------------------------------------------------------------------------------------------

const config = testConfig('relay-callbacks', { CALLBACK_COALESCE_MS: '0', EXECUTOR_NAME: 'codex-test', CALLBACK_RETRY_BASE_MS: '10' });
let em: FakeExecutorManager;
let redis: Redis;
let log: EventLogRepository;
const relays: TestingModule[] = [];

async function startRelay(): Promise<TestingModule> {
  const app = await Test.createTestingModule({
    imports: [RuntimeModule.forRoot({ ...config, CALLBACK_URL: em.url }), RelayModule.register({ metrics: new RelayCounters() })],
  }).compile();
  await app.init();
  relays.push(app);
  return app;
}

async function append(from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) await log.append(EVENTS[n - 1], timeOf(n));
}

const bodies = () => em.delivered().map((c) => c.body);

beforeEach(async () => {
  em = await FakeExecutorManager.start();
  redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  log = new EventLogRepository(redis, new RedisKeys(config.REDIS_PREFIX));
});
afterEach(async () => {
  for (const app of relays.splice(0)) await app.close();
  await em.close();
  redis.disconnect();
  await dropPrefix(config);
});

describe('relay: the callbacks of a run, written out', () => {
  it('one relay, the whole log at once: five callbacks (the streamed text superseded by the answer)', async () => {
    await append(1, 7);
    await startRelay();
    await em.waitFor((f) => f.delivered().some((c) => c.body.progress === 100), 10_000, 'the terminal callback');

    expect(bodies()).toEqual([STARTED, PREPARED, AGENT_STARTED, STEP, COMPLETED]);
    const keys = em.delivered().map((c) => c.idempotencyKey);
    for (const key of keys) expect(key).toMatch(/^wegent-codex:77:3:\d+-\d+$/);
    expect(new Set(keys).size).toBe(5);
    expect(em.requests).toHaveLength(5); // nothing POSTed but these
  });

  it('a relay stopped half-way: the next one rebuilds from the log and its cursor and re-sends nothing', async () => {
    await append(1, 5);
    const first = await startRelay();
    await em.waitFor((f) => f.delivered().length === 5, 10_000, 'the first five callbacks');
    await first.close();
    relays.splice(relays.indexOf(first), 1);
    expect(bodies()).toEqual([STARTED, PREPARED, AGENT_STARTED, STEP, TEXT_FIXED]);

    await append(6, 7);
    await startRelay();
    await em.waitFor((f) => f.delivered().some((c) => c.body.progress === 100), 10_000, 'the terminal callback');

    expect(bodies()).toEqual([STARTED, PREPARED, AGENT_STARTED, STEP, TEXT_FIXED, COMPLETED]);
    expect(em.duplicates()).toEqual([]);
    expect(em.requests).toHaveLength(6);
  });

  it('refused callbacks (503) are sent again until answered, and only those', async () => {
    await append(1, 7);
    em.failNext(2, 503); // STARTED is refused twice, then delivered
    await startRelay();
    await em.waitFor((f) => f.delivered().some((c) => c.body.progress === 100), 10_000, 'the terminal callback');

    expect(em.requests.map((r) => [r.status, r.body.progress])).toEqual([
      [503, 50],
      [503, 50],
      [200, 50],
      [200, 55],
      [200, 60],
      [200, 75],
      [200, 100],
    ]);
    expect(em.requests[0].idempotencyKey).toBe(em.requests[2].idempotencyKey); // a retry is the same callback
    expect(bodies()).toEqual([STARTED, PREPARED, AGENT_STARTED, STEP, COMPLETED]);
    expect(em.duplicates()).toEqual([]);
  });
});
