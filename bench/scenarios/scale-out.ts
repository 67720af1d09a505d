import { loadavg } from 'node:os';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { jobIdFor, TASK_QUEUE_NAME } from '@wegent-codex/contracts';
import { RedisKeys } from '@wegent-codex/event-log';
import { redisOptionsFromUrl } from '@wegent-codex/runtime';
import { FakeExecutorManager } from '../../test/fixtures/fake-executor-manager';
import { bounded, deletePrefix } from '../support/bench-context';
import { profilesOf, topSelfFrames, type ProfileFrame } from '../support/cpu-profile';
import { inPool, prepareDirectRun, runDirect, type PreparedDirectRun } from '../support/direct-codex';
import { commandThenAnswer, scriptModel } from '../support/model-scripts';
import { cpuTimeMs, freePort, processesUnder, roleEnv, spawnBuiltService, workerEnv, type BuiltService } from '../support/processes';
import type { ScenarioEnv } from '../support/scenario-env';
import { CallbackLog, EM_KEEP_ALIVE_MS, submitTask, SUBTASK_ID } from '../support/service-harness';
import { spreadOverWorkers } from '../support/worker-spread';
import { pairedRatio, ratePerSecond, summarize, type Summary } from '../stats';

/**
 * The service scaled out on this machine, every role its own process as deployed: 1 `main.js api`,
 * 2 `main.js relay`, 3 `main.js worker` (WORKER_CONCURRENCY c each, SANDBOX=bwrap, Codex
 * retries 0 as in every scenario, default settings otherwise), one Redis prefix, a fake executor_manager in the bench process. N tasks of
 * the scripted turn of §1 (one command, then the answer; instant model) are POSTed at once to the
 * api process's `POST /api/tasks/execute`; tasks/s runs from the first POST to the last COMPLETED
 * callback. Every task must end COMPLETED with exactly one terminal callback, and no callback may
 * arrive twice. Baseline in the same run: the same N turns through bare Codex (AppServerClient,
 * no sandbox, no queue), 3c at a time. Full mode alternates which side goes first over two rounds;
 * the ratio is the median of the per-round ratios service ÷ bare tasks/s.
 *
 * Also: which worker ran each job (BullMQ `processedBy`), callbacks/s the two relays delivered
 * over the burst, CPU time of each role's node processes (Codex not included), and at the end that
 * every process stopped cleanly on SIGTERM, nothing runs in the task folders any more, each worker
 * removed its liveness key and no job is left waiting or active.
 */
export interface ScaleOutResult {
  apis: number;
  relays: number;
  workers: number;
  workerConcurrency: number;
  /** workers × WORKER_CONCURRENCY; bare Codex runs this many at a time. */
  totalConcurrency: number;
  /** Tasks per burst (each side, each round). */
  tasks: number;
  rounds: number;
  serviceTasksPerSecond: number[];
  bareTasksPerSecond: number[];
  /** Median of the per-round ratios service ÷ bare tasks/s. */
  ratio: number;
  /** POST → COMPLETED callback per task, every round (queueing behind the other tasks included). */
  taskLatency: Summary;
  /** Bare Codex spawn → shutdown done per run, every round. */
  bareRunLatency: Summary;
  /** Jobs of the measured bursts per worker process (the order of `workerPids`). */
  jobsPerWorker: number[];
  workerPids: number[];
  /** Callbacks the relays delivered, all measured bursts, and per round over first POST → last COMPLETED. */
  callbacks: number;
  callbacksPerSecond: number[];
  /** CPU time (user + system) of each role's node processes during the measured service bursts, ms per task. */
  cpuMsPerTask: { api: number; relays: number; workers: number };
  relayCpuMsPerCallback: number;
  /** 1-minute load average when the processes were started and after the last burst. */
  loadAverage: { start: number; end: number };
  /** Checked after every process was stopped (each a failure of the scenario otherwise). */
  reaped: {
    processes: number;
    exitCodes: (number | null)[];
    leftoverProcesses: number;
    livenessKeys: number;
    jobsNotDone: number;
    /** Keys the scenario's prefix held at the end (queue, event logs, relay state), deleted then. */
    redisKeysDeleted: number;
    redisKeysLeft: number;
  };
  /** With BENCH_RELAY_CPU_PROF set: the relays' top functions by self time (warm-up and start-up included). */
  relayProfileTop?: ProfileFrame[];
}

const APIS = 1;
const RELAYS = 2;
const WORKERS = 3;
/** The default: 6 runs at once on this 2-core machine, already past the knee of §4. */
const WORKER_CONCURRENCY = 2;

export async function runScaleOut(env: ScenarioEnv): Promise<ScaleOutResult> {
  const { ctx, fake } = env;
  const tasks = env.quick ? 30 : 200;
  const rounds = env.quick ? 1 : 2;
  const total = WORKERS * WORKER_CONCURRENCY;
  const burstTimeoutMs = 120_000 + tasks * 3_000;
  scriptModel(fake, commandThenAnswer);

  const em = await FakeExecutorManager.start({ keepAliveTimeoutMs: EM_KEEP_ALIVE_MS });
  const closeEm = ctx.defer('fake executor_manager (scale-out)', () => em.close());
  const callbacks = new CallbackLog(em);
  const workspace = await ctx.dir('workspace-scale-out');
  const bareRoot = await ctx.dir('scale-out-bare');
  const config = ctx.config('scale-out', {
    WORKSPACE_ROOT: workspace,
    CALLBACK_URL: em.url,
    SANDBOX: 'bwrap',
    CODEX_REQUEST_MAX_RETRIES: '0',
    CODEX_STREAM_MAX_RETRIES: '0',
  });
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;

  const loadAtStart = loadavg()[0];
  const started: { role: string; process: BuiltService; stop: () => Promise<void> }[] = [];
  // BENCH_RELAY_CPU_PROF=<dir>: each relay writes a V8 CPU profile there when it stops (as in the relay flood).
  const profileDir = process.env.BENCH_RELAY_CPU_PROF;
  const start = (role: 'api' | 'relay' | 'worker', processEnv: Record<string, string>) => {
    const nodeArgs = role === 'relay' && profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    const child = spawnBuiltService([role], processEnv, nodeArgs);
    started.push({ role, process: child, stop: ctx.defer(`${role} process ${child.pid} (scale-out)`, () => child.stop()) });
    return child;
  };
  const connection = redisOptionsFromUrl(config.REDIS_URL);
  const queue = new Queue(TASK_QUEUE_NAME, { connection, prefix: config.REDIS_PREFIX });
  const closeQueue = ctx.defer('scale-out BullMQ queue', () => queue.close());
  try {
    const relays = Array.from({ length: RELAYS }, () => start('relay', { ...roleEnv(config), CALLBACK_URL: em.url }));
    const workers = Array.from({ length: WORKERS }, () =>
      start('worker', workerEnv(config, { WORKER_CONCURRENCY: String(WORKER_CONCURRENCY) })),
    );
    const api = start('api', { ...roleEnv(config), HOST: '127.0.0.1', PORT: String(port) });
    await Promise.all(started.map(({ process: p }) => p.waitForLog('wegent-codex started', 60_000)));
    const workerPids = workers.map((w) => w.pid);
    const relayPids = relays.map((r) => r.pid);
    const cpuOf = (list: BuiltService[]) => list.reduce((sum, p) => sum + (cpuTimeMs(p.pid) ?? NaN), 0);

    // Warm-up: each worker's first jobs load the model catalog and open connections.
    const warm = Array.from({ length: total }, () => env.nextTaskId());
    await bounded(Promise.all(warm.map((id) => submitTask(apiUrl, id, fake.baseUrl))), 60_000, `submitting ${total} warm-up tasks`);
    await callbacks.waitTerminal(warm, burstTimeoutMs);
    const serviceIds: number[] = [];

    const serviceRates: number[] = [];
    const bareRates: number[] = [];
    const callbackRates: number[] = [];
    const latencies: number[] = [];
    const bareLatencies: number[] = [];
    const cpu = { api: 0, relays: 0, workers: 0 };
    let callbackCount = 0;
    const serviceBurst = async () => {
      const ids = Array.from({ length: tasks }, () => env.nextTaskId());
      serviceIds.push(...ids);
      const before = em.requests.length;
      const cpuBefore = { api: cpuOf([api]), relays: cpuOf(relays), workers: cpuOf(workers) };
      const first = Date.now();
      const postedAt = await bounded(
        Promise.all(ids.map((id) => submitTask(apiUrl, id, fake.baseUrl))),
        120_000,
        `submitting ${tasks} tasks to the api process`,
      );
      await callbacks.waitTerminal(ids, burstTimeoutMs);
      const ends = ids.map((id) => callbacks.terminal.get(id)!);
      const failed = ends.filter((c) => c.body.status !== 'COMPLETED');
      if (failed.length)
        throw new Error(
          `${failed.length} of ${tasks} tasks did not complete: ${failed
            .slice(0, 3)
            .map((c) => `${String(c.body.task_id)} ${String(c.body.status)} ${String(c.body.error_message ?? '')}`)
            .join('; ')}`,
        );
      const last = Math.max(...ends.map((c) => c.receivedAt));
      const delivered = em.requests.length - before;
      cpu.api += cpuOf([api]) - cpuBefore.api;
      cpu.relays += cpuOf(relays) - cpuBefore.relays;
      cpu.workers += cpuOf(workers) - cpuBefore.workers;
      callbackCount += delivered;
      latencies.push(...ends.map((c, i) => c.receivedAt - postedAt[i]));
      serviceRates.push(ratePerSecond(tasks, last - first));
      callbackRates.push(ratePerSecond(delivered, last - first));
    };
    const bareBurst = async () => {
      const runs: PreparedDirectRun[] = [];
      for (let i = 0; i < tasks; i += 1) {
        const id = env.nextTaskId();
        runs.push(await prepareDirectRun(await ctx.dir(`scale-out-bare/${id}`), id, fake, config));
      }
      const first = Date.now();
      const done = await bounded(inPool(runs, total, runDirect), burstTimeoutMs, `${tasks} bare Codex turns, ${total} at a time`);
      bareRates.push(ratePerSecond(tasks, Date.now() - first));
      bareLatencies.push(...done.map((r) => r.totalMs));
    };
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? [serviceBurst, bareBurst] : [bareBurst, serviceBurst];
      for (const burst of order) await burst();
      env.progress(
        `scale-out round ${round + 1}/${rounds}: service (${APIS} api, ${RELAYS} relays, ${WORKERS} workers × ${WORKER_CONCURRENCY}) ${serviceRates.at(-1)!.toFixed(2)} tasks/s, bare Codex ${total} at a time ${bareRates.at(-1)!.toFixed(2)} tasks/s`,
      );
    }
    const loadAtEnd = loadavg()[0];

    const jobs = await Promise.all(serviceIds.map((id) => queue.getJob(jobIdFor(id, SUBTASK_ID))));
    const spread = spreadOverWorkers(
      jobs.map((job) => job?.processedBy),
      workerPids,
    );
    if (spread.unattributed) throw new Error(`${spread.unattributed} jobs name no worker of this scenario as processedBy`);

    // Stop: the api first (nothing new comes in), then the workers, the relays last (they deliver what is left).
    const exitCodes: (number | null)[] = [];
    for (const role of ['api', 'worker', 'relay']) {
      for (const entry of started.filter((s) => s.role === role)) {
        const stopped = await entry.process.stop();
        await entry.stop();
        if (stopped.killedDescendants.length)
          throw new Error(`${role} ${entry.process.pid} left processes behind: ${stopped.killedDescendants.join(', ')}`);
        if (stopped.code !== 0)
          throw new Error(
            `${role} ${entry.process.pid} did not exit cleanly on SIGTERM (${stopped.signal ?? stopped.code}): ${entry.process.lines.slice(-3).join(' | ')}`,
          );
        exitCodes.push(stopped.code);
      }
    }
    const leftovers = processesUnder([workspace, bareRoot]);
    if (leftovers.length)
      throw new Error(
        `processes still running in the task folders: ${leftovers.map((p) => `${p.pid} ${p.cmdline.slice(0, 80)}`).join('; ')}`,
      );

    // Every callback delivered by now: exactly one terminal per task, no callback twice.
    callbacks.update();
    const terminalCounts = [...warm, ...serviceIds].map(
      (id) => (callbacks.byTask.get(id) ?? []).filter((c) => c.body.progress === 100).length,
    );
    const notOne = terminalCounts.filter((n) => n !== 1).length;
    if (notOne) throw new Error(`${notOne} tasks got other than exactly one terminal callback`);
    em.assertNoDuplicates();

    const counts = await queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'waiting-children');
    const jobsNotDone = Object.values(counts).reduce((a, b) => a + b, 0);
    if (jobsNotDone) throw new Error(`jobs left in the queue: ${JSON.stringify(counts)}`);
    const livenessKeys = await countKeys(config.REDIS_URL, new RedisKeys(config.REDIS_PREFIX).workerAlive('*'));
    if (livenessKeys) throw new Error(`${livenessKeys} worker liveness keys left after every worker stopped`);
    // The scenario's keys go now (the run's cleanup would take them too), and none comes back: nothing writes any more.
    await closeQueue();
    const redisKeysDeleted = await deletePrefix(config.REDIS_URL, config.REDIS_PREFIX);
    const redisKeysLeft = await countKeys(config.REDIS_URL, `${config.REDIS_PREFIX}*`);
    if (redisKeysLeft) throw new Error(`${redisKeysLeft} Redis keys of the scenario reappeared after it was deleted`);

    const serviceTasks = tasks * rounds;
    env.progress(
      `scale-out: jobs per worker ${spread.jobsPerWorker.join(' / ')}; ${callbackCount} callbacks; load ${loadAtStart.toFixed(2)} → ${loadAtEnd.toFixed(2)}`,
    );
    return {
      apis: APIS,
      relays: RELAYS,
      workers: WORKERS,
      workerConcurrency: WORKER_CONCURRENCY,
      totalConcurrency: total,
      tasks,
      rounds,
      serviceTasksPerSecond: serviceRates,
      bareTasksPerSecond: bareRates,
      ratio: pairedRatio(serviceRates, bareRates),
      taskLatency: summarize(latencies),
      bareRunLatency: summarize(bareLatencies),
      jobsPerWorker: spread.jobsPerWorker,
      workerPids,
      callbacks: callbackCount,
      callbacksPerSecond: callbackRates,
      cpuMsPerTask: { api: cpu.api / serviceTasks, relays: cpu.relays / serviceTasks, workers: cpu.workers / serviceTasks },
      relayCpuMsPerCallback: cpu.relays / callbackCount,
      loadAverage: { start: loadAtStart, end: loadAtEnd },
      reaped: {
        processes: exitCodes.length,
        exitCodes,
        leftoverProcesses: leftovers.length,
        livenessKeys,
        jobsNotDone,
        redisKeysDeleted,
        redisKeysLeft,
      },
      ...(profileDir ? { relayProfileTop: topSelfFrames(profilesOf(profileDir, relayPids)) } : {}),
    };
  } finally {
    await closeQueue();
    for (const { stop } of started.reverse()) await stop();
    await closeEm();
    await deletePrefix(config.REDIS_URL, config.REDIS_PREFIX);
  }
}

/** Keys matching `pattern` (bounded SCAN). */
async function countKeys(redisUrl: string, pattern: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    let count = 0;
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      count += found.length;
      cursor = next;
    } while (cursor !== '0');
    return count;
  } finally {
    redis.disconnect();
  }
}
