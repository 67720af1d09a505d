import type { ScenarioEnv } from '../support/scenario-env';
import { bounded } from '../support/bench-context';
import { profilesOf, topSelfFrames, type ProfileFrame } from '../support/cpu-profile';
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
}

/**
 * One relay process alone with a backlog: S subtasks' whole event sequences appended before it
 * starts, then drained with nothing else running in the bench process but the fake
 * executor_manager. The flood's appenders share the machine's two cores with the relay; here the
 * relay has a core to itself, so this is its ceiling (CALLBACK_COALESCE_MS=0, as in the flood).
 */
export interface RelayDrainLevel {
  protocol: SyntheticProtocol;
  subtasks: number;
  events: number;
  callbacks: number;
  /** Relay started → last terminal callback. */
  drainMs: number;
  callbacksPerSecond: number;
  relayCpuMs: number;
  relayCpuMsPerCallback: number;
  callbacksPerCpuSecond: number;
}

export interface RelayFloodResult {
  levels: RelayFloodLevel[];
  /** Absent in results written before the paced levels existed. */
  paced?: RelayPacedLevel[];
  /** Absent in results written before the drain levels existed. */
  drain?: RelayDrainLevel[];
}

const APPENDERS = 32;
/** Paced levels: subtasks streaming at once, and the gap between two text deltas (a fast model). */
const PACED_STREAMS = 50;
const PACED_DELTA_MS = 10;
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
    const level = await drainOnce(env, protocol);
    env.progress(
      `relay drain ${protocol}: ${level.events} events, ${level.callbacks} callbacks in ${level.drainMs} ms, ${level.relayCpuMsPerCallback.toFixed(2)} ms CPU each`,
    );
    drain.push(level);
  }
  return { levels, paced, drain };
}

async function drainOnce(env: ScenarioEnv, protocol: SyntheticProtocol): Promise<RelayDrainLevel> {
  const subtasks = env.quick ? 300 : 2_000;
  const taskIds = Array.from({ length: subtasks }, () => env.nextTaskId());
  let events = 0;
  const prefill = async (log: EventLogRepository): Promise<void> => {
    const queue = [...taskIds];
    await bounded(
      Promise.all(
        Array.from({ length: APPENDERS }, async () => {
          for (let taskId = queue.shift(); taskId !== undefined; taskId = queue.shift()) {
            for (const { event } of syntheticRun(taskId, { deltaMs: 0, protocol })) {
              const result = await log.append(event);
              if (!result.appended) throw new Error(`append refused for task ${taskId}: already ${result.terminal}`);
              events += 1;
            }
          }
        }),
      ),
      300_000,
      `appending a backlog of ${subtasks} synthetic runs`,
    );
  };
  const relay = await startRelay(env.ctx, `relay-drain-${protocol}`, { CALLBACK_COALESCE_MS: '0' }, 1, prefill);
  try {
    // From "relay started": its start-up is behind it, the backlog ahead of it.
    const start = Date.now();
    const cpuBefore = relay.relayCpuMs();
    await relay.callbacks.waitTerminal(taskIds, 300_000);
    const last = lastTerminalAt(relay, taskIds);
    const relayCpuMs = relay.relayCpuMs() - cpuBefore;
    const callbacks = relay.em.requests.length;
    relay.em.assertNoDuplicates();
    return { protocol, subtasks, events, drainMs: last - start, ...relayRates(callbacks, last - start, relayCpuMs) };
  } finally {
    await relay.close();
  }
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
}

/**
 * Warms the relays up (connections, JIT, the consumer group — on every relay), then has `players`
 * concurrent appenders play `subtasks` synthetic runs one after another (a delta every `deltaMs`;
 * 0: no pauses) and waits for every terminal callback. Fails on a callback received twice.
 */
async function drive(
  env: ScenarioEnv,
  relay: RelayHarness,
  options: { protocol: SyntheticProtocol; relays: number; subtasks: number; players: number; deltaMs: number },
): Promise<Driven> {
  const { protocol, relays, subtasks, players, deltaMs } = options;
  const warm = Array.from({ length: 8 * relays }, () => env.nextTaskId());
  await Promise.all(warm.map((taskId) => relay.play(syntheticRun(taskId, { deltaMs: 0, protocol }))));
  await relay.callbacks.waitTerminal(warm, 30_000);
  const before = relay.em.requests.length;
  const cpuBefore = relay.relayCpuMs();

  const taskIds = Array.from({ length: subtasks }, () => env.nextTaskId());
  const queue = [...taskIds];
  let events = 0;
  let streamMsTotal = 0;
  const start = Date.now();
  await bounded(
    Promise.all(
      Array.from({ length: players }, async () => {
        for (let taskId = queue.shift(); taskId !== undefined; taskId = queue.shift()) {
          const startedAt = Date.now();
          const appended = await relay.play(syntheticRun(taskId, { deltaMs, protocol }));
          streamMsTotal += Date.now() - startedAt;
          events += appended.size;
        }
      }),
    ),
    300_000,
    `appending ${subtasks} synthetic runs`,
  );
  const appended = Date.now();
  await relay.callbacks.waitTerminal(taskIds, 300_000);
  const callbacks = relay.em.requests.length - before;
  const relayCpuMs = relay.relayCpuMs() - cpuBefore;
  relay.em.assertNoDuplicates();
  return { taskIds, events, start, appended, streamMsTotal, callbacks, relayCpuMs };
}

async function pacedOnce(env: ScenarioEnv, protocol: SyntheticProtocol, relays: number): Promise<RelayPacedLevel> {
  const subtasks = env.quick ? 60 : 200;
  const streams = env.quick ? 20 : PACED_STREAMS;
  // The default CALLBACK_COALESCE_MS: what a deployment runs.
  const relay = await startRelay(env.ctx, `relay-paced-${protocol}-${relays}`, {}, relays);
  try {
    const { events, callbacks, relayCpuMs, streamMsTotal } = await drive(env, relay, {
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
    const { taskIds, events, start, appended, callbacks, relayCpuMs } = driven;
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
