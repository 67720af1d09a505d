import { commandThenAnswer, scriptModel } from '../support/model-scripts';
import type { ScenarioEnv } from '../support/scenario-env';
import { eventTime, startInProcessService, SUBTASK_ID, type InProcessService } from '../support/service-harness';
import { pairedRatio, summarize, type Summary } from '../stats';
import { prepareDirectRun, runDirect, type DirectRun } from '../support/direct-codex';

/**
 * Overhead ratio and enqueue → spawn latency.
 *
 * Service run: POST /api/tasks/execute → the COMPLETED callback at the fake executor_manager,
 * through the in-process service (api + worker + relay, production defaults). Direct run: the
 * same scripted turn (one command + final answer, instant model) through AppServerClient. The two
 * alternate (service, direct, service, …) so that drift in the machine's load hits both alike;
 * the ratio is the median of the pairwise ratios.
 *
 * Sandbox cost: a second service with SANDBOX=off runs the same turn in each round (sandboxed and
 * unsandboxed in alternating order, then direct), so the ratio sandboxed ÷ unsandboxed is measured in the same run, under
 * the same load.
 *
 * Enqueue → spawn, with a free worker slot (tasks run one at a time): POST → the `prepared`
 * event's timestamp, which the worker appends right before it spawns `codex app-server`
 * (apps/worker/src/task-runner.ts). Nothing is added to production code; the parts of the
 * service run come from its event log timestamps (ms resolution).
 */

export interface ServiceRun {
  totalMs: number;
  /** POST → `started` event: the job taken by the worker. */
  pickupMs: number;
  /** `started` → `prepared`: workspace, CODEX_HOME, payload. */
  prepareMs: number;
  /** POST → `prepared`: enqueue → Codex spawn. */
  enqueueToSpawnMs: number;
  /** `prepared` → `agent-started`: spawn, initialize, thread/start. */
  codexStartMs: number;
  /** `agent-started` → `done`: the turn. */
  turnMs: number;
  /** `done` appended → COMPLETED callback received. */
  relayMs: number;
  /** POST → the first model request at the fake. */
  firstModelRequestMs: number;
}

export interface OverheadResult {
  pairs: number;
  warmupPairs: number;
  service: ServiceRun[];
  /** The same runs through a service with SANDBOX=off. */
  unsandboxed: ServiceRun[];
  direct: DirectRun[];
  /** Extra sequential service runs for the spawn-latency percentiles (full mode). */
  extraSpawnSamples: ServiceRun[];
  ratio: number;
  ratioToTurnCompleted: number;
  /** Median of the paired ratios sandboxed ÷ unsandboxed service run (POST → COMPLETED). */
  sandboxRatio: number;
  /** The same for `prepared` → `agent-started` (Codex spawn + initialize + thread/start). */
  sandboxStartRatio: number;
  summary: {
    unsandboxedTotal: Summary;
    unsandboxedParts: Record<'prepareMs' | 'codexStartMs' | 'turnMs', Summary>;
    serviceTotal: Summary;
    directTotal: Summary;
    directToTurnCompleted: Summary;
    enqueueToSpawn: Summary;
    pickup: Summary;
    firstModelRequest: Summary;
    serviceParts: Record<'pickupMs' | 'prepareMs' | 'codexStartMs' | 'turnMs' | 'relayMs', Summary>;
    /** `startMs`: spawn + initialize + thread/start, the counterpart of the service's codexStartMs. */
    directParts: Record<'spawnInitMs' | 'threadStartMs' | 'startMs' | 'turnMs' | 'shutdownMs', Summary>;
  };
}

const TASK_TIMEOUT_MS = 60_000;

export async function runOverhead(env: ScenarioEnv): Promise<OverheadResult> {
  const { ctx, fake, quick } = env;
  const pairs = quick ? 5 : 20;
  const warmupPairs = quick ? 1 : 2;
  const extraSpawn = quick ? 0 : 60;
  const arrivals = scriptModel(fake, commandThenAnswer);
  const service = await startInProcessService(ctx, 'overhead', fake, { env: { SANDBOX: 'bwrap' } });
  const unsandboxedService = await startInProcessService(ctx, 'overhead-nosandbox', fake, { env: { SANDBOX: 'off' } });
  try {
    const serviceRuns: ServiceRun[] = [];
    const unsandboxedRuns: ServiceRun[] = [];
    const directRuns: DirectRun[] = [];
    for (let i = 0; i < warmupPairs + pairs; i += 1) {
      const measured = i >= warmupPairs;
      // Alternate which of the two goes first, so a drift in load does not favour one.
      const [s, u] =
        i % 2 === 0
          ? [await serviceRun(env, service, arrivals), await serviceRun(env, unsandboxedService, arrivals)]
          : ([await serviceRun(env, unsandboxedService, arrivals), await serviceRun(env, service, arrivals)].reverse() as [
              ServiceRun,
              ServiceRun,
            ]);
      const taskId = env.nextTaskId();
      const d = await runDirect(await prepareDirectRun(await ctx.dir(`direct/${taskId}`), taskId, fake, service.config));
      if (measured) {
        serviceRuns.push(s);
        unsandboxedRuns.push(u);
        directRuns.push(d);
      }
      env.progress(
        `overhead ${measured ? `pair ${i - warmupPairs + 1}/${pairs}` : 'warm-up'}: service ${s.totalMs} ms, unsandboxed ${u.totalMs} ms, direct ${Math.round(d.totalMs)} ms`,
      );
    }
    const extra: ServiceRun[] = [];
    for (let i = 0; i < extraSpawn; i += 1) {
      extra.push(await serviceRun(env, service, arrivals));
      if ((i + 1) % 20 === 0) env.progress(`enqueue → spawn: ${i + 1}/${extraSpawn} extra runs`);
    }
    const spawnSamples = [...serviceRuns, ...extra];
    const pick = <T>(rows: T[], key: keyof T) => summarize(rows.map((r) => r[key] as number));
    return {
      pairs,
      warmupPairs,
      service: serviceRuns,
      unsandboxed: unsandboxedRuns,
      direct: directRuns,
      extraSpawnSamples: extra,
      ratio: pairedRatio(
        serviceRuns.map((r) => r.totalMs),
        directRuns.map((r) => r.totalMs),
      ),
      ratioToTurnCompleted: pairedRatio(
        serviceRuns.map((r) => r.totalMs),
        directRuns.map((r) => r.toTurnCompletedMs),
      ),
      sandboxRatio: pairedRatio(
        serviceRuns.map((r) => r.totalMs),
        unsandboxedRuns.map((r) => r.totalMs),
      ),
      sandboxStartRatio: pairedRatio(
        serviceRuns.map((r) => r.codexStartMs),
        unsandboxedRuns.map((r) => r.codexStartMs),
      ),
      summary: {
        unsandboxedTotal: pick(unsandboxedRuns, 'totalMs'),
        unsandboxedParts: {
          prepareMs: pick(unsandboxedRuns, 'prepareMs'),
          codexStartMs: pick(unsandboxedRuns, 'codexStartMs'),
          turnMs: pick(unsandboxedRuns, 'turnMs'),
        },
        serviceTotal: pick(serviceRuns, 'totalMs'),
        directTotal: pick(directRuns, 'totalMs'),
        directToTurnCompleted: pick(directRuns, 'toTurnCompletedMs'),
        enqueueToSpawn: pick(spawnSamples, 'enqueueToSpawnMs'),
        pickup: pick(spawnSamples, 'pickupMs'),
        firstModelRequest: pick(spawnSamples, 'firstModelRequestMs'),
        serviceParts: {
          pickupMs: pick(serviceRuns, 'pickupMs'),
          prepareMs: pick(serviceRuns, 'prepareMs'),
          codexStartMs: pick(serviceRuns, 'codexStartMs'),
          turnMs: pick(serviceRuns, 'turnMs'),
          relayMs: pick(serviceRuns, 'relayMs'),
        },
        directParts: {
          spawnInitMs: pick(directRuns, 'spawnInitMs'),
          threadStartMs: pick(directRuns, 'threadStartMs'),
          startMs: summarize(directRuns.map((r) => r.spawnInitMs + r.threadStartMs)),
          turnMs: pick(directRuns, 'turnMs'),
          shutdownMs: pick(directRuns, 'shutdownMs'),
        },
      },
    };
  } finally {
    await unsandboxedService.close();
    await service.close();
  }
}

/** One task through the service, alone (a free slot); throws unless it COMPLETED. */
async function serviceRun(env: ScenarioEnv, service: InProcessService, arrivals: Map<number, number[]>): Promise<ServiceRun> {
  const taskId = env.nextTaskId();
  const callbacks = service.callbacks!;
  const postedAt = await service.submit(taskId);
  await callbacks.waitTerminal([taskId], TASK_TIMEOUT_MS);
  const terminal = callbacks.terminal.get(taskId)!;
  if (terminal.body.status !== 'COMPLETED') {
    throw new Error(`task ${taskId}.${SUBTASK_ID} ended ${String(terminal.body.status)}: ${String(terminal.body.error_message ?? '')}`);
  }
  const events = await service.eventsOf(taskId);
  const started = eventTime(events, 'status', 'started');
  const prepared = eventTime(events, 'status', 'prepared');
  const agentStarted = eventTime(events, 'status', 'agent-started');
  const done = eventTime(events, 'done');
  if (started === undefined || prepared === undefined || agentStarted === undefined || done === undefined) {
    throw new Error(`task ${taskId}: the event log lacks a milestone (${events.map((e) => e.event.type).join(', ')})`);
  }
  const firstModel = arrivals.get(taskId)?.[0];
  return {
    totalMs: terminal.receivedAt - postedAt,
    pickupMs: started - postedAt,
    prepareMs: prepared - started,
    enqueueToSpawnMs: prepared - postedAt,
    codexStartMs: agentStarted - prepared,
    turnMs: done - agentStarted,
    relayMs: terminal.receivedAt - done,
    firstModelRequestMs: firstModel === undefined ? NaN : firstModel - postedAt,
  };
}
