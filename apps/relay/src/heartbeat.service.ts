import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Config } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { HeartbeatRegistry } from '@wegent-codex/queue';
import { CONFIG, LOGGER, REDIS, type Logger } from '@wegent-codex/runtime';
import { sleep } from './backoff';
import { splitCredentials } from './callback-sender';

/** EM's own timeout for one beat (docs/protocol/wegent-protocol-2026.md §5). */
const BEAT_TIMEOUT_MS = 5_000;

/** The heartbeat URL of a task: EXECUTOR_MANAGER_HEARTBEAT_BASE_URL, else CALLBACK_URL without `/callback`. */
export function heartbeatBase(config: Pick<Config, 'EXECUTOR_MANAGER_HEARTBEAT_BASE_URL' | 'CALLBACK_URL'>): string | undefined {
  const base = config.EXECUTOR_MANAGER_HEARTBEAT_BASE_URL ?? config.CALLBACK_URL?.replace(/\/callback\/?$/, '');
  return base?.replace(/\/+$/, '');
}

/**
 * Heartbeats of 2026 tasks (docs/protocol/wegent-protocol-2026.md §5): `POST <base>/tasks/{id}/heartbeat`
 * for every task this deployment has taken and not finished, the first at once (within a tick),
 * then every HEARTBEAT_INTERVAL_MS. Every relay runs this loop; a Redis slot per task and interval
 * lets exactly one of them send each beat, so EM sees one stream per task.
 *
 * A run whose worker process is dead (its liveness key expired) must not look alive: it gets no
 * more beats. Ending it (`error` code `executor_crash`) is the LostWorkerWatcher's job, for both
 * protocol generations; once its terminal is in the log, the run leaves the registry here.
 */
@Injectable()
export class HeartbeatService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly registry: HeartbeatRegistry;
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private loop?: Promise<void>;
  /** Undefined when there is no EM to beat to (no CALLBACK_URL): heartbeats stay off, like callbacks. */
  private readonly target?: { base: string; authorization?: string };

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
    @Inject(REDIS) redis: Redis,
    keys: RedisKeys,
    private readonly events: EventLogRepository,
  ) {
    this.registry = new HeartbeatRegistry(redis, keys);
    this.logger = logger.child({ component: 'heartbeat' });
    const base = heartbeatBase(config);
    if (base) {
      const { url, authorization } = splitCredentials(base);
      this.target = { base: url.replace(/\/+$/, ''), ...(authorization && { authorization }) };
    }
  }

  onApplicationBootstrap(): void {
    if (!this.target) return;
    const tickMs = Math.min(1_000, this.config.HEARTBEAT_INTERVAL_MS);
    this.loop = this.run(tickMs);
  }

  async onApplicationShutdown(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** One pass: drop finished runs, skip dead workers' runs, send the beats that are due. Exposed for tests. */
  async tick(): Promise<void> {
    if (!this.target) return;
    const alive = new Set<number>();
    const workers = new Map<string, boolean>();
    for (const run of await this.registry.list()) {
      if (await this.events.terminalOf(run.taskId, run.subtaskId)) {
        await this.registry.remove(run.taskId, run.subtaskId);
        continue;
      }
      if (run.workerId) {
        let up = workers.get(run.workerId);
        if (up === undefined) workers.set(run.workerId, (up = await this.registry.isAlive(run.workerId)));
        if (!up) continue;
      }
      alive.add(run.taskId);
    }
    const due: number[] = [];
    for (const taskId of alive) if (await this.registry.takeBeat(taskId, this.owner, this.config.HEARTBEAT_INTERVAL_MS)) due.push(taskId);
    await Promise.all(due.map((taskId) => this.beat(taskId)));
  }

  private async run(tickMs: number): Promise<void> {
    while (!this.abort.signal.aborted) {
      await this.tick().catch((error: unknown) => this.logger.warn({ err: String(error) }, 'heartbeat pass failed'));
      if (!(await sleep(tickMs, this.abort.signal))) return;
    }
  }

  /** One beat, no retry: the next one is due in an interval anyway. */
  private async beat(taskId: number): Promise<void> {
    const target = this.target!;
    const url = `${target.base}/tasks/${taskId}/heartbeat`;
    const body = JSON.stringify({ heartbeat_id: String(taskId), heartbeat_type: 'task', timestamp: Date.now() / 1000 });
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      ...(target.authorization && { Authorization: target.authorization }),
    };
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(BEAT_TIMEOUT_MS),
      });
      await response.text().catch(() => '');
      if (!response.ok) this.logger.warn({ task_id: taskId, http_status: response.status }, 'heartbeat not accepted');
    } catch (error) {
      this.logger.warn({ task_id: taskId, err: error instanceof Error ? error.message : String(error) }, 'heartbeat failed');
    }
  }
}
