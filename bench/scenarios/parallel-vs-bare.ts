import { bounded } from '../support/bench-context';
import { inPool, prepareDirectRun, runDirect, type PreparedDirectRun } from '../support/direct-codex';
import { commandThenAnswer, scriptModel } from '../support/model-scripts';
import type { ScenarioEnv } from '../support/scenario-env';
import { startInProcessService } from '../support/service-harness';
import { median, ratePerSecond } from '../stats';

/**
 * The same N turns (the scripted turn of §1: one command, then the answer; instant model), c at a
 * time, through the service and through bare Codex:
 * - **service**: N tasks POSTed at once to the in-process service with WORKER_CONCURRENCY=c
 *   (sandboxed, default settings), first POST → last COMPLETED callback;
 * - **bare**: N `codex app-server` runs through AppServerClient, c at a time (a new run starts as
 *   one ends), first spawn → last shutdown; each run's files are written before the clock starts.
 * Rounds alternate which goes first; the ratio is the median of the per-round ratios service ÷ bare
 * tasks/s (1 = the service costs nothing over Codex at this concurrency).
 */
export interface ParallelVsBareResult {
  tasks: number;
  concurrency: number;
  rounds: number;
  serviceTasksPerSecond: number[];
  bareTasksPerSecond: number[];
  ratioMedian: number;
}

export async function runParallelVsBare(env: ScenarioEnv): Promise<ParallelVsBareResult> {
  const { ctx, fake } = env;
  const tasks = 20;
  const concurrency = 4;
  const rounds = env.quick ? 2 : 4;
  scriptModel(fake, commandThenAnswer);
  const service = await startInProcessService(ctx, 'parallel-vs-bare', fake, { env: { WORKER_CONCURRENCY: String(concurrency) } });
  try {
    const warm = env.nextTaskId();
    await service.submit(warm);
    await service.callbacks!.waitTerminal([warm], 60_000);

    const serviceRates: number[] = [];
    const bareRates: number[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const serviceBurst = async () => {
        const ids = Array.from({ length: tasks }, () => env.nextTaskId());
        const start = Date.now();
        await bounded(Promise.all(ids.map((id) => service.submit(id))), 60_000, `submitting ${tasks} tasks`);
        await service.callbacks!.waitTerminal(ids, 60_000 + tasks * 10_000);
        const ends = ids.map((id) => service.callbacks!.terminal.get(id)!);
        const failed = ends.filter((c) => c.body.status !== 'COMPLETED');
        if (failed.length) throw new Error(`${failed.length} of ${tasks} service tasks did not complete`);
        serviceRates.push(ratePerSecond(tasks, Math.max(...ends.map((c) => c.receivedAt)) - start));
      };
      const bareBurst = async () => {
        const runs: PreparedDirectRun[] = [];
        for (let i = 0; i < tasks; i += 1) {
          const id = env.nextTaskId();
          runs.push(await prepareDirectRun(await ctx.dir(`parallel-bare/${id}`), id, fake, service.config));
        }
        const start = Date.now();
        await bounded(inPool(runs, concurrency, runDirect), 60_000 + tasks * 10_000, `${tasks} bare Codex turns`);
        bareRates.push(ratePerSecond(tasks, Date.now() - start));
      };
      const order = round % 2 === 0 ? [serviceBurst, bareBurst] : [bareBurst, serviceBurst];
      for (const burst of order) await burst();
      env.progress(
        `parallel vs bare round ${round + 1}/${rounds}: service ${serviceRates.at(-1)!.toFixed(2)} tasks/s, bare ${bareRates.at(-1)!.toFixed(2)} tasks/s`,
      );
    }
    return {
      tasks,
      concurrency,
      rounds,
      serviceTasksPerSecond: serviceRates,
      bareTasksPerSecond: bareRates,
      ratioMedian: median(serviceRates.map((rate, i) => rate / bareRates[i])),
    };
  } finally {
    await service.close();
  }
}
