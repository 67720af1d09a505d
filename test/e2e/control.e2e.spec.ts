import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lstat, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { closeEarly, exec, hang, httpError, message, pause, turn } from '../fixtures/fake-responses';
import { waitRelayDone } from '../support/relay-done';
import { eventually } from '../support/test-config';
import {
  expectSingleTerminalLast,
  startServiceApp,
  stepsOf as steps,
  taskPayload,
  type Callback,
  type ServiceApp,
  type TaskPayloadOptions,
} from '../support/service-app';

/**
 * The worker's control paths end to end — cancel (running and waiting), model errors, a broken
 * stream, the idle watchdog, follow-ups resuming the thread, per-task serialisation, an unsupported
 * shell type and image validation — with real Redis, the real Codex binary and a scripted model.
 * One app for the whole file; every test has its own task ids, and the fake model routes each
 * request to that task's script by a marker in the prompt.
 */
const API_KEY = 'sk-control-SECRET-0a1b2c3d4e5f60718293';
const CONTROL_ENV = {
  CODEX_STREAM_IDLE_TIMEOUT_MS: '120000',
  CODEX_IDLE_TIMEOUT_MS: '120000',
  CANCEL_GRACE_MS: '1000',
  WORKER_CONCURRENCY: '4',
};

const payload = (h: ServiceApp, taskId: number, subtaskId: number, prompt: string, overrides: Partial<TaskPayloadOptions> = {}) =>
  taskPayload(h, taskId, subtaskId, prompt, { apiKey: API_KEY, modelId: 'wegent-control-model', title: `Control ${taskId}`, ...overrides });

async function execute(h: ServiceApp, body: Record<string, unknown>): Promise<void> {
  const answer = await h.execute(body);
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ task_id: body.task_id, subtask_id: body.subtask_id, status: 'RUNNING', progress: 50 });
}

async function cancel(h: ServiceApp, taskId: number): Promise<{ status: number; text: string }> {
  const res = await fetch(`${h.baseUrl}/api/tasks/cancel?task_id=${taskId}`, { method: 'POST' });
  return { status: res.status, text: await res.text() };
}

/** Index (arrival order among all delivered callbacks) of the first callback matching `predicate`. */
const indexOf = (h: ServiceApp, predicate: (c: Callback) => boolean): number =>
  h.em.delivered().findIndex((c) => predicate(c.body as unknown as Callback));

/** PIDs of processes whose command line contains `needle` and whose cwd is under `dir`. */
async function processesOf(needle: string, dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      if (!cmdline.includes(needle)) continue;
      const cwd = await readlink(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) found.push(Number(entry));
    } catch {
      // the process ended meanwhile, or is not ours to read
    }
  }
  return found;
}

describe('e2e: worker control paths (real Codex, real Redis)', () => {
  let h: ServiceApp;

  beforeAll(async () => {
    h = await startServiceApp('control', { env: CONTROL_ENV });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  }, 60_000);

  it('cancels a run while a command is running: one CANCELLED, nothing after, the command is gone', async () => {
    const taskId = 9101;
    const taskDir = join(h.workspaceRoot, String(taskId));
    h.router.script(taskId, turn([exec('sleep 300', { yieldTimeMs: 600_000 })]));
    await execute(h, payload(h, taskId, 1, 'Sleep for a while.'));

    const sleeping = await eventually(
      async () => {
        const pids = await processesOf('sleep 300', taskDir);
        return pids.length > 0 && pids;
      },
      60_000,
      100,
    );
    expect(h.callbacksOf(taskId, 1).some((c) => c.progress === 100)).toBe(false);

    const first = await cancel(h, taskId);
    expect(first).toEqual({ status: 200, text: `{"message":"[task_id: ${taskId}.-1] Task cancelled"}` });

    const terminal = await h.waitTerminal(taskId, 1, 30_000);
    expect(terminal).toEqual({
      task_id: taskId,
      subtask_id: 1,
      task_title: `Control ${taskId}`,
      subtask_title: `Control ${taskId}.1`,
      executor_name: 'codex-test',
      status: 'CANCELLED',
      progress: 100,
      error_message: '${{tasks.cancel_task}}',
    });
    expect('result' in terminal).toBe(false);
    expect('task_type' in terminal).toBe(false);
    const all = await expectSingleTerminalLast(h, taskId, 1);
    expect(all.some((c) => c.status === 'COMPLETED' || c.status === 'FAILED')).toBe(false);

    await eventually(async () => (await processesOf('sleep 300', taskDir)).length === 0, 15_000, 100);
    // The very processes seen before the cancel are gone (not merely moved out of the workspace).
    for (const pid of sleeping) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      expect(cmdline.split('\0').join(' ')).not.toContain('sleep 300');
    }

    const second = await cancel(h, taskId);
    expect(second).toEqual({ status: 400, text: `{"detail":"[task_id: ${taskId}.-1] No session found"}` });
  }, 120_000);

  describe('cancel while the workspace is still being prepared', () => {
    // A server that takes every request and never answers: the run's preparation (its clone, or
    // its skill lookup) waits on it until the cancel.
    let silent: Server;
    const asked: string[] = [];
    let base = '';
    beforeAll(async () => {
      silent = createServer((req) => void asked.push(req.url ?? ''));
      await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
      base = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      silent.closeAllConnections();
      await new Promise((done) => silent.close(done));
    });

    const cases: [string, number, (taskId: number) => Partial<TaskPayloadOptions>, string][] = [
      [
        'the clone is waiting',
        9131,
        () => ({ git_url: `${base}/alice/app.git`, git_repo: 'alice/app', branch_name: 'main' }),
        '/alice/app.git/',
      ],
      [
        'a skill download is waiting',
        9132,
        () => ({ bot: { skills: ['slow_skill'] }, auth_token: 'skill-token-1', backend_url: base }),
        '/api/v1/kinds/skills?name=slow_skill',
      ],
    ];
    it.each(cases)(
      '%s: one CANCELLED, never FAILED, Codex never asked',
      async (_what, taskId, fields, path) => {
        await execute(h, payload(h, taskId, 1, 'Never runs.', fields(taskId)));
        await eventually(() => asked.some((url) => url.startsWith(path)), 30_000, 50);
        expect(h.callbacksOf(taskId, 1).some((c) => c.progress === 100)).toBe(false);

        expect((await cancel(h, taskId)).status).toBe(200);
        const terminal = await h.waitTerminal(taskId, 1, 30_000);
        expect(terminal).toMatchObject({ status: 'CANCELLED', progress: 100, error_message: '${{tasks.cancel_task}}' });
        const all = await expectSingleTerminalLast(h, taskId, 1);
        expect(all.some((c) => c.status === 'FAILED' || c.status === 'COMPLETED')).toBe(false);
        expect(h.router.requestsOf(taskId)).toEqual([]);
      },
      90_000,
    );
  });

  it('cancels a task with a running and a waiting subtask: both CANCELLED once, the waiting one never starts', async () => {
    const taskId = 9102;
    h.router.script(taskId, hang([message('Thinking about it', { phase: 'commentary' })]));
    await execute(h, payload(h, taskId, 1, 'Hang on.'));
    await eventually(() => h.router.requestsOf(taskId).length >= 1, 60_000);
    await execute(h, payload(h, taskId, 2, 'The follow-up.'));
    // The follow-up is parked behind the running subtask: a delayed job that only its lane promotes.
    const parked = (line: string) => {
      const l = JSON.parse(line) as Record<string, unknown>;
      return l.msg === 'task enqueued' && l.task_id === taskId && l.subtask_id === 2 && l.parked === true;
    };
    await eventually(() => h.logs.some(parked), 'the follow-up to be enqueued parked', 10_000);
    expect(h.callbacksOf(taskId, 2)).toEqual([]);

    expect(await cancel(h, taskId)).toEqual({ status: 200, text: `{"message":"[task_id: ${taskId}.-1] Task cancelled"}` });
    await h.waitTerminal(taskId, 1, 30_000);
    await h.waitTerminal(taskId, 2, 30_000);
    for (const sub of [1, 2]) {
      const callbacks = await expectSingleTerminalLast(h, taskId, sub);
      const last = callbacks[callbacks.length - 1];
      expect(last).toMatchObject({ status: 'CANCELLED', progress: 100, error_message: '${{tasks.cancel_task}}' });
      expect('result' in last).toBe(false);
    }
    // The follow-up never ran: only its CANCELLED, and the model never saw its prompt.
    expect(h.callbacksOf(taskId, 2).map((c) => [c.status, c.progress])).toEqual([['CANCELLED', 100]]);
    expect(h.fake.modelRequests().some((r) => JSON.stringify(r.body?.input ?? '').includes('The follow-up.'))).toBe(false);
    expect((await cancel(h, taskId)).status).toBe(400);
  }, 120_000);

  it('reports a model error (HTTP 400) as FAILED with the error text, thinking, workbench and error', async () => {
    const taskId = 9103;
    h.router.script(taskId, httpError(400, { error: { message: 'bad input', type: 'invalid_request_error' } }));
    await execute(h, payload(h, taskId, 1, 'Trigger an error.'));
    const terminal = await h.waitTerminal(taskId, 1);
    await expectSingleTerminalLast(h, taskId, 1);
    expect(terminal).toMatchObject({ status: 'FAILED', progress: 100, task_type: 'online' });
    expect(terminal.error_message).toContain('bad input');
    expect(terminal.result).toBeDefined();
    expect(terminal.result!.value).toBeUndefined();
    expect(String(terminal.result!.error)).toContain('bad input');
    const thinking = steps(terminal);
    expect(thinking[0].title).toBe('thinking.initialize_agent');
    expect(thinking[thinking.length - 1].title).toBe('thinking.task_execution_failed');
    expect(terminal.result!.workbench).toMatchObject({ status: 'failed' });
  }, 120_000);

  it('reports a stream that closes early (no retries) as FAILED', async () => {
    const taskId = 9104;
    h.router.script(taskId, closeEarly([message('Partial answ', { phase: 'final_answer' })]));
    await execute(h, payload(h, taskId, 1, 'Break the stream.'));
    const terminal = await h.waitTerminal(taskId, 1);
    await expectSingleTerminalLast(h, taskId, 1);
    expect(terminal).toMatchObject({ status: 'FAILED', progress: 100 });
    expect(terminal.error_message).toBe('stream disconnected before completion: stream closed before response.completed');
    expect(terminal.result?.error).toBe('stream disconnected before completion: stream closed before response.completed');
    expect(terminal.result?.workbench).toMatchObject({ status: 'failed' });
  }, 120_000);

  it('resumes the thread for a follow-up subtask: same session, same workspace, the conversation continues', async () => {
    const taskId = 9105;
    h.router.script(
      taskId,
      turn([message('first answer', { phase: 'final_answer' })]),
      turn([message('second answer', { phase: 'final_answer' })]),
    );
    await execute(h, payload(h, taskId, 1, 'What is the first thing?'));
    const one = await h.waitTerminal(taskId, 1);
    expect(one).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: 'first answer' });

    await execute(h, payload(h, taskId, 2, 'And the second thing?'));
    const two = await h.waitTerminal(taskId, 2);
    expect(two).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: 'second answer' });
    await expectSingleTerminalLast(h, taskId, 2);

    const requests = h.router.requestsOf(taskId);
    expect(requests.length).toBeGreaterThanOrEqual(2);
    const input = JSON.stringify(requests[requests.length - 1].body.input);
    expect(input).toContain('What is the first thing?');
    expect(input).toContain('first answer');
    expect(input).toContain('And the second thing?');

    const systemOf = (c: Callback) => steps(c).find((s) => s.title === 'thinking.system_message_received')!.details!;
    const s1 = systemOf(one);
    const s2 = systemOf(two);
    expect(s1.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(s2.session_id).toBe(s1.session_id);
    const taskDir = join(h.workspaceRoot, String(taskId));
    expect(s1.cwd).toBe(taskDir);
    expect(s2.cwd).toBe(taskDir);
  }, 180_000);

  it("starts a fresh thread, and says so, when the task's thread cannot be resumed (its files are gone)", async () => {
    const taskId = 9111;
    h.router.script(
      taskId,
      turn([message('first answer', { phase: 'final_answer' })]),
      turn([message('fresh answer', { phase: 'final_answer' })]),
    );
    await execute(h, payload(h, taskId, 1, 'Remember this.'));
    const one = await h.waitTerminal(taskId, 1);
    // The run is over, not just its terminal callback: with a warm process (CODEX_WARM_POOL) the
    // task's state folder stands in a slot until the tree is gone (docs/en/decisions.md).
    await eventually(async () => !(await lstat(join(h.workspaceRoot, '.task-state', String(taskId)))).isSymbolicLink(), 20_000);
    // The thread's rollout disappears (e.g. the volume was cleaned): resume is impossible.
    await rm(join(h.workspaceRoot, '.task-state', String(taskId), 'codex-home', 'sessions'), { recursive: true, force: true });

    await execute(h, payload(h, taskId, 2, 'Do you remember?'));
    const two = await h.waitTerminal(taskId, 2);
    expect(two).toMatchObject({ status: 'COMPLETED', error_message: 'fresh answer' });
    const systemOf = (c: Callback) => steps(c).find((s) => s.title === 'thinking.system_message_received')!.details!;
    expect(systemOf(two).session_id).not.toBe(systemOf(one).session_id);
    expect(systemOf(two).resume_note).toEqual(expect.stringContaining('could not be resumed'));
    const input = JSON.stringify(h.router.requestsOf(taskId).at(-1)!.body.input);
    expect(input).not.toContain('Remember this.');
  }, 180_000);

  it('runs two subtasks of one task one after the other, while another task runs in parallel', async () => {
    const taskA = 9106;
    const taskC = 9107;
    h.router.script(
      taskA,
      turn([message('Working on A1', { phase: 'commentary' }), pause(2_500), message('A1 done', { phase: 'final_answer' })]),
      turn([message('A2 done', { phase: 'final_answer' })]),
    );
    h.router.script(
      taskC,
      turn([message('Working on C', { phase: 'commentary' }), pause(1_500), message('C done', { phase: 'final_answer' })]),
    );
    await execute(h, payload(h, taskA, 1, 'Subtask A1.'));
    await execute(h, payload(h, taskA, 2, 'Subtask A2.'));
    await execute(h, payload(h, taskC, 1, 'Task C.'));

    await h.waitTerminal(taskA, 1);
    await h.waitTerminal(taskA, 2);
    await h.waitTerminal(taskC, 1);
    for (const [t, s] of [
      [taskA, 1],
      [taskA, 2],
      [taskC, 1],
    ]) {
      const callbacks = await expectSingleTerminalLast(h, t, s);
      expect(callbacks[callbacks.length - 1].status).toBe('COMPLETED');
    }
    const a1End = indexOf(h, (c) => c.task_id === taskA && c.subtask_id === 1 && c.progress === 100);
    const a2Start = indexOf(h, (c) => c.task_id === taskA && c.subtask_id === 2 && c.status === 'RUNNING' && c.progress === 50);
    const cStart = indexOf(h, (c) => c.task_id === taskC && c.progress === 50);
    expect(a1End).toBeGreaterThanOrEqual(0);
    expect(a2Start).toBeGreaterThan(a1End);
    // Task C did not wait for task A.
    expect(cStart).toBeGreaterThanOrEqual(0);
    expect(cStart).toBeLessThan(a1End);
  }, 180_000);

  it('refuses an unsupported shell type: RUNNING/50 then FAILED "Unable to get or create agent", no result', async () => {
    const taskId = 9108;
    await execute(h, payload(h, taskId, 3, 'Use Claude.', { bot: { shell_type: 'ClaudeCode' } }));
    await h.waitTerminal(taskId, 3);
    const callbacks = await expectSingleTerminalLast(h, taskId, 3);
    expect(callbacks.map((c) => [c.status, c.progress, c.error_message])).toEqual([
      ['RUNNING', 50, 'Task execution started'],
      ['FAILED', 100, `[task_id: ${taskId}.3] Unable to get or create agent`],
    ]);
    expect('result' in callbacks[1]).toBe(false);
    expect(h.router.requestsOf(taskId)).toHaveLength(0);
  }, 60_000);

  it('runs an image validation and answers with the validation callback sequence', async () => {
    const taskId = 734512;
    const validationId = '5f0c-control';
    await execute(h, {
      task_id: taskId,
      subtask_id: 1,
      task_title: 'Image Validation: my-codex-shell',
      subtask_title: 'Validating Codex dependencies',
      type: 'validation',
      bot: [{ agent_name: 'ImageValidator', base_image: 'registry.example.com/wegent-codex:1.0' }],
      user: { name: 'alice' },
      validation_params: {
        shell_type: 'Codex',
        image: 'registry.example.com/wegent-codex:1.0',
        shell_name: 'my-codex-shell',
        validation_id: validationId,
      },
      executor_image: 'registry.example.com/wegent-codex:1.0',
    });
    await h.em.waitFor(
      () => h.callbacksOf(taskId, 1).some((c) => c.error_message === 'Image validation completed'),
      90_000,
      'validation completed',
    );
    await waitRelayDone(h.config, taskId, 1);
    const callbacks = h.callbacksOf(taskId, 1);
    for (const c of callbacks) expect(c.task_type).toBe('validation');

    expect(callbacks[0]).toMatchObject({
      status: 'RUNNING',
      progress: 50,
      error_message: 'Task execution started',
      result: { validation_id: validationId, stage: 'running' },
    });
    expect(callbacks[1]).toMatchObject({
      status: 'RUNNING',
      progress: 70,
      error_message: 'Running dependency checks',
      result: { stage: 'running_checks', validation_id: validationId, current_check: null },
    });
    const messages = callbacks.map((c) => c.error_message);
    for (const name of ['node', 'codex', 'git']) {
      const c = callbacks.find((x) => x.error_message === `Checking ${name}`);
      expect(c).toMatchObject({ status: 'RUNNING', result: { stage: 'running_checks', validation_id: validationId, current_check: name } });
      expect(c!.progress).toBeGreaterThanOrEqual(70);
      expect(c!.progress).toBeLessThan(100);
    }
    // Check i of n reports 70 + floor(i / n × 25).
    const checking = callbacks.filter((c) => String(c.error_message).startsWith('Checking '));
    checking.forEach((c, i) => expect(c.progress).toBe(70 + Math.floor((i / checking.length) * 25)));
    const done = callbacks.find((c) => c.error_message === 'Image validation completed')!;
    expect(messages.indexOf('Image validation completed')).toBeGreaterThan(messages.indexOf('Checking git'));
    expect(done).toMatchObject({
      status: 'COMPLETED',
      progress: 100,
      result: {
        stage: 'completed',
        validation_id: validationId,
        validation_result: {
          valid: true,
          errors: [],
          shell_type: 'Codex',
          shell_name: 'my-codex-shell',
          image: 'registry.example.com/wegent-codex:1.0',
        },
      },
    });
    const checks = (done.result!.validation_result as { checks: { name: string; status: string }[] }).checks;
    expect(checks.map((c) => c.name).sort()).toEqual(['codex', 'git', 'node', 'workspace']);
    for (const c of checks) expect(c.status).toBe('pass');
    expect(checks.find((c) => c.name === 'codex')).toMatchObject({ version: '0.169.0' });
    // Nothing but COMPLETED after the validation result (EM skips an optional trailing "Task executed successfully").
    const after = callbacks.slice(callbacks.indexOf(done) + 1);
    for (const c of after) expect(c.status).toBe('COMPLETED');
    expect(callbacks.some((c) => c.status === 'FAILED' || c.status === 'CANCELLED')).toBe(false);
  }, 120_000);

  describe('with a short idle watchdog', () => {
    let w: ServiceApp;

    beforeAll(async () => {
      w = await startServiceApp('control-idle', { env: { ...CONTROL_ENV, CODEX_IDLE_TIMEOUT_MS: '3000' } });
    }, 60_000);

    afterAll(async () => {
      await w?.close();
    }, 60_000);

    it('fails a run whose model stream goes silent with "Error processing response:" and the idle text', async () => {
      const taskId = 9109;
      w.router.script(taskId, hang());
      await execute(w, payload(w, taskId, 1, 'Go quiet.'));
      const terminal = await w.waitTerminal(taskId, 1, 60_000);
      await expectSingleTerminalLast(w, taskId, 1);
      expect(terminal).toMatchObject({ status: 'FAILED', progress: 100 });
      expect(terminal.error_message).toMatch(/^Error processing response: /);
      expect(terminal.error_message).toContain('idle timeout');
      expect(terminal.result?.error).toContain('idle timeout');
      const thinking = steps(terminal);
      expect(thinking[thinking.length - 1].title).toBe('thinking.response_processing_error');
      expect(terminal.result?.workbench).toMatchObject({ status: 'failed' });
    }, 90_000);
  });
});
