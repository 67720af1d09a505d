import { Redis } from 'ioredis';
import { RedisKeys } from '@wegent-codex/event-log';
import { WorkerLost } from '@wegent-codex/queue';
import { hang, message } from '../../test/fixtures/fake-responses';
import { sleep, until } from '../support/bench-context';
import { prose, scriptModel, taskOf } from '../support/model-scripts';
import { descendantsOf, killPids, spawnBuiltService, workerEnv } from '../support/processes';
import type { ScenarioEnv } from '../support/scenario-env';
import { startInProcessService } from '../support/service-harness';
import { summarize, type Summary } from '../stats';

/**
 * A worker SIGKILLed mid-turn, with the defaults (WORKER_LIVENESS_TTL_MS 5 s, JOB_LOCK_MS 60 s):
 * the built worker (`node dist/… worker`, its own process) runs WORKER_CONCURRENCY jobs whose
 * model streams a long commentary word by word (the main event loop's heaviest steady work) and
 * then hangs. After `loadMs` of that, the worst main-loop stall and the worst gap between two
 * renewals of its liveness key are read from the key itself (the worker writes them there), and
 * no job may have ended (a healthy worker under full load is never declared lost). Then the
 * worker and every process under it get SIGKILL, and each job's time from the kill to its FAILED
 * callback (the fake executor_manager's receive time) is one sample. The api and relay (the
 * lost-worker watcher) run in this process.
 */
export interface WorkerLossResult {
  kills: number;
  jobsPerKill: number;
  loadMs: number;
  livenessTtlMs: number;
  /** Kill → FAILED callback, ms, every job of every kill. */
  killToFailed: Summary;
  /** Worst main event-loop stall of the loaded worker, ms (max over kills). */
  loopStallMaxMs: number;
  /** Worst time between two renewals of the liveness key, ms (max over kills). */
  renewGapMaxMs: number;
}

export async function runWorkerLoss(env: ScenarioEnv): Promise<WorkerLossResult> {
  const { ctx, fake, quick } = env;
  const kills = quick ? 1 : 3;
  const jobs = quick ? 4 : 8;
  const loadMs = quick ? 8_000 : 20_000;
  scriptModel(fake, () => hang([message(prose(4_000), { phase: 'commentary', deltaDelayMs: 2 })]));
  const service = await startInProcessService(ctx, 'worker-loss', fake, {
    roles: ['api', 'relay'],
    env: { CODEX_STREAM_IDLE_TIMEOUT_MS: '120000' },
  });
  const { config } = service;
  const callbacks = service.callbacks!;
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  const closeRedis = ctx.defer('worker-loss Redis connection', () => redis.disconnect());
  const samples: number[] = [];
  let loopStallMaxMs = 0;
  let renewGapMaxMs = 0;
  try {
    for (let round = 0; round < kills; round += 1) {
      const worker = spawnBuiltService(['worker'], workerEnv(config, { WORKER_CONCURRENCY: String(jobs) }));
      const stopWorker = ctx.defer(`worker process ${worker.pid}`, () => worker.stop(1_000));
      try {
        await worker.waitForLog('wegent-codex started', 30_000);
        const taskIds = Array.from({ length: jobs }, () => env.nextTaskId());
        for (const id of taskIds) await service.submit(id);
        await until(() => taskIds.every((id) => fake.modelRequests().some((r) => taskOf(r) === id)), 60_000, `${jobs} jobs streaming`, 100);
        await sleep(loadMs);
        callbacks.update();
        if (taskIds.some((id) => callbacks.terminal.has(id)))
          throw new Error('a job of the healthy, loaded worker ended before the kill (declared lost?)');
        const stats = await livenessStats(redis, new RedisKeys(config.REDIS_PREFIX).workerAlive('*'));
        loopStallMaxMs = Math.max(loopStallMaxMs, stats.loop_stall_max_ms);
        renewGapMaxMs = Math.max(renewGapMaxMs, stats.renew_gap_max_ms);

        const family = [worker.pid, ...descendantsOf(worker.pid)];
        const killedAt = Date.now();
        killPids(family);
        await callbacks.waitTerminal(taskIds, 30_000);
        for (const id of taskIds) {
          const terminal = callbacks.terminal.get(id)!;
          if (terminal.body.status !== 'FAILED' || terminal.body.error_message !== WorkerLost.text2025)
            throw new Error(`task ${id} ended ${String(terminal.body.status)}: ${String(terminal.body.error_message)}`);
          if ((callbacks.byTask.get(id) ?? []).filter((c) => c.body.progress === 100).length !== 1)
            throw new Error(`task ${id}: more than one terminal callback`);
          samples.push(terminal.receivedAt - killedAt);
        }
        if (service.em!.duplicates().length) throw new Error('a callback was delivered twice');
        env.progress(
          `worker-loss: kill ${round + 1}/${kills}: FAILED after ${Math.min(...samples.slice(-jobs))}–${Math.max(...samples.slice(-jobs))} ms; worst loop stall ${stats.loop_stall_max_ms} ms, renewal gap ${stats.renew_gap_max_ms} ms`,
        );
      } finally {
        await stopWorker();
      }
    }
    return {
      kills,
      jobsPerKill: jobs,
      loadMs,
      livenessTtlMs: config.WORKER_LIVENESS_TTL_MS,
      killToFailed: summarize(samples),
      loopStallMaxMs,
      renewGapMaxMs,
    };
  } finally {
    await closeRedis();
    await service.close();
  }
}

/** The stats the one live worker wrote into its liveness key. */
async function livenessStats(redis: Redis, pattern: string): Promise<{ loop_stall_max_ms: number; renew_gap_max_ms: number }> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  if (keys.length !== 1) throw new Error(`expected one worker liveness key, found ${keys.length}`);
  const value = JSON.parse((await redis.get(keys[0])) ?? 'null') as { loop_stall_max_ms?: number; renew_gap_max_ms?: number } | null;
  if (typeof value?.loop_stall_max_ms !== 'number' || typeof value.renew_gap_max_ms !== 'number')
    throw new Error(`the liveness key holds no stats: ${JSON.stringify(value)}`);
  return { loop_stall_max_ms: value.loop_stall_max_ms, renew_gap_max_ms: value.renew_gap_max_ms };
}
