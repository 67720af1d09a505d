import { getQueueToken } from '@nestjs/bullmq';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Queue } from 'bullmq';
import { TASK_QUEUE_NAME, type TaskPayload } from '@wegent-codex/contracts';
import { EventLogRepository } from '@wegent-codex/event-log';
import { RuntimeModule } from '@wegent-codex/runtime';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { CancelRegistry } from './cancel-registry';
import { QueueModule } from './queue.module';
import { TaskQueueService } from './task-queue.service';

const payload = (task: number, sub: number): TaskPayload => ({
  task_id: task,
  subtask_id: sub,
  bot: [{ shell_type: 'Codex', agent_config: { env: { model_id: 'm', api_key: 'sk-secret-value-1234' } } }],
  auth_token: 'jwt-secret-value',
  prompt: 'hello',
});

describe('TaskQueueService (real Redis)', () => {
  const config = testConfig('queue', { SECRETS_KEY: 'unit-test-secrets-key' });
  let service: TaskQueueService;
  let queue: Queue;
  let events: EventLogRepository;
  let close: () => Promise<void>;
  let app: INestApplication;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [RuntimeModule.forRoot(config), QueueModule] }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
    service = app.get(TaskQueueService);
    queue = app.get(getQueueToken(TASK_QUEUE_NAME));
    events = app.get(EventLogRepository);
    close = () => app.close();
  });
  afterAll(async () => {
    await close();
    await dropPrefix(config);
  });

  it('enqueues one job per (task, subtask), with no secret in the job data', async () => {
    const first = await service.enqueue(payload(1, 10));
    const again = await service.enqueue(payload(1, 10));
    expect(first).toMatchObject({ jobId: 'task-1-sub-10', created: true, state: 'waiting' });
    expect(again).toMatchObject({ jobId: 'task-1-sub-10', created: false });
    const job = await queue.getJob('task-1-sub-10');
    const data = JSON.stringify(job!.data);
    expect(data).not.toContain('sk-secret-value-1234');
    expect(data).not.toContain('jwt-secret-value');
    expect(await service.vault.load({ task_id: 1, subtask_id: 10 })).toMatchObject({
      task_id: 1,
      subtask_id: 10,
      auth_token: 'jwt-secret-value',
    });
  });

  it('stores payloads encrypted when SECRETS_KEY is set', async () => {
    await service.enqueue(payload(2, 20));
    const job = await queue.getJob('task-2-sub-20');
    const raw = await app_redis_get(job!.data.payloadRef);
    expect(raw.startsWith('gcm1:')).toBe(true);
    expect(raw).not.toContain('sk-secret-value-1234');
  });

  it('parks a follow-up behind the running subtask of the same task', async () => {
    const head = await service.enqueue(payload(3, 30));
    const follow = await service.enqueue(payload(3, 31));
    const other = await service.enqueue(payload(4, 40));
    expect(head.state).toBe('waiting');
    expect(follow.state).toBe('delayed');
    expect(other.state).toBe('waiting');
    expect(await service.lane.members(3)).toEqual(['task-3-sub-30', 'task-3-sub-31']);
  });

  it('cancels waiting jobs: removed, one cancelled event each, lane advanced; a second cancel finds nothing', async () => {
    await service.enqueue(payload(5, 50));
    await service.enqueue(payload(5, 51));
    const outcome = await service.cancelTask(5);
    expect(outcome.cancelled).toEqual([
      { subtask_id: 50, stage: 'queued' },
      { subtask_id: 51, stage: 'queued' },
    ]);
    expect(await queue.getJob('task-5-sub-50')).toBeUndefined();
    const log = await events.read(5, 50);
    expect(log.map((e) => e.event.type)).toEqual(['cancelled']);
    expect(await events.terminalOf(5, 51)).toBe('cancelled');
    expect((await service.cancelTask(5)).cancelled).toEqual([]);
    expect((await service.cancelTask(999)).cancelled).toEqual([]);
  });

  it('admits only the head of a lane; a head that is gone lets the follow-up in', async () => {
    await service.enqueue(payload(6, 60));
    await service.enqueue(payload(6, 61));
    expect(await service.admit(6, 'task-6-sub-60')).toBe(true);
    // The head is waiting (not finished): its follow-up is parked again.
    expect(await service.admit(6, 'task-6-sub-61')).toBe(false);
    expect(await service.laneJobIds(6)).toEqual(['task-6-sub-60', 'task-6-sub-61']);
    await (await queue.getJob('task-6-sub-60'))!.remove();
    expect(await service.admit(6, 'task-6-sub-61')).toBe(true);
    expect(await service.laneJobIds(6)).toEqual(['task-6-sub-61']);
  });

  it('release: leaves the lane, wakes the parked follow-up, drops only its own payload', async () => {
    await service.enqueue(payload(7, 70));
    const follow = await service.enqueue(payload(7, 71));
    expect(follow.state).toBe('delayed');
    await service.release({ task_id: 7, subtask_id: 70 }, 'task-7-sub-70');
    expect(await service.laneJobIds(7)).toEqual(['task-7-sub-71']);
    expect(await (await queue.getJob('task-7-sub-71'))!.getState()).toBe('waiting');
    expect(await service.vault.load({ task_id: 7, subtask_id: 70 })).toBeNull();
    expect(await service.vault.load({ task_id: 7, subtask_id: 71 })).toMatchObject({ task_id: 7, subtask_id: 71 });
  });

  it("builds its pieces once: the cancel registry it uses is the module's", async () => {
    expect(service.cancels).toBeInstanceOf(CancelRegistry);
    expect(app.get(CancelRegistry)).toBe(service.cancels);
  });

  it('reports health with queue counts', async () => {
    const health = await service.health();
    expect(health.redis).toBe(true);
    expect(health.counts.waiting).toBeGreaterThan(0);
  });

  async function app_redis_get(key: string): Promise<string> {
    const { Redis } = await import('ioredis');
    const r = new Redis(config.REDIS_URL);
    try {
      return (await r.get(key)) ?? '';
    } finally {
      r.disconnect();
    }
  }
});
