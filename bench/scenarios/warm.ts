import { existsSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { readCmdline } from '@wegent-codex/codex';
import { sleep, until } from '../support/bench-context';
import { prepareDirectRun, runDirect, type DirectRun } from '../support/direct-codex';
import { commandThenAnswer, hangingTurn, scriptModel, taskOf } from '../support/model-scripts';
import { descendantsOf, memoryOf } from '../support/processes';
import type { ScenarioEnv } from '../support/scenario-env';
import { eventTime, startInProcessService, SUBTASK_ID, type InProcessService } from '../support/service-harness';
import { pairedRatio, summarize, type Summary } from '../stats';

/**
 * Warm Codex and instant cancel (issue 12), in one run:
 *
 * - The same scripted turn (one command + final answer) through a service with CODEX_WARM_POOL=2,
 *   through the same service with the pool off (cold: a `codex app-server` per job), and through
 *   bare Codex (AppServerClient: spawn → initialize → thread → turn completed → shutdown), in
 *   alternating order; ratios are medians of the per-round ratios. Both services sandboxed.
 * - Idle pool memory: RSS of the warm service's ready app-server processes (and their bwrap).
 * - Cancel: 4 tasks whose model turns hang, running at once on the cold service (its sandboxes are
 *   easy to tell apart); all cancelled together; POST cancel → CANCELLED callback per task, and →
 *   every process of the runs gone.
 */
export interface WarmRun {
  totalMs: number;
  enqueueToSpawnMs: number;
  firstModelRequestMs: number;
  codexStartMs: number;
  /** `agent-started` (turn/start follows) → the model's first request: Codex's own start of the turn. */
  turnToFirstModelMs: number;
}

export interface WarmResult {
  rounds: number;
  warm: WarmRun[];
  cold: WarmRun[];
  direct: DirectRun[];
  warmToDirect: number;
  warmToDirectTurnCompleted: number;
  coldToDirect: number;
  coldToDirectTurnCompleted: number;
  summary: Record<
    | 'warmTotal'
    | 'coldTotal'
    | 'directTotal'
    | 'warmFirstModel'
    | 'coldFirstModel'
    | 'warmEnqueueToSpawn'
    | 'coldEnqueueToSpawn'
    | 'warmCodexStart'
    | 'coldCodexStart'
    | 'warmTurnToFirstModel'
    | 'coldTurnToFirstModel',
    Summary
  > & {
    /**
     * Bare Codex, initialised, no service, no sandbox: `thread/start` sent → its first model
     * request at the fake. What no service in front of Codex can go under (absent in older results).
     */
    directThreadToFirstModel?: Summary;
  };
  idlePool: { processes: number; rssMiB: number };
  cancel: { tasks: number; toCallbackMs: number[]; toCallback: Summary; toTreesGoneMs: number; loadAverage: number };
  /** 1-minute load average when the scenario started and ended. */
  loadAverage: { start: number; end: number };
}

const TASK_TIMEOUT_MS = 60_000;

export async function runWarm(env: ScenarioEnv): Promise<WarmResult> {
  const { ctx, fake, quick } = env;
  const rounds = quick ? 4 : 15;
  const loadAtStart = loadavg()[0];
  const hanging = new Set<number>();
  const arrivals = scriptModel(fake, (request) => (hanging.has(taskOf(request) ?? -1) ? hangingTurn() : commandThenAnswer(request)));
  const common = { SANDBOX: 'bwrap', WORKER_CONCURRENCY: '4', CODEX_STREAM_IDLE_TIMEOUT_MS: '120000' };
  const warmService = await startInProcessService(ctx, 'warm', fake, { env: { ...common, CODEX_WARM_POOL: '2' } });
  const coldService = await startInProcessService(ctx, 'cold', fake, { env: common });
  const warmRoot = warmService.config.WORKSPACE_ROOT;
  const warmProcesses = () => descendantsOf(process.pid).filter((pid) => readCmdline(pid).includes(`${warmRoot}/.warm/`));
  // Ready slots: the pool marks a slot whose process is initialized.
  const warmSlots = () => {
    try {
      return readdirSync(join(warmRoot, '.warm')).filter((name) => existsSync(join(warmRoot, '.warm', name, 'ready'))).length;
    } catch {
      return 0;
    }
  };
  try {
    // Until the pool is full (two sandboxes, each with its app-server).
    await until(() => warmSlots() >= 2 || undefined, 60_000, 'the warm pool', 100);
    const warm: WarmRun[] = [];
    const cold: WarmRun[] = [];
    const direct: DirectRun[] = [];
    const directThreadToFirstModelMs: number[] = [];
    for (let i = 0; i < rounds + 1; i += 1) {
      // Both slots ready again before each round, as between a chat user's messages.
      await until(() => warmSlots() >= 2 || undefined, 60_000, 'the warm pool refilled', 50);
      const [w, c] =
        i % 2 === 0
          ? [await serviceRun(env, warmService, arrivals), await serviceRun(env, coldService, arrivals)]
          : ([await serviceRun(env, coldService, arrivals), await serviceRun(env, warmService, arrivals)].reverse() as [WarmRun, WarmRun]);
      const taskId = env.nextTaskId();
      const d = await runDirect(await prepareDirectRun(await ctx.dir(`warm-direct/${taskId}`), taskId, fake, coldService.config));
      if (i > 0) {
        warm.push(w);
        cold.push(c);
        direct.push(d);
        const firstModel = arrivals.get(taskId)?.[0];
        if (firstModel === undefined) throw new Error(`direct task ${taskId}: no model request recorded`);
        directThreadToFirstModelMs.push(firstModel - d.threadStartSentAt);
      }
      env.progress(
        `warm ${i === 0 ? 'warm-up' : `round ${i}/${rounds}`}: warm ${w.totalMs} ms, cold ${c.totalMs} ms, direct ${Math.round(d.totalMs)} ms`,
      );
    }

    await until(() => warmSlots() >= 2 || undefined, 60_000, 'the warm pool refilled', 50);
    await sleep(1_000);
    const idle = [...new Set(warmProcesses().flatMap((pid) => [pid, ...descendantsOf(pid)]))];
    const idleRss = idle.reduce((sum, pid) => sum + (memoryOf(pid)?.rssKiB ?? 0), 0) / 1024;

    // Cancel under load: 4 running tasks, cancelled at once.
    const ids = Array.from({ length: 4 }, () => env.nextTaskId());
    ids.forEach((id) => hanging.add(id));
    for (const id of ids) await coldService.submit(id);
    await until(
      () => ids.every((id) => (arrivals.get(id)?.length ?? 0) > 0) || undefined,
      60_000,
      'a model request of every hanging task',
      50,
    );
    await sleep(500);
    const load = loadavg()[0];
    const coldRoot = coldService.config.WORKSPACE_ROOT;
    const runProcesses = () => descendantsOf(process.pid).filter((pid) => readCmdline(pid).includes(`${coldRoot}/`));
    const cancelledAt = Date.now();
    await Promise.all(ids.map((id) => coldService.cancel(id)));
    const callbacks = coldService.callbacks!;
    await callbacks.waitTerminal(ids, TASK_TIMEOUT_MS);
    const toCallbackMs = ids.map((id) => {
      const t = callbacks.terminal.get(id)!;
      if (t.body.status !== 'CANCELLED') throw new Error(`task ${id} ended ${String(t.body.status)}, not CANCELLED`);
      return t.receivedAt - cancelledAt;
    });
    // Every sandbox of the four runs gone (bwrap dies last: it is PID 1 of the run).
    await until(() => runProcesses().length === 0 || undefined, 60_000, "the cancelled runs' processes gone", 20);
    const toTreesGoneMs = Date.now() - cancelledAt;

    const pick = (rows: WarmRun[], key: keyof WarmRun) => summarize(rows.map((r) => r[key]));
    return {
      rounds,
      warm,
      cold,
      direct,
      warmToDirect: pairedRatio(
        warm.map((r) => r.totalMs),
        direct.map((r) => r.totalMs),
      ),
      warmToDirectTurnCompleted: pairedRatio(
        warm.map((r) => r.totalMs),
        direct.map((r) => r.toTurnCompletedMs),
      ),
      coldToDirect: pairedRatio(
        cold.map((r) => r.totalMs),
        direct.map((r) => r.totalMs),
      ),
      coldToDirectTurnCompleted: pairedRatio(
        cold.map((r) => r.totalMs),
        direct.map((r) => r.toTurnCompletedMs),
      ),
      summary: {
        warmTotal: pick(warm, 'totalMs'),
        coldTotal: pick(cold, 'totalMs'),
        directTotal: summarize(direct.map((r) => r.totalMs)),
        warmFirstModel: pick(warm, 'firstModelRequestMs'),
        coldFirstModel: pick(cold, 'firstModelRequestMs'),
        warmEnqueueToSpawn: pick(warm, 'enqueueToSpawnMs'),
        coldEnqueueToSpawn: pick(cold, 'enqueueToSpawnMs'),
        warmCodexStart: pick(warm, 'codexStartMs'),
        coldCodexStart: pick(cold, 'codexStartMs'),
        warmTurnToFirstModel: pick(warm, 'turnToFirstModelMs'),
        coldTurnToFirstModel: pick(cold, 'turnToFirstModelMs'),
        directThreadToFirstModel: summarize(directThreadToFirstModelMs),
      },
      idlePool: { processes: idle.length, rssMiB: idleRss },
      cancel: { tasks: ids.length, toCallbackMs, toCallback: summarize(toCallbackMs), toTreesGoneMs, loadAverage: load },
      loadAverage: { start: loadAtStart, end: loadavg()[0] },
    };
  } finally {
    await coldService.close();
    await warmService.close();
  }
}

async function serviceRun(env: ScenarioEnv, service: InProcessService, arrivals: Map<number, number[]>): Promise<WarmRun> {
  const taskId = env.nextTaskId();
  const callbacks = service.callbacks!;
  const postedAt = await service.submit(taskId);
  await callbacks.waitTerminal([taskId], TASK_TIMEOUT_MS);
  const terminal = callbacks.terminal.get(taskId)!;
  if (terminal.body.status !== 'COMPLETED')
    throw new Error(`task ${taskId}.${SUBTASK_ID} ended ${String(terminal.body.status)}: ${String(terminal.body.error_message ?? '')}`);
  const events = await service.eventsOf(taskId);
  const prepared = eventTime(events, 'status', 'prepared');
  const agentStarted = eventTime(events, 'status', 'agent-started');
  if (prepared === undefined || agentStarted === undefined) throw new Error(`task ${taskId}: the event log lacks a milestone`);
  const firstModel = arrivals.get(taskId)?.[0];
  return {
    totalMs: terminal.receivedAt - postedAt,
    enqueueToSpawnMs: prepared - postedAt,
    firstModelRequestMs: firstModel === undefined ? NaN : firstModel - postedAt,
    codexStartMs: agentStarted - prepared,
    turnToFirstModelMs: firstModel === undefined ? NaN : firstModel - agentStarted,
  };
}
