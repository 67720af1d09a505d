import { basename } from 'node:path';
import { readCmdline } from '@wegent-codex/codex';
import { sleep, until } from '../support/bench-context';
import { hangingTurn, scriptModel } from '../support/model-scripts';
import { descendantsOf, killPids, memoryOf, spawnBuiltService, workerEnv } from '../support/processes';
import type { ScenarioEnv } from '../support/scenario-env';
import { startInProcessService, SUBTASK_ID } from '../support/service-harness';
import { median } from '../stats';

/**
 * Memory, from /proc/<pid>/status VmRSS of the built service (`node dist/apps/service/src/main.js
 * worker`, production logger to a pipe):
 * - idle worker: after "wegent-codex started" and a settling time, the median of samples taken
 *   every 500 ms;
 * - per running job: K jobs whose model turn hangs (each has its `codex app-server` up, a thread,
 *   a turn in progress); the worker's growth over idle divided by K, and the RSS of each
 *   `codex app-server` process (children of the worker).
 * The jobs are then cancelled through the API and the worker stopped with SIGTERM.
 */
export interface MemoryResult {
  idleWorkerRssMiB: number;
  idleWorkerHwmMiB: number;
  runningJobs: number;
  workerRssWithJobsMiB: number;
  workerGrowthPerJobMiB: number;
  codexRssMiB: number[];
  codexRssMedianMiB: number;
  perJobMiB: number;
}

const MiB = (kib: number) => kib / 1024;

/** The `codex app-server` process itself, not the bubblewrap processes whose argv also names it. */
export function isCodexAppServer(cmdline: string): boolean {
  const [exe = '', ...args] = cmdline.split(' ');
  return basename(exe) === 'codex' && args.includes('app-server');
}

export async function runMemory(env: ScenarioEnv): Promise<MemoryResult> {
  const { ctx, fake, quick } = env;
  const jobs = 4;
  const settleMs = quick ? 3_000 : 10_000;
  const samples = quick ? 4 : 10;
  scriptModel(fake, hangingTurn);
  // The API (in this process) enqueues and cancels; the worker under test is its own process.
  const api = await startInProcessService(ctx, 'memory', fake, { roles: ['api'], env: { CODEX_STREAM_IDLE_TIMEOUT_MS: '120000' } });
  const config = api.config;
  const worker = spawnBuiltService(
    ['worker'],
    workerEnv(config, { WORKER_CONCURRENCY: String(jobs), CANCEL_GRACE_MS: '2000', SHUTDOWN_GRACE_MS: '5000' }),
  );
  const stopWorker = ctx.defer(`worker process ${worker.pid}`, () => worker.stop());
  try {
    await worker.waitForLog('wegent-codex started', 30_000);
    await sleep(settleMs);
    const idle = await sampleRss(worker.pid, samples);

    const taskIds = Array.from({ length: jobs }, () => env.nextTaskId());
    for (const id of taskIds) await api.submit(id);
    let seenPids: number[] = [];
    const codexPids = await until(
      () => {
        seenPids = descendantsOf(worker.pid).filter((pid) => isCodexAppServer(readCmdline(pid)));
        return seenPids.length >= jobs && fake.modelRequests().length >= jobs ? seenPids : undefined;
      },
      60_000,
      `${jobs} codex app-server processes with a model request each`,
      100,
    ).catch(async (error: unknown) => {
      // Say what was there instead, so that a failure on CI can be read from its log alone.
      const lastEvents = await Promise.all(
        taskIds.map(async (id) => `${id}: ${(await api.eventsOf(id)).map((e) => e.event.type).join(' → ') || 'no events'}`),
      );
      throw new Error(
        `${(error as Error).message}; saw ${seenPids.length} app-server processes, ${fake.modelRequests().length} model requests; ` +
          `events ${lastEvents.join('; ')}; worker log tail: ${worker.lines.slice(-6).join(' | ')}`,
      );
    });
    await sleep(1_000);
    const running = await sampleRss(worker.pid, samples);
    const codex = codexPids.map((pid) => MiB(memoryOf(pid)?.rssKiB ?? NaN)).filter(Number.isFinite);
    if (codex.length < jobs) throw new Error(`only ${codex.length} of ${jobs} codex processes could be measured`);

    for (const id of taskIds) await api.cancel(id);
    await until(
      async () =>
        (await Promise.all(taskIds.map(async (id) => (await api.eventsOf(id)).some((e) => e.event.type === 'cancelled')))).every(Boolean),
      60_000,
      `cancelled events of ${jobs} hanging jobs (subtask ${SUBTASK_ID})`,
      100,
    );
    const stopped = await worker.stop();
    if (stopped.killedDescendants.length)
      throw new Error(`processes left behind by the worker were killed: ${stopped.killedDescendants.join(', ')}`);
    if (killPids(codexPids).length) throw new Error('codex processes outlived their worker');

    const idleRss = median(idle.map((s) => s.rssKiB));
    const runningRss = median(running.map((s) => s.rssKiB));
    const growthPerJob = (runningRss - idleRss) / jobs;
    const codexMedian = median(codex);
    env.progress(`memory: idle worker ${MiB(idleRss).toFixed(0)} MiB, codex ${codexMedian.toFixed(0)} MiB per job`);
    return {
      idleWorkerRssMiB: MiB(idleRss),
      idleWorkerHwmMiB: MiB(Math.max(...idle.map((s) => s.hwmKiB))),
      runningJobs: jobs,
      workerRssWithJobsMiB: MiB(runningRss),
      workerGrowthPerJobMiB: MiB(growthPerJob),
      codexRssMiB: codex,
      codexRssMedianMiB: codexMedian,
      perJobMiB: MiB(growthPerJob) + codexMedian,
    };
  } finally {
    await stopWorker();
    await api.close();
  }
}

async function sampleRss(pid: number, count: number): Promise<{ rssKiB: number; hwmKiB: number }[]> {
  const out: { rssKiB: number; hwmKiB: number }[] = [];
  for (let i = 0; i < count; i += 1) {
    const memory = memoryOf(pid);
    if (!memory) throw new Error(`process ${pid} is gone`);
    out.push(memory);
    if (i + 1 < count) await sleep(500);
  }
  return out;
}
