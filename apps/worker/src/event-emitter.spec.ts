import type { NewTaskEvent } from '@wegent-codex/contracts';
import type { AppendResult, EventLogRepository } from '@wegent-codex/event-log';
import { RunEventEmitter } from './event-emitter';
import type { RunEvent } from './run-event';
import { OutputBudget } from './output-budget';
import { RunMasker } from './run-masker';

/** The run's secret; below, the same value base64- and URL-encoded, written out. */
const SECRET = 'sk-canary/Zq9+x7=Ab-4';
const BASE64 = 'c2stY2FuYXJ5L1pxOSt4Nz1BYi00';
const URL_ENCODED = 'sk-canary%2FZq9%2Bx7%3DAb-4';

/** A log that records every append it is asked for and, like the real one, refuses all after a terminal. */
class FakeLog {
  readonly attempts: NewTaskEvent[] = [];
  private terminal: string | undefined;

  append = (event: NewTaskEvent): Promise<AppendResult> => {
    this.attempts.push(event);
    if (this.terminal) return Promise.resolve({ appended: false, terminal: this.terminal as 'done' });
    if (['done', 'error', 'cancelled'].includes(event.type)) this.terminal = event.type;
    return Promise.resolve({ appended: true, id: `${this.attempts.length}-0`, seq: this.attempts.length });
  };

  /** What was appended, without the ids the emitter stamps. */
  bodies(): RunEvent[] {
    return this.attempts.map(({ task_id: _t, subtask_id: _s, attempt: _a, ...body }) => body as RunEvent);
  }
}

function setUp() {
  const log = new FakeLog();
  const observed: RunEvent[] = [];
  const emitter = new RunEventEmitter(log as unknown as EventLogRepository, { task_id: 7, subtask_id: 1, attempt: 0 }, (e) =>
    observed.push(e),
  );
  return { log, emitter, observed };
}

describe('RunEventEmitter masks every event once, where it is appended', () => {
  it('an error text with the secret plain, base64 and URL-encoded comes out masked (and so does the observed event)', async () => {
    const { log, emitter, observed } = setUp();
    emitter.guard(new RunMasker([SECRET]));
    const text = `auth failed for ${SECRET} (${BASE64}) at https://h/?k=${URL_ENCODED}`;
    await emitter.emit({ type: 'error', kind: 'stream', message: `Error processing response: ${text}`, error: text });
    const masked = 'auth failed for ******** (********) at https://h/?k=********';
    expect(log.bodies()).toEqual([{ type: 'error', kind: 'stream', message: `Error processing response: ${masked}`, error: masked }]);
    expect(observed).toEqual(log.bodies());
  });

  it('stamps the run ids on every event', async () => {
    const { log, emitter } = setUp();
    await emitter.emit({ type: 'status', phase: 'agent-started' });
    expect(log.attempts).toEqual([{ type: 'status', phase: 'agent-started', task_id: 7, subtask_id: 1, attempt: 0 }]);
  });

  it("thinking-step details: the secret's forms, and the value of a secret key (Wegent's key rule)", async () => {
    const { log, emitter } = setUp();
    emitter.guard(new RunMasker([SECRET]));
    await emitter.emit({
      type: 'thinking-step',
      report: true,
      step: {
        title: 'thinking.tool_use',
        next_action: 'continue',
        details: { command: `echo ${BASE64} | base64 -d`, env: { OPENAI_API_KEY: 'whatever-value-1234' }, lines: [URL_ENCODED] },
      },
    });
    expect(log.bodies()).toEqual([
      {
        type: 'thinking-step',
        report: true,
        step: {
          title: 'thinking.tool_use',
          next_action: 'continue',
          details: { command: 'echo ******** | base64 -d', env: { OPENAI_API_KEY: 'what************1234' }, lines: ['********'] },
        },
      },
    ]);
  });

  it("reasoning gets Wegent's text rules too; the answer only loses the exact secret", async () => {
    const { log, emitter } = setUp();
    emitter.guard(new RunMasker([SECRET]));
    await emitter.emit({ type: 'reasoning', item_id: 'r1', text: `password: hunter22 and ${SECRET}` });
    await emitter.emit({ type: 'done', value: `Set password: hunter22, not ${SECRET}.` });
    expect(log.bodies()).toEqual([
      { type: 'reasoning', item_id: 'r1', text: 'password: ******** and ********' },
      { type: 'done', value: 'Set password: hunter22, not ********.' },
    ]);
  });

  it('a secret streamed across chunks is masked whole; a workbench status between them releases nothing', async () => {
    const { log, emitter } = setUp();
    emitter.guard(new RunMasker([SECRET]));
    await emitter.emit({ type: 'chunk', item_id: 'm1', text: 'the key is sk-canary/Zq' });
    await emitter.emit({ type: 'status', phase: 'workbench' });
    await emitter.emit({ type: 'chunk', item_id: 'm1', text: '9+x7=Ab-4 ok.' });
    await emitter.emit({ type: 'done', value: 'ok.' });
    expect(log.bodies()).toEqual([
      { type: 'chunk', item_id: 'm1', text: 'the key is ' },
      { type: 'status', phase: 'workbench' },
      { type: 'chunk', item_id: 'm1', text: '******** ok.' },
      { type: 'done', value: 'ok.' },
    ]);
  });

  it("a workbench status: the secret's forms in what the task wrote (commit message, author, path) masked, nothing else changed", async () => {
    const { log, emitter } = setUp();
    emitter.guard(new RunMasker([SECRET]));
    const commit = {
      commit_id: 'c0ffee',
      short_id: 'c0ffee',
      message: `add ${BASE64} and token=plain-looking`,
      author: SECRET,
      author_email: 'a@b.c',
      committed_date: '2026-12-05T00:00:00Z',
      stats: { files_changed: 1, insertions: 2, deletions: 0 },
    };
    const change = {
      old_path: `notes/${URL_ENCODED}.txt`,
      new_path: `notes/${URL_ENCODED}.txt`,
      new_file: true,
      renamed_file: false,
      deleted_file: false,
      added_lines: 2,
      removed_lines: 0,
      diff_title: 'token: keep-this-text',
    };
    const git = {
      initial_commit_id: 'abc123',
      initial_commit_message: 'init',
      source_branch: 'main',
      target_branch: 'wegent/task-7',
      file_changes: [change],
      task_commits: [commit],
    };
    await emitter.emit({ type: 'status', phase: 'workbench', git });
    expect(log.bodies()).toEqual([
      {
        type: 'status',
        phase: 'workbench',
        git: {
          initial_commit_id: 'abc123',
          initial_commit_message: 'init',
          source_branch: 'main',
          target_branch: 'wegent/task-7',
          file_changes: [
            { ...change, old_path: 'notes/********.txt', new_path: 'notes/********.txt', diff_title: 'token: keep-this-text' },
          ],
          task_commits: [{ ...commit, message: 'add ******** and token=plain-looking', author: '********' }],
        },
      },
    ]);
  });

  it('a held-back piece that never became a secret goes out before the next event of the stream', async () => {
    const { log, emitter } = setUp();
    emitter.guard(new RunMasker([SECRET]));
    await emitter.emit({ type: 'chunk', item_id: 'm1', text: 'prefix sk-can' });
    await emitter.emit({ type: 'error', kind: 'stream', message: 'boom' });
    expect(log.bodies()).toEqual([
      { type: 'chunk', item_id: 'm1', text: 'prefix ' },
      { type: 'chunk', item_id: 'm1', text: 'sk-can' },
      { type: 'error', kind: 'stream', message: 'boom' },
    ]);
  });

  it("before the run's secrets are known, Wegent's rules still apply", async () => {
    const { log, emitter } = setUp();
    await emitter.emit({ type: 'error', kind: 'init', message: 'invalid job: token=abcdef', error: 'token=abcdef' });
    expect(log.bodies()).toEqual([{ type: 'error', kind: 'init', message: 'invalid job: token=******', error: 'token=******' }]);
  });

  it('masks before the output budget cuts a step, so a cut never leaves part of a secret', async () => {
    const { log, emitter } = setUp();
    emitter.guard(new RunMasker([SECRET]), new OutputBudget(1024));
    const output = `${'a'.repeat(1000)}${SECRET}${'b'.repeat(100)}`;
    await emitter.emit({ type: 'thinking-step', report: false, step: { title: 't', next_action: 'continue', details: { output } } });
    const kept = `${'a'.repeat(1000)}********${'b'.repeat(16)}`;
    expect(log.bodies()).toEqual([
      {
        type: 'thinking-step',
        report: false,
        step: {
          title: 't',
          next_action: 'continue',
          details: { output: `${kept}\n… [84 more bytes not shown: this subtask's output limit of 1 KiB is reached]` },
        },
      },
    ]);
  });

  it('is guarded once per run', () => {
    const { emitter } = setUp();
    emitter.guard(new RunMasker([SECRET]));
    expect(() => emitter.guard(new RunMasker([]))).toThrow("a run's events are guarded once");
  });

  it('after the log refuses an append (a terminal exists) later events are not even tried', async () => {
    const { log, emitter } = setUp();
    await emitter.emit({ type: 'cancelled', stage: 'running' });
    expect(await emitter.emit({ type: 'done', value: 'late' })).toEqual({ appended: false, terminal: 'cancelled' });
    await emitter.emit({ type: 'error', kind: 'stream', message: 'later' });
    await emitter.flush();
    expect(emitter.closed).toBe(true);
    expect(log.bodies()).toEqual([
      { type: 'cancelled', stage: 'running' },
      { type: 'done', value: 'late' },
    ]);
  });

  it('sends each append at once, and takes the answers in emit order whatever order they come back in', async () => {
    const asked: { event: NewTaskEvent; answer: (result: AppendResult) => void }[] = [];
    const log = { append: (event: NewTaskEvent) => new Promise<AppendResult>((answer) => asked.push({ event, answer })) };
    const observed: RunEvent[] = [];
    const emitter = new RunEventEmitter(log as unknown as EventLogRepository, { task_id: 7, subtask_id: 1, attempt: 0 }, (e) =>
      observed.push(e),
    );
    const results = [
      emitter.emit({ type: 'status', phase: 'started' }),
      emitter.emit({ type: 'chunk', item_id: 'm1', text: 'one' }),
      emitter.emit({ type: 'status', phase: 'prepared' }),
    ];
    // All three asked for before any answer came back.
    expect(asked.map(({ event: { task_id: _t, subtask_id: _s, attempt: _a, ...body } }) => body)).toEqual([
      { type: 'status', phase: 'started' },
      { type: 'chunk', item_id: 'm1', text: 'one' },
      { type: 'status', phase: 'prepared' },
    ]);
    asked[2].answer({ appended: true, id: '3-0', seq: 3 });
    asked[1].answer({ appended: true, id: '2-0', seq: 2 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(observed).toEqual([]); // nothing observed ahead of the first event
    asked[0].answer({ appended: true, id: '1-0', seq: 1 });
    expect(await Promise.all(results)).toEqual([
      { appended: true, id: '1-0', seq: 1 },
      { appended: true, id: '2-0', seq: 2 },
      { appended: true, id: '3-0', seq: 3 },
    ]);
    expect(observed).toEqual([
      { type: 'status', phase: 'started' },
      { type: 'chunk', item_id: 'm1', text: 'one' },
      { type: 'status', phase: 'prepared' },
    ]);
  });

  it('an append sent before a refusal was known is refused by the log; the next is not sent at all', async () => {
    const { log, emitter, observed } = setUp();
    const done = emitter.emit({ type: 'done', value: 'ok' });
    const late = emitter.emit({ type: 'status', phase: 'workbench' });
    expect(await done).toEqual({ appended: true, id: '1-0', seq: 1 });
    expect(await late).toEqual({ appended: false, terminal: 'done' });
    expect(await emitter.emit({ type: 'status', phase: 'workbench' })).toBeNull();
    expect(log.bodies()).toEqual([
      { type: 'done', value: 'ok' },
      { type: 'status', phase: 'workbench' },
    ]);
    expect(observed).toEqual([{ type: 'done', value: 'ok' }]);
    expect(emitter.closed).toBe(true);
  });
});
