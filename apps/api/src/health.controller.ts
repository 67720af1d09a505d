import { Controller, Get, HttpCode, Inject, Optional } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { TASK_QUEUE_NAME } from '@wegent-codex/contracts';
import { TaskQueueService } from '@wegent-codex/queue';
import { REDIS } from '@wegent-codex/runtime';
import { LimitsService } from '@wegent-codex/limits';
import { SandboxService } from '@wegent-codex/sandbox';
import { Deadline, RESOLVED_API_OPTIONS, type ResolvedApiOptions } from './api-options';
import { ApiError, withDeadline } from './http/api-error';

/** Probes. Both stay open when API_TOKEN is set. */
@Controller()
export class HealthController {
  constructor(
    private readonly queue: TaskQueueService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(RESOLVED_API_OPTIONS) private readonly options: ResolvedApiOptions,
    /** Present when this process also runs the worker role. */
    @Optional() private readonly sandbox?: SandboxService,
    /** Present when this process also runs the worker role. */
    @Optional() private readonly limits?: LimitsService,
  ) {}

  /** Liveness: the process answers. Touches nothing else, so a Redis outage never restarts pods. */
  @Get('healthz')
  @HttpCode(200)
  healthz() {
    return { status: 'ok' };
  }

  /**
   * executor_manager's readiness probe (docs/protocol/wegent-protocol-2026.md §0, §7.6): any
   * status under 500 counts, so this answers like /readyz.
   */
  @Get('ready')
  async ready() {
    return this.readyz();
  }

  /** What Wegent's executor answers on `/` (§7.6); executor_manager probes it after /ready. */
  @Get()
  @HttpCode(200)
  root() {
    return { status: 'healthy', service: 'task_executor' };
  }

  /** Readiness: Redis answers (and, in a process that runs workers, at least one is registered). */
  @Get('readyz')
  async readyz() {
    const reasons: string[] = [];
    let workers: number | undefined;
    let counts: Record<string, number> | undefined;
    // While the connection is down ioredis would queue the probe's commands until it is back.
    if (this.redis.status !== 'ready') {
      reasons.push(`redis is not connected (connection ${this.redis.status}); check REDIS_URL`);
    } else {
      try {
        const health = await withDeadline(this.queue.health(), Deadline.readinessMs, 'readiness');
        if (!health.redis) reasons.push('redis did not answer PING');
        workers = health.workers;
        counts = health.counts;
      } catch (error) {
        reasons.push(error instanceof Error ? error.message : String(error));
      }
    }
    if (this.options.requireWorkers && workers === 0) reasons.push(`no worker is registered on queue ${TASK_QUEUE_NAME}`);
    const sandbox = this.sandbox ? await this.sandbox.current() : undefined;
    if (sandbox && !sandbox.ok) reasons.push(sandbox.reason ?? 'the task sandbox cannot start');
    const limits = this.limits ? await this.limits.current() : undefined;
    if (limits && !limits.ok) reasons.push(limits.reason ?? 'per-run limits cannot be applied');

    if (reasons.length) throw new ApiError(503, { status: 'unavailable', reasons, ...(workers === undefined ? {} : { workers }) });
    return {
      status: 'ok',
      workers,
      counts,
      ...(sandbox ? { sandbox: sandbox.kind } : {}),
      ...(limits ? { limits: limits.mechanism } : {}),
    };
  }
}
