import type { ScenarioEnv } from '../support/scenario-env';
import { bounded } from '../support/bench-context';
import { profilesOf, topSelfFrames, type ProfileFrame } from '../support/cpu-profile';
import { measureRelayFloor } from '../support/relay-floor';
import { startRelay, type RelayHarness } from '../support/relay-harness';
import { syntheticRun, type SyntheticProtocol } from '../support/synthetic-run';
import type { EventLogRepository } from '@wegent-codex/event-log';
import { ratePerSecond } from '../stats';

/**
 * Relay throughput without Codex: S subtasks' whole event sequences appended as fast as 32
 * appenders can (no pauses), while the relays deliver; once per protocol generation and relay
 * count. Callbacks/s counts every callback received from the first append to the last terminal
 * callback. CALLBACK_COALESCE_MS=0; the 2025 relay still drops text snapshots that a later one in
 * the same read batch supersedes, so callbacks < events there; 2026 deltas queued behind each other
 * go out merged (none is dropped).
 * The relays are processes of their own (support/relay-harness.ts); their CPU time per callback is
 * the cost that does not depend on this machine's load, and 1000 ÷ it is what one relay core
 * delivers with a receiver that answers at once.
 */
export interface RelayFloodLevel {
  protocol: SyntheticProtocol;
  relays: number;
  subtasks: number;
  appenders: number;
  events: number;
  callbacks: number;
  appendWindowMs: number;
  drainWindowMs: number;
  eventsPerSecond: number;
  callbacksPerSecond: number;
  /** CPU time the relay processes used meanwhile (user + system), together. */
  relayCpuMs: number;
  relayCpuMsPerCallback: number;
  /** Callbacks per second of relay CPU: one relay process's ceiling with an instant receiver. */
  callbacksPerCpuSecond: number;
  /** With BENCH_RELAY_CPU_PROF set: the relays' top functions by self time (warm-up and start-up included). */
  profileTop?: ProfileFrame[];
  /** Subtasks flooded through before the measured ones (absent in results written before the warm-up grew). */
  warmupSubtasks?: number;
}

/**
 * The relays as production loads them: S subtasks streaming at their own pace (a delta every
 * `deltaMs`, the gaps of a real turn between steps), `streams` of them at once, the default
 * CALLBACK_COALESCE_MS. A relay that keeps up makes a pass per event or two here, where the flood
 * folds many events per pass: this is the cost to size relays by.
 */
export interface RelayPacedLevel {
  protocol: SyntheticProtocol;
  relays: number;
  subtasks: number;
  /** Subtasks streaming at once (each appender plays one whole run after another). */
  streams: number;
  deltaMs: number;
  events: number;
  callbacks: number;
  /** Mean first append → last append of one subtask. */
  streamMs: number;
  relayCpuMs: number;
  relayCpuMsPerCallback: number;
  /** Relay CPU per streaming subtask ÷ its duration, inverted: subtasks streaming at once one relay core keeps up with. */
  streamsPerRelayCore: number;
  /** Subtasks flooded through before the measured ones (absent in results written before the warm-up grew). */
  warmupSubtasks?: number;
}

/**
 * One relay process alone with a backlog: W + S subtasks' whole event sequences appended before it
 * starts, then drained with nothing else running in the bench process but the fake
 * executor_manager. The flood's appenders share the machine's two cores with the relay; here the
 * relay has a core to itself, so this is its ceiling (CALLBACK_COALESCE_MS=0, as in the flood).
 * The first W subtasks warm the process up (V8 compiles the hot paths while it drains them: about a
 * third of a fresh relay's CPU in its first seconds went to the compiler threads); the S after them
 * are measured, as a long-running relay delivers.
 */
export interface RelayDrainLevel {
  protocol: SyntheticProtocol;
  /** Measured subtasks (after the warm-up ones). */
  subtasks: number;
  events: number;
  callbacks: number;
  /** Warm-up backlog drained → last terminal callback of the measured subtasks. */
  drainMs: number;
  callbacksPerSecond: number;
  relayCpuMs: number;
  relayCpuMsPerCallback: number;
  callbacksPerCpuSecond: number;
  /** The warm-up backlog, from the relay's start (absent in results written before it existed). */
  warmup?: { subtasks: number; callbacks: number; relayCpuMsPerCallback: number };
  /** Full mode drains DRAIN_RUNS times, each with a relay of its own, and reports the median run: every run's CPU ms per callback. */
  runsCpuMsPerCallback?: number[];
  /**
   * The floor measured right after this drain (support/relay-floor.ts): CPU ms per bare callback
   * (a POST of the same mean size, a Redis write), and the relay's CPU per callback ÷ it. Absent in
   * results written before it existed.
   */
  floor?: { cpuMsPerCallback: number; bodyBytes: number; relayOverFloor: number };
  /** Every run's relay ÷ floor, in the order of runsCpuMsPerCallback. */
  runsOverFloor?: number[];
}

export interface RelayFloodResult {
  levels: RelayFloodLevel[];
  /** Absent in results written before the paced levels existed. */
  paced?: RelayPacedLevel[];
  /** Absent in results written before the drain levels existed. */
  drain?: RelayDrainLevel[];
}

const APPENDERS = 32;
/** Passes a relay runs at once (apps/relay/src/relay-timings.ts, maxInFlight): the floor's requests in flight. */
const RELAY_PASSES_AT_ONCE = 64;
/** Paced levels: subtasks streaming at once, and the gap between two text deltas (a fast model). */
const PACED_STREAMS = 50;
const PACED_DELTA_MS = 10;
/** Drains per protocol generation in full mode (the median is reported). */
const DRAIN_RUNS = 3;
const PLAN: { protocol: SyntheticProtocol; relays: number }[] = [
  { protocol: '2025', relays: 1 },
  { protocol: '2026', relays: 1 },
  { protocol: '2025', relays: 2 },
  { protocol: '2026', relays: 2 },
];

export async function runRelayFlood(env: ScenarioEnv): Promise<RelayFloodResult> {
  const levels: RelayFloodLevel[] = [];
  for (const { protocol, relays } of PLAN) {
    const level = await floodOnce(env, protocol, relays);
    env.progress(
      `relay flood ${protocol} × ${relays} relay(s): ${level.events} events, ${level.callbacks} callbacks in ${level.drainWindowMs} ms, ${level.relayCpuMsPerCallback.toFixed(2)} ms CPU each`,
    );
    levels.push(level);
  }
  const paced: RelayPacedLevel[] = [];
  for (const { protocol, relays } of PLAN) {
    const level = await pacedOnce(env, protocol, relays);
    env.progress(
      `relay paced ${protocol} × ${relays} relay(s): ${level.events} events, ${level.callbacks} callbacks, ${level.relayCpuMsPerCallback.toFixed(2)} ms CPU each, ${Math.round(level.streamsPerRelayCore)} streams per relay core`,
    );
    paced.push(level);
  }
  const drain: RelayDrainLevel[] = [];
  for (const protocol of ['2025', '2026'] as const) {
    // This machine's speed drifts by a third from one run to the next: the median of a few drains.
    const runs: RelayDrainLevel[] = [];
    for (let run = 0; run < (env.quick ? 1 : DRAIN_RUNS); run += 1) {
      const level = await drainOnce(env, protocol);
      env.progress(
        `relay drain ${protocol}: ${level.events} events, ${level.callbacks} callbacks in ${level.drainMs} ms, ${level.relayCpuMsPerCallback.toFixed(2)} ms CPU each`,
      );
      runs.push(level);
    }
    const [median] = [...runs].sort((a, b) => a.relayCpuMsPerCallback - b.relayCpuMsPerCallback).slice(Math.floor(runs.length / 2));
    drain.push(
      Object.assign({}, median, {
        runsCpuMsPerCallback: runs.map((r) => r.relayCpuMsPerCallback),
        runsOverFloor: runs.map((r) => r.floor?.relayOverFloor ?? NaN),
      }),
    );
  }
  return { levels, paced, drain };
}

async function drainOnce(env: ScenarioEnv, protocol: SyntheticProtocol): Promise<RelayDrainLevel> {
  const subtasks = env.quick ? 300 : 2_000;
  const warmupIds = Array.from({ length: env.quick ? 150 : 1_000 }, () => env.nextTaskId());
  const taskIds = Array.from({ length: subtasks }, () => env.nextTaskId());
  const measured = new Set(taskIds);
  let events = 0;
  const prefill = async (log: EventLogRepository): Promise<void> => {
    // The warm-up subtasks first: the relay reads the outbox in order.
    const queue = [...warmupIds, ...taskIds];
    await bounded(
      Promise.all(
        Array.from({ length: APPENDERS }, async () => {
          for (let taskId = queue.shift(); taskId !== undefined; taskId = queue.shift()) {
            for (const { event } of syntheticRun(taskId, { deltaMs: 0, protocol })) {
              const result = await log.append(event);
              if (!result.appended) throw new Error(`append refused for task ${taskId}: already ${result.terminal}`);
              if (measured.has(taskId)) events += 1;
            }
          }
        }),
      ),
      300_000,
      `appending a backlog of ${warmupIds.length + subtasks} synthetic runs`,
    );
  };
  const relay = await startRelay(env.ctx, `relay-drain-${protocol}`, { CALLBACK_COALESCE_MS: '0' }, 1, prefill);
  let level: RelayDrainLevel;
  let bodyBytes: number;
  try {
    // From "relay started": its start-up is behind it, the backlog ahead of it.
    const cpuAtStart = relay.relayCpuMs();
    await relay.callbacks.waitTerminal(warmupIds, 300_000);
    // Every warm-up callback is in (a subtask's terminal callback is its last); some of the first
    // measured subtasks' may be too: they are left out of the window, with the CPU they took.
    const warmedAt = lastTerminalAt(relay, warmupIds);
    const cpuWarm = relay.relayCpuMs();
    const callbacksWarm = relay.em.requests.length;
    await relay.callbacks.waitTerminal(taskIds, 300_000);
    const last = lastTerminalAt(relay, taskIds);
    const relayCpuMs = relay.relayCpuMs() - cpuWarm;
    const callbacks = relay.em.requests.length - callbacksWarm;
    relay.em.assertNoDuplicates();
    const measuredBodies = relay.em.requests.slice(callbacksWarm);
    bodyBytes = measuredBodies.reduce((sum, r) => sum + Buffer.byteLength(JSON.stringify(r.body)), 0) / measuredBodies.length;
    level = {
      protocol,
      subtasks,
      events,
      drainMs: last - warmedAt,
      ...relayRates(callbacks, last - warmedAt, relayCpuMs),
      warmup: { subtasks: warmupIds.length, callbacks: callbacksWarm, relayCpuMsPerCallback: (cpuWarm - cpuAtStart) / callbacksWarm },
    };
  } finally {
    await relay.close();
  }
  // Right after the drain, with the relay gone: the same machine at the same moment.
  const floor = await measureRelayFloor(env.ctx, `relay-floor-${protocol}`, {
    bodyBytes,
    inFlight: RELAY_PASSES_AT_ONCE,
    // The same warm-up in quick mode: 1,000 left V8 compiling into the measured ones (2.5× the floor).
    warmup: 5_000,
    callbacks: env.quick ? 4_000 : 12_000,
  });
  level.floor = {
    cpuMsPerCallback: floor.cpuMsPerCallback,
    bodyBytes,
    relayOverFloor: level.relayCpuMsPerCallback / floor.cpuMsPerCallback,
  };
  return level;
}

/** What one level measured: its subtasks, their events, and the relays' callbacks and CPU meanwhile. */
interface Driven {
  taskIds: number[];
  events: number;
  /** First append, last append (Date.now()). */
  start: number;
  appended: number;
  /** Sum over subtasks of first → last append of each. */
  streamMsTotal: number;
  callbacks: number;
  relayCpuMs: number;
  /** Subtasks flooded through the relays before the measured ones. */
  warmupSubtasks: number;
}

/**
 * Warms the relays up — connections, the consumer group and V8's compiled code on every relay: a
 * fresh relay spends about a third of its CPU of its first seconds in the compiler — with
 * `warmup` flood runs, then has `players` concurrent appenders play `subtasks` synthetic runs one
 * after another (a delta every `deltaMs`; 0: no pauses) and waits for every terminal callback.
 * Fails on a callback received twice.
 */
async function drive(
  env: ScenarioEnv,
  relay: RelayHarness,
  options: { protocol: SyntheticProtocol; relays: number; subtasks: number; players: number; deltaMs: number },
): Promise<Driven> {
  const { protocol, relays, subtasks, players, deltaMs } = options;
  const warm = Array.from({ length: (env.quick ? 8 : 150) * relays }, () => env.nextTaskId());
  await playAll(relay, warm, { protocol, players: APPENDERS, deltaMs: 0 });
  await relay.callbacks.waitTerminal(warm, 60_000);
  const before = relay.em.requests.length;
  const cpuBefore = relay.relayCpuMs();

  const taskIds = Array.from({ length: subtasks }, () => env.nextTaskId());
  const start = Date.now();
  const { events, streamMsTotal } = await playAll(relay, taskIds, { protocol, players, deltaMs });
  const appended = Date.now();
  await relay.callbacks.waitTerminal(taskIds, 300_000);
  const callbacks = relay.em.requests.length - before;
  const relayCpuMs = relay.relayCpuMs() - cpuBefore;
  relay.em.assertNoDuplicates();
  return { taskIds, events, start, appended, streamMsTotal, callbacks, relayCpuMs, warmupSubtasks: warm.length };
}

/** `players` concurrent appenders play the subtasks' synthetic runs, one run after another each. */
async function playAll(
  relay: RelayHarness,
  taskIds: readonly number[],
  options: { protocol: SyntheticProtocol; players: number; deltaMs: number },
): Promise<{ events: number; streamMsTotal: number }> {
  const { protocol, players, deltaMs } = options;
  const queue = [...taskIds];
  let events = 0;
  let streamMsTotal = 0;
  await bounded(
    Promise.all(
      Array.from({ length: Math.min(players, taskIds.length) }, async () => {
        for (let taskId = queue.shift(); taskId !== undefined; taskId = queue.shift()) {
          const startedAt = Date.now();
          const appended = await relay.play(syntheticRun(taskId, { deltaMs, protocol }));
          streamMsTotal += Date.now() - startedAt;
          events += appended.size;
        }
      }),
    ),
    300_000,
    `appending ${taskIds.length} synthetic runs`,
  );
  return { events, streamMsTotal };
}

async function pacedOnce(env: ScenarioEnv, protocol: SyntheticProtocol, relays: number): Promise<RelayPacedLevel> {
  const subtasks = env.quick ? 60 : 200;
  const streams = env.quick ? 20 : PACED_STREAMS;
  // The default CALLBACK_COALESCE_MS: what a deployment runs.
  const relay = await startRelay(env.ctx, `relay-paced-${protocol}-${relays}`, {}, relays);
  try {
    const { events, callbacks, relayCpuMs, streamMsTotal, warmupSubtasks } = await drive(env, relay, {
      protocol,
      relays,
      subtasks,
      players: streams,
      deltaMs: PACED_DELTA_MS,
    });
    const streamMs = streamMsTotal / subtasks;
    return {
      protocol,
      relays,
      subtasks,
      streams,
      deltaMs: PACED_DELTA_MS,
      events,
      callbacks,
      streamMs,
      relayCpuMs,
      relayCpuMsPerCallback: relayCpuMs / callbacks,
      streamsPerRelayCore: streamMs / (relayCpuMs / subtasks),
      warmupSubtasks,
    };
  } finally {
    await relay.close();
  }
}

async function floodOnce(env: ScenarioEnv, protocol: SyntheticProtocol, relays: number): Promise<RelayFloodLevel> {
  const subtasks = env.quick ? 150 : 400;
  const relay = await startRelay(env.ctx, `relay-flood-${protocol}-${relays}`, { CALLBACK_COALESCE_MS: '0' }, relays);
  let level: RelayFloodLevel;
  try {
    const driven = await drive(env, relay, { protocol, relays, subtasks, players: APPENDERS, deltaMs: 0 });
    const { taskIds, events, start, appended, callbacks, relayCpuMs, warmupSubtasks } = driven;
    const last = lastTerminalAt(relay, taskIds);
    level = {
      protocol,
      relays,
      subtasks,
      appenders: APPENDERS,
      events,
      appendWindowMs: appended - start,
      drainWindowMs: last - start,
      eventsPerSecond: ratePerSecond(events, appended - start),
      ...relayRates(callbacks, last - start, relayCpuMs),
      warmupSubtasks,
    };
  } finally {
    await relay.close();
  }
  // The relays write their profiles as they exit (bench/support/relay-harness.ts).
  const profileDir = process.env.BENCH_RELAY_CPU_PROF;
  return profileDir ? { ...level, profileTop: topSelfFrames(profilesOf(profileDir, relay.pids)) } : level;
}

/** When the last of the subtasks' terminal callbacks was received. */
const lastTerminalAt = (relay: RelayHarness, taskIds: number[]): number =>
  Math.max(...taskIds.map((id) => relay.callbacks.terminal.get(id)!.receivedAt));

/** Callbacks delivered in `windowMs` with `relayCpuMs` of relay CPU: the rates both relay tables report. */
function relayRates(callbacks: number, windowMs: number, relayCpuMs: number) {
  return {
    callbacks,
    callbacksPerSecond: ratePerSecond(callbacks, windowMs),
    relayCpuMs,
    relayCpuMsPerCallback: relayCpuMs / callbacks,
    callbacksPerCpuSecond: (1000 * callbacks) / relayCpuMs,
  };
}
