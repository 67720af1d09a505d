import type { Redis } from 'ioredis';
import type { TaskQueueService } from '@wegent-codex/queue';
import type { SandboxService } from '@wegent-codex/sandbox';
import { API_DEFAULTS } from './api-options';
import { HealthController } from './health.controller';
import { ApiError } from './http/api-error';

/** /readyz of a process that runs the worker role: the task sandbox is part of being ready. */
describe('HealthController /readyz and the task sandbox', () => {
  const queue = { health: async () => ({ redis: true, workers: 1, counts: { active: 0 } }) } as unknown as TaskQueueService;
  const redis = { status: 'ready' } as unknown as Redis;
  const sandbox = (status: { ok: boolean; kind: 'bwrap' | 'none'; reason?: string }) =>
    ({ current: async () => status }) as unknown as SandboxService;

  it('is ready with a working sandbox, and says which', async () => {
    const health = new HealthController(queue, redis, { ...API_DEFAULTS, requireWorkers: true }, sandbox({ ok: true, kind: 'bwrap' }));
    expect(await health.readyz()).toEqual({ status: 'ok', workers: 1, counts: { active: 0 }, sandbox: 'bwrap' });
  });

  it('answers 503 with the reason when the sandbox cannot start', async () => {
    const reason = 'bwrap could not start a sandbox: No permissions to create new namespace — unprivileged user namespaces are blocked';
    const health = new HealthController(
      queue,
      redis,
      { ...API_DEFAULTS, requireWorkers: true },
      sandbox({ ok: false, kind: 'bwrap', reason }),
    );
    const error = await health.readyz().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).getStatus()).toBe(503);
    expect((error as ApiError).body).toEqual({ status: 'unavailable', reasons: [reason], workers: 1 });
  });

  it('an api-only process (no worker role, no sandbox) is ready without one', async () => {
    const health = new HealthController(queue, redis, API_DEFAULTS);
    expect(await health.readyz()).toEqual({ status: 'ok', workers: 1, counts: { active: 0 } });
  });
});
