import { AppServerRpcError } from '@wegent-codex/codex';
import { memoryLogger } from '../../../test/support/memory-logger';
import { ThreadOpener, type ThreadClient, type ThreadRequest } from './open-thread';

type Outcome = { id: string } | Error;

/** A Codex client that answers from a script and records every request, repeated ones included. */
class FakeClient {
  readonly calls: [string, unknown][] = [];

  constructor(private readonly script: { resume?: Outcome; start?: Outcome }) {}

  threadResume = (options: unknown) => this.answer('thread/resume', options, this.script.resume);
  threadStart = (options: unknown) => this.answer('thread/start', options, this.script.start);

  private answer(method: string, options: unknown, outcome: Outcome | undefined) {
    this.calls.push([method, options]);
    if (!outcome) return Promise.reject(new Error(`unexpected ${method}`));
    return outcome instanceof Error ? Promise.reject(outcome) : Promise.resolve({ thread: { id: outcome.id } });
  }
}

class FakeStore {
  readonly remembered: [number, string][] = [];
  remember = (taskId: number, threadId: string) => {
    this.remembered.push([taskId, threadId]);
    return Promise.resolve();
  };
}

const start = { model: 'gpt-test', cwd: '/work/7/repo', developerInstructions: 'Be brief.' };
const request = (overrides: Partial<ThreadRequest> = {}): ThreadRequest => ({ taskId: 7, stored: null, start, ...overrides });

function setUp(script: { resume?: Outcome; start?: Outcome }) {
  const client = new FakeClient(script);
  const store = new FakeStore();
  const { logger, lines } = memoryLogger();
  const opener = new ThreadOpener(store, logger);
  return { client, store, lines, open: (r: ThreadRequest) => opener.open(client as unknown as ThreadClient, r) };
}

describe('ThreadOpener', () => {
  it('starts a new thread when none is stored, and remembers it once', async () => {
    const { client, store, open } = setUp({ start: { id: 'new-1' } });
    expect(await open(request())).toEqual({ threadId: 'new-1', resumedFresh: false });
    expect(client.calls).toEqual([['thread/start', start]]);
    expect(store.remembered).toEqual([[7, 'new-1']]);
  });

  it("a warm process's thread carries the warm config", async () => {
    const { client, open } = setUp({ start: { id: 'new-1' } });
    await open(request({ warmConfig: { 'model_providers.x.base_url': 'http://127.0.0.1:9' } }));
    expect(client.calls).toEqual([['thread/start', { ...start, config: { 'model_providers.x.base_url': 'http://127.0.0.1:9' } }]]);
  });

  it('resumes the stored thread with the run’s model and folder', async () => {
    const { client, store, open } = setUp({ resume: { id: 'old-1' } });
    expect(await open(request({ stored: 'old-1' }))).toEqual({ threadId: 'old-1', resumedFresh: false });
    expect(client.calls).toEqual([['thread/resume', { threadId: 'old-1', cwd: '/work/7/repo', model: 'gpt-test' }]]);
    expect(store.remembered).toEqual([[7, 'old-1']]);
  });

  it('starts fresh when the rollout is gone, says so, and remembers the new thread', async () => {
    const gone = new AppServerRpcError('thread/resume', -32600, 'no rollout found for thread id old-1');
    const { client, store, lines, open } = setUp({ resume: gone, start: { id: 'new-2' } });
    expect(await open(request({ stored: 'old-1', warmConfig: { ignored: true } }))).toEqual({ threadId: 'new-2', resumedFresh: true });
    // The fresh start of a resume is cold: no warm config.
    expect(client.calls).toEqual([
      ['thread/resume', { threadId: 'old-1', cwd: '/work/7/repo', model: 'gpt-test' }],
      ['thread/start', start],
    ]);
    expect(store.remembered).toEqual([[7, 'new-2']]);
    const warned = lines.map((l) => JSON.parse(l) as { msg: string; thread_id?: string; level: number });
    expect(warned.map((l) => [l.level, l.msg, l.thread_id])).toEqual([
      [40, 'thread could not be resumed (rollout missing): starting a fresh thread', 'old-1'],
    ]);
  });

  it('any other resume failure is thrown, and nothing is remembered', async () => {
    const refused = new AppServerRpcError('thread/resume', -32603, 'model not allowed');
    const { client, store, open } = setUp({ resume: refused, start: { id: 'never' } });
    await expect(open(request({ stored: 'old-1' }))).rejects.toThrow('thread/resume failed: model not allowed (code -32603)');
    expect(client.calls.map(([method]) => method)).toEqual(['thread/resume']);
    expect(store.remembered).toEqual([]);
  });

  it('a plain error saying "no rollout found" is not an RPC answer: thrown as it is', async () => {
    const { client, open } = setUp({ resume: new Error('no rollout found'), start: { id: 'never' } });
    await expect(open(request({ stored: 'old-1' }))).rejects.toThrow('no rollout found');
    expect(client.calls.map(([method]) => method)).toEqual(['thread/resume']);
  });

  it('a failed start is thrown, and nothing is remembered', async () => {
    const { store, open } = setUp({ start: new Error('codex app-server exited (code 1)') });
    await expect(open(request())).rejects.toThrow('codex app-server exited (code 1)');
    expect(store.remembered).toEqual([]);
  });

  it('a failed write of the thread id is thrown (the run cannot be resumed later)', async () => {
    const client = new FakeClient({ start: { id: 'new-1' } });
    const store = { remember: () => Promise.reject(new Error('Connection is closed.')) };
    const opener = new ThreadOpener(store, memoryLogger().logger);
    await expect(opener.open(client as unknown as ThreadClient, request())).rejects.toThrow('Connection is closed.');
  });
});
