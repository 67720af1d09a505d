import type { ScenarioEnv } from '../support/scenario-env';
import { bounded } from '../support/bench-context';
import { profilesOf, topSelfFrames, type ProfileFrame } from '../support/cpu-profile';
import { startRelay } from '../support/relay-harness';
import { syntheticRun, type SyntheticProtocol } from '../support/synthetic-run';
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

export interface RelayFloodResult {
  levels: RelayFloodLevel[];
}

const APPENDERS = 32;
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
  return { levels };
}

async function floodOnce(env: ScenarioEnv, protocol: SyntheticProtocol, relays: number): Promise<RelayFloodLevel> {
  const subtasks = env.quick ? 150 : 400;
  const relay = await startRelay(env.ctx, `relay-flood-${protocol}-${relays}`, { CALLBACK_COALESCE_MS: '0' }, relays);
  let level: RelayFloodLevel;
  try {
    // Warm-up: connections, JIT, the consumer group — on every relay.
    const warm = Array.from({ length: 8 * relays }, () => env.nextTaskId());
    await Promise.all(warm.map((taskId) => relay.play(syntheticRun(taskId, { deltaMs: 0, protocol }))));
    await relay.callbacks.waitTerminal(warm, 30_000);
    const before = relay.em.requests.length;
    const cpuBefore = relay.relayCpuMs();

    const taskIds = Array.from({ length: subtasks }, () => env.nextTaskId());
    const queue = [...taskIds];
    let events = 0;
    const start = Date.now();
    await bounded(
      Promise.all(
        Array.from({ length: APPENDERS }, async () => {
          for (let taskId = queue.shift(); taskId !== undefined; taskId = queue.shift()) {
            const appended = await relay.play(syntheticRun(taskId, { deltaMs: 0, protocol }));
            events += appended.size;
          }
        }),
      ),
      300_000,
      `appending ${subtasks} synthetic runs`,
    );
    const appended = Date.now();
    await relay.callbacks.waitTerminal(taskIds, 300_000);
    const last = Math.max(...taskIds.map((id) => relay.callbacks.terminal.get(id)!.receivedAt));
    const callbacks = relay.em.requests.length - before;
    const relayCpuMs = relay.relayCpuMs() - cpuBefore;
    relay.em.assertNoDuplicates();
    level = {
      protocol,
      relays,
      subtasks,
      appenders: APPENDERS,
      events,
      callbacks,
      appendWindowMs: appended - start,
      drainWindowMs: last - start,
      eventsPerSecond: ratePerSecond(events, appended - start),
      callbacksPerSecond: ratePerSecond(callbacks, last - start),
      relayCpuMs,
      relayCpuMsPerCallback: relayCpuMs / callbacks,
      callbacksPerCpuSecond: (1000 * callbacks) / relayCpuMs,
    };
  } finally {
    await relay.close();
  }
  // The relays write their profiles as they exit (bench/support/relay-harness.ts).
  const profileDir = process.env.BENCH_RELAY_CPU_PROF;
  return profileDir ? { ...level, profileTop: topSelfFrames(profilesOf(profileDir, relay.pids)) } : level;
}
