import { monitorEventLoopDelay } from 'node:perf_hooks';
import { bounded } from '../support/bench-context';
import { commandThenAnswer, scriptModel } from '../support/model-scripts';
import type { ScenarioEnv } from '../support/scenario-env';
import { startInProcessService, type InProcessService } from '../support/service-harness';
import { median, ratePerSecond, summarize, type Summary } from '../stats';

/**
 * Completed tasks/s of the service at WORKER_CONCURRENCY c: N tasks (the same N at every c)
 * POSTed at once to the in-process service (real Codex, the scripted turn with an instant model),
 * from the first POST to the last COMPLETED callback. One service per c runs side by side (own Redis prefix each) and the
 * bursts alternate between them round by round, so drift in the machine's load hits every c alike;
 * tasks/s is the median over the rounds.
 *
 * The event-loop delay of this process (services, fake model and fake executor_manager share it)
 * is recorded during each burst: BullMQ renews job locks on that loop, so its worst stall is what
 * JOB_LOCK_MS must outlast.
 */
export interface ThroughputLevel {
  concurrency: number;
  tasks: number;
  rounds: number;
  /** Median over the rounds; the range shows the noise. */
  tasksPerSecond: number;
  tasksPerSecondRange: [number, number];
  tasksPerSecondByRound: number[];
  /** POST → COMPLETED per task, every round (includes queueing behind the other tasks). */
  taskLatency: Summary;
  /** Worst of the rounds. */
  eventLoopDelayMs: { p99: number; max: number };
}

export async function runThroughput(env: ScenarioEnv, concurrencies: readonly number[]): Promise<ThroughputLevel[]> {
  const rounds = env.quick ? 1 : 3;
  // The same burst at every level, so that start-up and drain weigh the same in each rate.
  const tasks = env.quick ? 16 : 32;
  scriptModel(env.fake, commandThenAnswer);
  const services: { concurrency: number; service: InProcessService }[] = [];
  try {
    for (const concurrency of concurrencies) {
      const service = await startInProcessService(env.ctx, `throughput-c${concurrency}`, env.fake, {
        env: { WORKER_CONCURRENCY: String(concurrency) },
      });
      services.push({ concurrency, service });
      // Warm-up: the first run of a service loads the model catalog and opens its connections.
      const warm = env.nextTaskId();
      await service.submit(warm);
      await service.callbacks!.waitTerminal([warm], 60_000);
    }
    const bursts = new Map<number, Burst[]>();
    for (let round = 0; round < rounds; round += 1) {
      for (const { concurrency, service } of services) {
        const burst = await runBurst(env, service, tasks);
        bursts.set(concurrency, [...(bursts.get(concurrency) ?? []), burst]);
        env.progress(
          `throughput round ${round + 1}/${rounds} at WORKER_CONCURRENCY=${concurrency}: ${burst.tasksPerSecond.toFixed(2)} tasks/s (${burst.latencies.length} tasks)`,
        );
      }
    }
    return services.map(({ concurrency }) => {
      const runs = bursts.get(concurrency)!;
      const rates = runs.map((b) => b.tasksPerSecond);
      return {
        concurrency,
        tasks,
        rounds,
        tasksPerSecond: median(rates),
        tasksPerSecondRange: [Math.min(...rates), Math.max(...rates)],
        tasksPerSecondByRound: rates,
        taskLatency: summarize(runs.flatMap((b) => b.latencies)),
        eventLoopDelayMs: { p99: Math.max(...runs.map((b) => b.loopP99Ms)), max: Math.max(...runs.map((b) => b.loopMaxMs)) },
      };
    });
  } finally {
    for (const { service } of services) await service.close();
  }
}

interface Burst {
  tasksPerSecond: number;
  latencies: number[];
  loopP99Ms: number;
  loopMaxMs: number;
}

async function runBurst(env: ScenarioEnv, service: InProcessService, tasks: number): Promise<Burst> {
  const callbacks = service.callbacks!;
  const taskIds = Array.from({ length: tasks }, () => env.nextTaskId());
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  try {
    const start = Date.now();
    const posted = await bounded(Promise.all(taskIds.map((id) => service.submit(id))), 60_000, `submitting ${tasks} tasks`);
    await callbacks.waitTerminal(taskIds, 60_000 + tasks * 10_000);
    const ends = taskIds.map((id) => callbacks.terminal.get(id)!);
    const failed = ends.filter((c) => c.body.status !== 'COMPLETED');
    if (failed.length)
      throw new Error(
        `${failed.length} of ${tasks} tasks did not complete: ${String(failed[0].body.error_message ?? failed[0].body.status)}`,
      );
    const last = Math.max(...ends.map((c) => c.receivedAt));
    return {
      tasksPerSecond: ratePerSecond(tasks, last - start),
      latencies: ends.map((c, i) => c.receivedAt - posted[i]),
      loopP99Ms: loop.percentile(99) / 1e6,
      loopMaxMs: loop.max / 1e6,
    };
  } finally {
    loop.disable();
  }
}
