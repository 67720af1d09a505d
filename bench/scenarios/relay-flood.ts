import type { ScenarioEnv } from '../support/scenario-env';
import { bounded } from '../support/bench-context';
import { startRelay } from '../support/relay-harness';
import { syntheticRun } from '../support/synthetic-run';
import { ratePerSecond } from '../stats';

/**
 * Relay throughput without Codex: S subtasks' whole event sequences appended as fast as 16
 * appenders can (no pauses), while the relay delivers. Callbacks/s counts every callback received
 * from the first append to the last terminal callback. CALLBACK_COALESCE_MS=0; the relay still
 * drops text snapshots that a later one in the same read batch supersedes, so callbacks < events.
 * The relay is its own process (support/synthetic-run.ts); its CPU time per callback is the cost
 * that does not depend on this machine's load.
 */
export interface RelayFloodResult {
  subtasks: number;
  appenders: number;
  events: number;
  callbacks: number;
  appendWindowMs: number;
  drainWindowMs: number;
  eventsPerSecond: number;
  callbacksPerSecond: number;
  /** CPU time the relay process used meanwhile (user + system). */
  relayCpuMs: number;
  relayCpuMsPerCallback: number;
}

const APPENDERS = 16;

export async function runRelayFlood(env: ScenarioEnv): Promise<RelayFloodResult> {
  const subtasks = env.quick ? 100 : 400;
  const relay = await startRelay(env.ctx, 'relay-flood', { CALLBACK_COALESCE_MS: '0' });
  try {
    const warm = env.nextTaskId();
    await relay.play(syntheticRun(warm, { deltaMs: 0 }));
    await relay.callbacks.waitTerminal([warm], 30_000);
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
            const appended = await relay.play(syntheticRun(taskId, { deltaMs: 0 }));
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
    env.progress(`relay flood: ${events} events, ${callbacks} callbacks in ${last - start} ms`);
    return {
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
    };
  } finally {
    await relay.close();
  }
}
