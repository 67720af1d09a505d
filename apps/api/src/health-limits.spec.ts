import type { Redis } from 'ioredis';
import type { LimitsService, LimitsStatus } from '@wegent-codex/limits';
import type { TaskQueueService } from '@wegent-codex/queue';
import type { SandboxService } from '@wegent-codex/sandbox';
import { API_DEFAULTS } from './api-options';
import { HealthController } from './health.controller';
import { ApiError } from './http/api-error';

/** /readyz of a process that runs the worker role shows which per-run limits are in force. */
describe('HealthController /readyz and the per-run limits', () => {
  const queue = { health: async () => ({ redis: true, workers: 1, counts: { active: 0 } }) } as unknown as TaskQueueService;
  const redis = { status: 'ready' } as unknown as Redis;
  const sandbox = { current: async () => ({ ok: true, kind: 'bwrap' }) } as unknown as SandboxService;
  const limits = (status: LimitsStatus) => ({ current: async () => status }) as unknown as LimitsService;
  const none = { memory: false, pids: false, cpu: false, disk: false, openFiles: false };

  it('names the mechanism: a cgroup per run', async () => {
    const health = new HealthController(
      queue,
      redis,
      { ...API_DEFAULTS, requireWorkers: true },
      sandbox,
      limits({ ok: true, mechanism: 'cgroup-v2', enforced: { memory: true, pids: true, cpu: true, disk: true, openFiles: true } }),
    );
    expect(await health.readyz()).toEqual({ status: 'ok', workers: 1, counts: { active: 0 }, sandbox: 'bwrap', limits: 'cgroup-v2' });
  });

  it('is still ready under the rlimit fallback, and says so', async () => {
    const health = new HealthController(
      queue,
      redis,
      API_DEFAULTS,
      sandbox,
      limits({
        ok: true,
        mechanism: 'rlimit',
        enforced: { ...none, disk: true, openFiles: true },
        reason: 'no cgroup with the memory and pids controllers is visible',
      }),
    );
    expect(await health.readyz()).toMatchObject({ status: 'ok', limits: 'rlimit' });
  });

  it('answers 503 with the reason when RUN_LIMITS=cgroup and no cgroup can be made', async () => {
    const reason = 'RUN_LIMITS=cgroup but no cgroup can be created: cgroup v2 (/sys/fs/cgroup): cannot create a cgroup (EROFS)';
    const health = new HealthController(
      queue,
      redis,
      API_DEFAULTS,
      sandbox,
      limits({ ok: false, mechanism: 'rlimit', enforced: none, reason }),
    );
    const error = await health.readyz().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).getStatus()).toBe(503);
    expect((error as ApiError).body).toEqual({ status: 'unavailable', reasons: [reason], workers: 1 });
  });
});
