import { RedisKeys } from '@wegent-codex/event-log';
import { CodexThreadStore, type ThreadRedis } from './codex-thread-store';

/** A Redis of one string map that records every command, so a repeated or stray write shows. */
class FakeRedis {
  readonly values = new Map<string, string>();
  readonly commands: string[][] = [];

  get = (key: string) => {
    this.commands.push(['get', key]);
    return Promise.resolve(this.values.get(key) ?? null);
  };

  set = (key: string, value: string, ...options: (string | number)[]) => {
    this.commands.push(['set', key, value, ...options.map(String)]);
    this.values.set(key, value);
    return Promise.resolve('OK' as const);
  };
}

describe('CodexThreadStore', () => {
  const setUp = () => {
    const redis = new FakeRedis();
    return { redis, store: new CodexThreadStore(redis as unknown as ThreadRedis, new RedisKeys('p')) };
  };

  it('remembers a thread under the task key with a 30-day expiry, in one command', async () => {
    const { redis, store } = setUp();
    await store.remember(7, 'thread-a');
    expect(redis.commands).toEqual([['set', 'p:task:7:thread', 'thread-a', 'EX', '2592000']]);
  });

  it("returns the task's stored thread, and each task its own", async () => {
    const { redis, store } = setUp();
    redis.values.set('p:task:7:thread', 'thread-a');
    redis.values.set('p:task:8:thread', 'thread-b');
    expect(await store.storedFor({ task_id: 7 })).toBe('thread-a');
    expect(await store.storedFor({ task_id: 8 })).toBe('thread-b');
    expect(await store.storedFor({ task_id: 9 })).toBeNull();
  });

  it('treats an empty stored value as no thread', async () => {
    const { redis, store } = setUp();
    redis.values.set('p:task:7:thread', '');
    expect(await store.storedFor({ task_id: 7 })).toBeNull();
  });

  it('a 2026 new_session starts a new thread without reading the stored one', async () => {
    const { redis, store } = setUp();
    redis.values.set('p:task:7:thread', 'thread-a');
    expect(await store.storedFor({ task_id: 7, new_session: true })).toBeNull();
    expect(redis.commands).toEqual([]);
  });

  it('a later run replaces the thread (the last one is resumed next)', async () => {
    const { store } = setUp();
    await store.remember(7, 'thread-a');
    await store.remember(7, 'thread-b');
    expect(await store.storedFor({ task_id: 7 })).toBe('thread-b');
  });

  it('a Redis failure reaches the caller (the run ends with it, the process does not)', async () => {
    const redis = {
      get: () => Promise.reject(new Error('Connection is closed.')),
      set: () => Promise.reject(new Error('Connection is closed.')),
    };
    const store = new CodexThreadStore(redis as unknown as ThreadRedis, new RedisKeys('p'));
    await expect(store.storedFor({ task_id: 7 })).rejects.toThrow('Connection is closed.');
    await expect(store.remember(7, 'thread-a')).rejects.toThrow('Connection is closed.');
  });
});
