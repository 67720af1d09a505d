import { Redis } from 'ioredis';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { FakeExecutorManager } from '../../test/fixtures/fake-executor-manager';
import { sleep, type BenchContext } from './bench-context';
import { cpuTimeMs, roleEnv, spawnBuiltService } from './processes';
import { CallbackLog, EM_KEEP_ALIVE_MS } from './service-harness';
import type { PacedEvent } from './synthetic-run';

export interface RelayHarness {
  log: EventLogRepository;
  callbacks: CallbackLog;
  em: FakeExecutorManager;
  /** CPU time (user + system, ms) the relay processes have used so far, together. */
  relayCpuMs(): number;
  /** Pids of the relay processes (their CPU profiles carry them). */
  pids: readonly number[];
  /** Appends the events in order, waiting their delays; returns event id → Date.now() before each append. */
  play(run: PacedEvent[]): Promise<Map<string, number>>;
  close(): Promise<void>;
}

/**
 * The relay role as its own process (`node dist/apps/service/src/main.js relay`, as deployed when
 * scaled out; `relays` of them on one Redis), delivering to a fake executor_manager in this
 * process. Appends and receipts are both timed here, on one clock; each relay gets an event loop of
 * its own.
 */
export async function startRelay(
  ctx: BenchContext,
  part: string,
  env: Record<string, string>,
  relays = 1,
  /** Appends a backlog before any relay process starts (the relays then find it in the outbox). */
  prefill?: (log: EventLogRepository) => Promise<void>,
): Promise<RelayHarness> {
  const em = await FakeExecutorManager.start({ keepAliveTimeoutMs: EM_KEEP_ALIVE_MS });
  const closeEm = ctx.defer(`fake executor_manager (${part})`, () => em.close());
  const config = ctx.config(part, { CALLBACK_URL: em.url, ...env });
  // Auto-pipelined: appends of concurrent appenders share writes, so appending keeps up with the relays.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3, enableAutoPipelining: true });
  const closeRedis = ctx.defer(`appender Redis connection (${part})`, () => redis.disconnect());
  const log = new EventLogRepository(redis, new RedisKeys(config.REDIS_PREFIX));
  await prefill?.(log);
  const stops: (() => Promise<void>)[] = [];
  const pids: number[] = [];
  for (let i = 0; i < relays; i += 1) {
    const relay = spawnBuiltService(
      ['relay'],
      { ...roleEnv(config), CALLBACK_URL: em.url, ...env },
      // BENCH_RELAY_CPU_PROF=<dir>: each relay writes a V8 CPU profile there when it stops (issue 12).
      process.env.BENCH_RELAY_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_RELAY_CPU_PROF}`] : [],
    );
    stops.push(ctx.defer(`relay process ${relay.pid} (${part})`, () => relay.stop()));
    pids.push(relay.pid);
    await relay.waitForLog('relay started', 30_000);
  }
  return {
    log,
    em,
    callbacks: new CallbackLog(em),
    pids,
    relayCpuMs: () => pids.reduce((sum, pid) => sum + (cpuTimeMs(pid) ?? NaN), 0),
    async play(run) {
      const appendedAt = new Map<string, number>();
      for (const { event, delayMs } of run) {
        if (delayMs > 0) await sleep(delayMs);
        const at = Date.now();
        const result = await log.append(event);
        if (!result.appended) throw new Error(`append refused for task ${event.task_id}: already ${result.terminal}`);
        appendedAt.set(result.id, at);
      }
      return appendedAt;
    },
    async close() {
      await Promise.all(stops.map((stop) => stop()));
      await closeRedis();
      await closeEm();
    },
  };
}

/** The event id a callback was built from (its Idempotency-Key is `wegent-codex:<task>:<subtask>:<event id>`). */
export function eventIdOf(idempotencyKey: string | undefined): string | undefined {
  return idempotencyKey?.split(':').at(-1);
}
