import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { jobIdFor, TASK_QUEUE_NAME, type NewTaskEvent, type RunContext } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys, foldCallbacks } from '@wegent-codex/event-log';
import { redisOptionsFromUrl } from '@wegent-codex/runtime';
import { FakeExecutorManager } from '../../../test/fixtures/fake-executor-manager';
import { dropPrefix, eventually } from '../../../test/support/test-config';
import type { CliOutput } from './cli-context';
import { runCli } from './main';

/**
 * The operator CLI in-process against a real Redis (own key prefix). Runs are simulated by
 * appending events to the log the way a worker does, so every command sees real keys, real
 * BullMQ jobs and the real fold.
 */
const prefix = `test-cli-${randomBytes(4).toString('hex')}`;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const env = (extra: Record<string, string> = {}) => ({
  REDIS_URL,
  REDIS_PREFIX: prefix,
  LOG_LEVEL: 'silent',
  EXECUTOR_NAME: 'codex-test',
  SECRETS_KEY: 'cli-test-secrets-key',
  ...extra,
});
const SECRET = 'sk-cli-SECRET-0123456789abcdef';

function capture(): CliOutput & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), stdout: () => out, stderr: () => err };
}

type CliOptions = { env?: Record<string, string>; signal?: AbortSignal; stdin?: string };

/** A running command: its output so far, and its end. */
function startCli(argv: string[], options: CliOptions = {}) {
  const io = capture();
  const stdin = options.stdin === undefined ? undefined : async () => options.stdin!;
  const done = runCli(argv, { env: options.env ?? env(), io, signal: options.signal, stdin }).then((code) => ({
    code,
    stdout: io.stdout(),
    stderr: io.stderr(),
  }));
  return { io, done };
}

async function cli(argv: string[], options: CliOptions = {}) {
  return startCli(argv, options).done;
}

const payload = (task: number, sub: number, extra: Record<string, unknown> = {}) => ({
  task_id: task,
  subtask_id: sub,
  task_title: 'Fix the build',
  subtask_title: 'Fix the build - Assistant',
  bot: [{ shell_type: 'Codex', agent_config: { env: { model: 'openai', model_id: 'm', api_key: SECRET } } }],
  prompt: 'hello',
  ...extra,
});

const context: RunContext = {
  task_title: 'Fix the build',
  subtask_title: 'Fix the build - Assistant',
  task_type: 'online',
  git_repo: '',
  git_domain: '',
  branch_name: '',
  prompt: 'hello',
};

/** The events of a short successful run: milestones, a command with its result, a streamed answer. */
function successfulRun(task: number, sub: number): NewTaskEvent[] {
  const e = { task_id: task, subtask_id: sub, attempt: 1 };
  return [
    { ...e, type: 'status', phase: 'started', context },
    { ...e, type: 'status', phase: 'prepared' },
    { ...e, type: 'status', phase: 'agent-started' },
    {
      ...e,
      type: 'thinking-step',
      report: true,
      step: {
        title: 'thinking.assistant_message_received',
        next_action: 'continue',
        details: {
          type: 'assistant',
          message: { content: [{ type: 'tool_use', id: 't1', name: 'Bash', input: { command: 'git log --oneline -1' } }] },
        },
      },
    },
    {
      ...e,
      type: 'thinking-step',
      report: false,
      step: {
        title: 'thinking.user_message_received',
        next_action: 'continue',
        details: {
          type: 'user',
          message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: 'abc123 Initial commit', is_error: false }] },
        },
      },
    },
    { ...e, type: 'chunk', item_id: 'msg1', text: 'The build ' },
    { ...e, type: 'chunk', item_id: 'msg1', text: 'is fixed.' },
    { ...e, type: 'done', value: 'The build is fixed.' },
  ];
}

describe('wegent-codex CLI (in-process, real Redis)', () => {
  let redis: Redis;
  let events: EventLogRepository;
  let queue: Queue;
  let dir: string;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    events = new EventLogRepository(redis, new RedisKeys(prefix));
    queue = new Queue(TASK_QUEUE_NAME, { connection: redisOptionsFromUrl(REDIS_URL), prefix });
    await queue.waitUntilReady();
    dir = await mkdtemp(join(tmpdir(), 'wegent-cli-'));
  });

  afterAll(async () => {
    await queue.close();
    redis.disconnect();
    await dropPrefix({ REDIS_URL, REDIS_PREFIX: prefix });
    await rm(dir, { recursive: true, force: true });
  });

  const append = async (list: NewTaskEvent[]) => {
    for (const event of list) await events.append(event);
  };

  describe('arguments and configuration', () => {
    it('prints usage for --help (0), and refuses no command, unknown commands, bad ids and arity (2)', async () => {
      const help = await cli(['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('usage: wegent-codex <command>');
      expect((await cli([])).code).toBe(2);
      const unknown = await cli(['frobnicate']);
      expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringContaining('unknown command "frobnicate"')]);
      expect((await cli(['status', 'abc'])).stderr).toContain('non-negative integers');
      expect((await cli(['replay', '1'])).stderr).toContain('replay takes 2 argument(s)');
      expect((await cli(['status', '1', '--bogus'])).code).toBe(2);
    });

    it('names a bad variable (2) and says how to reach Redis when it cannot (1), quickly', async () => {
      const bad = await cli(['status', '1'], { env: env({ REDIS_PREFIX: 'has space' }) });
      expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/^wegent-codex: invalid configuration: REDIS_PREFIX: /)]);
      const started = Date.now();
      const down = await cli(['status', '1'], { env: env({ REDIS_URL: 'redis://127.0.0.1:1' }) });
      expect([down.code, down.stderr]).toEqual([
        1,
        "wegent-codex: cannot reach Redis at 127.0.0.1:1: set REDIS_URL to the service's Redis\n",
      ]);
      expect(Date.now() - started).toBeLessThan(5_000);
    });
  });

  describe('enqueue', () => {
    it('validates, enqueues through the queue library (no secret in the job) and is idempotent', async () => {
      const file = join(dir, 'task.json');
      await writeFile(file, JSON.stringify(payload(101, 1)));
      const first = await cli(['enqueue', file]);
      expect(first).toMatchObject({ code: 0, stdout: 'enqueued task-101-sub-1 (waiting)\n' });
      expect(first.stderr).toContain('no worker is registered');
      const job = await queue.getJob('task-101-sub-1');
      expect(job!.data).toMatchObject({
        task_id: 101,
        subtask_id: 1,
        title: 'Fix the build - Assistant',
        payloadRef: `${prefix}:payload:101:1`,
      });
      expect(JSON.stringify(job!.data)).not.toContain(SECRET);
      expect(await redis.get(`${prefix}:payload:101:1`)).toMatch(/^gcm1:/); // sealed with SECRETS_KEY
      const again = await cli(['enqueue', file, '--json']);
      expect(JSON.parse(again.stdout)).toEqual({ job_id: 'task-101-sub-1', task_id: 101, subtask_id: 1, state: 'waiting', created: false });
    });

    it('reads stdin with "-"', async () => {
      const result = await cli(['enqueue', '-'], { stdin: JSON.stringify(payload(102, 1)) });
      expect(result.stdout).toBe('enqueued task-102-sub-1 (waiting)\n');
    });

    it('refuses an invalid payload, bad JSON and a missing file, enqueueing nothing', async () => {
      const invalid = join(dir, 'invalid.json');
      await writeFile(invalid, JSON.stringify({ task_id: 103, subtask_id: 1, prompt: 'x' }));
      const result = await cli(['enqueue', invalid]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('is not a valid task payload; nothing was enqueued');
      expect(result.stderr).toContain('  bot: ');
      expect(await queue.getJob('task-103-sub-1')).toBeUndefined();
      const notJson = join(dir, 'not.json');
      await writeFile(notJson, '{"task_id": ');
      expect(await cli(['enqueue', notJson])).toMatchObject({ code: 1, stderr: `${notJson} is not valid JSON\n` });
      expect(await cli(['enqueue', join(dir, 'missing.json')])).toMatchObject({ code: 2, stderr: expect.stringContaining('ENOENT') });
    });
  });

  describe('status', () => {
    it('lists the subtasks of a task (finished from events, queued from the job) and shows one in detail', async () => {
      await append(successfulRun(200, 1));
      await cli(['enqueue', '-'], { stdin: JSON.stringify(payload(200, 2)) });
      const table = await cli(['status', '200']);
      expect(table.code).toBe(0);
      const lines = table.stdout.trim().split('\n');
      expect(lines[0]).toBe('task 200');
      expect(lines[1]).toMatch(/^SUBTASK\s+STATE\s+JOB\s+PROGRESS\s+EVENTS\s+UPDATED\s+MESSAGE$/);
      expect(lines[2]).toMatch(/^1\s+completed\s+-\s+100%\s+8\s+\S+Z\s+The build is fixed\.$/);
      expect(lines[3]).toMatch(/^2\s+queued\s+waiting\s+0%\s+0\s+-/);

      const one = await cli(['status', '200', '1']);
      expect(one.stdout).toContain('state     completed (COMPLETED)');
      expect(one.stdout).toContain('progress  [####################] 100%');
      expect(one.stdout).toContain('thinking  2 step(s), last: thinking.user_message_received');
      expect(one.stdout).toContain('answer\n  The build is fixed.');

      const json = JSON.parse((await cli(['status', '200', '--json'])).stdout);
      expect(json.subtasks.map((s: { subtask_id: number; state: string }) => [s.subtask_id, s.state])).toEqual([
        [1, 'completed'],
        [2, 'queued'],
      ]);
    });

    it('says so when nothing of the task exists (1)', async () => {
      expect(await cli(['status', '999'])).toMatchObject({ code: 1, stderr: 'no subtask of task 999 found (no job, no events)\n' });
      expect(await cli(['status', '999', '4'])).toMatchObject({ code: 1, stderr: 'no job and no events for task 999 subtask 4\n' });
    });
  });

  describe('tail', () => {
    it('follows a queued subtask live to its end: bars, commands, results, the streamed answer (0)', async () => {
      await cli(['enqueue', '-'], { stdin: JSON.stringify(payload(300, 1)) });
      const tail = startCli(['tail', '300']);
      await eventually(() => tail.io.stdout().includes('waiting for a worker'), 10_000); // now following live
      for (const event of successfulRun(300, 1)) {
        await events.append(event);
        await new Promise((r) => setTimeout(r, 20)); // paced like a live run, not a wait for anything
      }
      const result = await tail.done;
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(
        [
          'task 300 · subtask 1 · Fix the build - Assistant',
          'queued (job waiting): waiting for a worker…',
          '[##########----------]  50%  RUNNING    Task execution started',
          '[###########---------]  55%  RUNNING    thinking.initialize_agent',
          '[############--------]  60%  RUNNING    thinking.initialize_agent',
          '[###############-----]  75%  RUNNING    Thinking: thinking.assistant_message_received',
          '  $ git log --oneline -1',
          '  = abc123 Initial commit',
          '» The build is fixed.',
          '[####################] 100%  COMPLETED',
          '',
        ].join('\n'),
      );
    });

    it('ends a failed subtask with the error (1) and a cancelled one with 3', async () => {
      const e = { task_id: 301, subtask_id: 1, attempt: 1 };
      await append([
        { ...e, type: 'status', phase: 'started', context },
        { ...e, type: 'error', kind: 'exception', message: 'Codex could not start' },
      ]);
      const failed = await cli(['tail', '301', '1']);
      expect(failed.code).toBe(1);
      expect(failed.stdout).toContain('[####################] 100%  FAILED     Codex could not start\nerror: Codex could not start\n');
      await append([{ task_id: 302, subtask_id: 1, attempt: 0, type: 'cancelled', stage: 'queued' }]);
      expect((await cli(['tail', '302', '1'])).code).toBe(3);
    });

    it('stops at once on Ctrl-C (130), leaving the task alone', async () => {
      await cli(['enqueue', '-'], { stdin: JSON.stringify(payload(303, 1)) });
      const controller = new AbortController();
      const tail = startCli(['tail', '303', '1'], { signal: controller.signal });
      await eventually(() => tail.io.stdout().includes('waiting for a worker'), 10_000);
      const aborted = Date.now();
      controller.abort();
      const result = await tail.done;
      expect(Date.now() - aborted).toBeLessThan(1_000);
      expect(result.code).toBe(130);
      expect(result.stdout).toContain('stopped following; the task itself goes on');
      expect(await queue.getJob(jobIdFor(303, 1))).toBeDefined();
    });

    it('refuses an unknown subtask (1), unless told to --wait for it', async () => {
      expect(await cli(['tail', '998', '1'])).toMatchObject({ code: 1, stderr: 'no job and no events for task 998 subtask 1\n' });
      // Redis's MONITOR shows the waiting command's first look for the subtask, which finds nothing yet.
      const monitor = await redis.monitor();
      const commands: string[] = [];
      monitor.on('monitor', (_time: string, args: string[]) => void commands.push(args.join(' ')));
      const waiting = cli(['tail', '--wait', '304', '1']);
      try {
        const looked = () => commands.some((c) => c.includes(`${prefix}:events-meta:304:1`));
        await eventually(looked, 'the tail to look for subtask 304.1 once', 10_000);
      } finally {
        monitor.disconnect();
      }
      await append(successfulRun(304, 1));
      const result = await waiting;
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('100%  COMPLETED');
    });
  });

  describe('cancel', () => {
    it('removes a waiting subtask with one cancelled event; a second cancel finds nothing (1)', async () => {
      await cli(['enqueue', '-'], { stdin: JSON.stringify(payload(400, 1)) });
      const first = await cli(['cancel', '400']);
      expect(first).toMatchObject({ code: 0, stdout: 'subtask 1: removed from the queue (cancelled)\n' });
      expect((await events.read(400, 1)).map((s) => s.event.type)).toEqual(['cancelled']);
      expect(await cli(['cancel', '400'])).toMatchObject({ code: 1, stderr: 'nothing of task 400 is waiting or running\n' });
      expect(JSON.parse((await cli(['cancel', '400', '--json'])).stdout)).toEqual({ task_id: 400, cancelled: [] });
    });
  });

  describe('replay', () => {
    let em: FakeExecutorManager;
    beforeAll(async () => {
      em = await FakeExecutorManager.start();
    });
    afterAll(() => em.close());

    it("re-sends the folded callbacks of a finished subtask, in order, with the relay's Idempotency-Keys", async () => {
      await append(successfulRun(500, 1));
      const result = await cli(['replay', '500', '1'], { env: env({ CALLBACK_URL: em.url }) });
      expect(result.code).toBe(0);
      const expected = foldCallbacks(500, 1, await events.read(500, 1), { executorName: 'codex-test' });
      expect(em.requests.map((r) => r.idempotencyKey)).toEqual(expected.map((c) => `wegent-codex:500:1:${c.eventId}`));
      expect(em.requests.map((r) => r.body)).toEqual(expected.map((c) => c.body));
      expect(result.stdout.split('\n')[0]).toBe(`sending ${expected.length} callback(s) of task 500 subtask 1 (done) to ${em.url}`);
      expect(result.stdout).toMatch(/COMPLETED\s+100\s+The build is fixed\.\s+→ 200/);
    });

    it('lists without sending on --dry-run, and sends to --to instead of CALLBACK_URL', async () => {
      const before = em.requests.length;
      const dry = await cli(['replay', '500', '1', '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('would send');
      expect(dry.stdout).toMatch(/key wegent-codex:500:1:\d+-\d+/);
      expect(em.requests.length).toBe(before);
      expect((await cli(['replay', '500', '1', '--to', em.url])).code).toBe(0);
      expect(em.requests.length).toBeGreaterThan(before);
    });

    it('refuses an unfinished subtask (1) and a missing endpoint (2)', async () => {
      const e = { task_id: 501, subtask_id: 1, attempt: 1 };
      await append([{ ...e, type: 'status', phase: 'started', context }]);
      expect(await cli(['replay', '501', '1', '--to', em.url])).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('is not finished'),
      });
      expect(await cli(['replay', '500', '1'])).toMatchObject({ code: 2, stderr: 'CALLBACK_URL is not set: set it or pass --to URL\n' });
    });

    it('replays a 2026 subtask without its deltas (the backend appends every delta): created, blocks, terminal', async () => {
      const e = { task_id: 502, subtask_id: 1, attempt: 1 };
      await append([
        {
          ...e,
          type: 'status',
          phase: 'started',
          context: { ...context, protocol: '2026', responses: { message_id: 2, executor_name: 'wegent-task-x' } },
        },
        { ...e, type: 'chunk', item_id: 'm', text: 'Fixed ' },
        {
          ...e,
          type: 'thinking-step',
          report: true,
          step: {
            title: 'thinking.assistant_message_received',
            next_action: 'continue',
            details: {
              type: 'assistant',
              message: { content: [{ type: 'tool_use', id: 'call_1', name: 'Bash', input: { command: 'ls' } }] },
            },
          },
        },
        { ...e, type: 'reasoning', item_id: 'r', text: 'think' },
        { ...e, type: 'chunk', item_id: 'm', text: 'it.' },
        { ...e, type: 'done', value: 'Fixed it.' },
      ]);
      const before = em.requests.length;
      expect((await cli(['replay', '502', '1', '--to', em.url])).code).toBe(0);
      const sent = em.requests.slice(before).map((r) => [r.body.event_type, r.body.executor_name]);
      expect(sent).toEqual([
        ['response.created', 'wegent-task-x'],
        ['response.block.created', 'wegent-task-x'],
        ['response.completed', 'wegent-task-x'],
      ]);
      expect(em.requests.at(-1)!.body).toMatchObject({ data: { response: { output: [{ content: [{ text: 'Fixed it.' }] }] } } });
    });

    it('reports callbacks the endpoint rejects (1)', async () => {
      em.failNext(1, 400);
      const result = await cli(['replay', '500', '1', '--to', em.url]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('→ rejected 400');
      expect(result.stderr).toBe('1 callback(s) were not accepted\n');
    });
  });
});
