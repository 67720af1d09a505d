import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Config } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { HeartbeatRegistry } from '@wegent-codex/queue';
import { createLogger } from '@wegent-codex/runtime';
import { FakeWegent2026 } from '../../../test/fixtures/fake-wegent-2026';
import { dropPrefix, eventually, testConfig } from '../../../test/support/test-config';
import { heartbeatBase, HeartbeatService } from './heartbeat.service';

jest.setTimeout(30_000);

const PREFIX = `test-heartbeat-${randomBytes(4).toString('hex')}`;
let n = 0;

interface Harness {
  config: Config;
  redis: Redis;
  keys: RedisKeys;
  log: EventLogRepository;
  registry: HeartbeatRegistry;
  wegent: FakeWegent2026;
  services: HeartbeatService[];
}
let current: Harness | undefined;
/** The current test's harness (set by setUp). */
let h: Harness;

async function setUp(env: Record<string, string> = {}): Promise<void> {
  n += 1;
  const wegent = await FakeWegent2026.start();
  const config = testConfig('relay', { REDIS_PREFIX: `${PREFIX}.${n}`, CALLBACK_URL: wegent.url, HEARTBEAT_INTERVAL_MS: '400', ...env });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  const keys = new RedisKeys(config.REDIS_PREFIX);
  h = current = {
    config,
    redis,
    keys,
    log: new EventLogRepository(redis, keys),
    registry: new HeartbeatRegistry(redis, keys),
    wegent,
    services: [],
  };
}

/** A heartbeat sender as a relay process runs it (not started: tests drive `tick`). */
function service(): HeartbeatService {
  const s = new HeartbeatService(h.config, createLogger({ ...h.config, LOG_LEVEL: 'silent' }), h.redis, h.keys, h.log);
  h.services.push(s);
  return s;
}

afterEach(async () => {
  if (!current) return;
  for (const s of current.services) await s.onApplicationShutdown();
  await current.wegent.close();
  current.redis.disconnect();
  await dropPrefix(current.config);
  current = undefined;
});

describe('heartbeats of 2026 tasks (docs/protocol/wegent-protocol-2026.md §5)', () => {
  it('the base: EXECUTOR_MANAGER_HEARTBEAT_BASE_URL, else CALLBACK_URL without /callback', () => {
    expect(
      heartbeatBase({ CALLBACK_URL: 'http://em:8001/executor-manager/callback', EXECUTOR_MANAGER_HEARTBEAT_BASE_URL: undefined }),
    ).toBe('http://em:8001/executor-manager');
    expect(
      heartbeatBase({ CALLBACK_URL: 'http://em:8001/executor-manager/callback', EXECUTOR_MANAGER_HEARTBEAT_BASE_URL: 'http://hb:9/em/' }),
    ).toBe('http://hb:9/em');
    expect(heartbeatBase({ CALLBACK_URL: undefined, EXECUTOR_MANAGER_HEARTBEAT_BASE_URL: undefined })).toBeUndefined();
  });

  it('one beat per task and interval however many senders tick, at once for a new task, with the body EM expects', async () => {
    await setUp({ HEARTBEAT_INTERVAL_MS: '60000' });
    await h.registry.register(4711, 1);
    await h.registry.register(4712, 1);
    const senders = [service(), service(), service()];
    for (let round = 0; round < 3; round += 1) await Promise.all(senders.map((s) => s.tick()));
    // Three senders, three rounds, one interval: exactly one beat per task.
    expect(h.wegent.heartbeats.map((b) => b.taskId).sort()).toEqual([4711, 4712]);
    expect(h.wegent.heartbeats[0]!.body).toMatchObject({
      heartbeat_id: expect.stringMatching(/^471[12]$/),
      heartbeat_type: 'task',
      timestamp: expect.any(Number),
    });
  });

  it('beats again once the interval has passed; a finished subtask stops beating and leaves the registry', async () => {
    await setUp({ HEARTBEAT_INTERVAL_MS: '200' });
    await h.registry.register(5, 1);
    const sender = service();
    await sender.tick();
    expect(h.wegent.heartbeats).toHaveLength(1);
    await eventually(async () => (await h.redis.exists(h.keys.heartbeatSlot(5))) === 0, 5_000);
    await sender.tick();
    expect(h.wegent.heartbeats).toHaveLength(2);

    await h.log.append({ type: 'done', task_id: 5, subtask_id: 1, attempt: 1, value: 'ok' });
    await eventually(async () => (await h.redis.exists(h.keys.heartbeatSlot(5))) === 0, 5_000);
    await sender.tick();
    expect(h.wegent.heartbeats).toHaveLength(2);
    expect(await h.registry.list()).toEqual([]);
  });

  it("a dead worker's run stops beating (the lost-worker watcher ends it), and leaves the registry once ended", async () => {
    await setUp();
    await h.registry.register(7, 3);
    await h.registry.register(8, 1);
    expect(await h.registry.claim(7, 3, 'worker-a')).toBe(true); // worker-a never refreshes its key: dead
    await h.registry.keepAlive('worker-b', 10_000);
    expect(await h.registry.claim(8, 1, 'worker-b')).toBe(true);
    await h.log.append({ type: 'status', phase: 'started', task_id: 7, subtask_id: 3, attempt: 1 });

    await Promise.all([service().tick(), service().tick()]);

    expect(h.wegent.heartbeats.map((b) => b.taskId)).toEqual([8]);
    expect((await h.log.read(7, 3)).map((e) => e.event.type)).toEqual(['status']); // not ended here
    expect((await h.registry.list()).map((r) => [r.taskId, r.workerId]).sort()).toEqual([
      [7, 'worker-a'],
      [8, 'worker-b'],
    ]);

    await h.log.append({ type: 'error', kind: 'stream', message: 'lost', error: 'worker lost', task_id: 7, subtask_id: 3, attempt: 1 });
    await service().tick();
    expect((await h.registry.list()).map((r) => [r.taskId, r.workerId])).toEqual([[8, 'worker-b']]);
    // A claim after the run ended (the worker was only slow) does not bring it back.
    expect(await h.registry.claim(7, 3, 'worker-a')).toBe(false);
  });

  it('runs on its own in a relay process: the first beat at once, then one per interval', async () => {
    await setUp({ HEARTBEAT_INTERVAL_MS: '300' });
    await h.registry.register(9, 1);
    const sender = service();
    sender.onApplicationBootstrap();
    await h.wegent.waitFor((w) => w.heartbeats.length >= 3, 10_000, 'three beats');
    await sender.onApplicationShutdown();
    const count = h.wegent.heartbeats.length;
    await new Promise((r) => setTimeout(r, 700));
    expect(h.wegent.heartbeats).toHaveLength(count); // stopped with the process
  });
});
