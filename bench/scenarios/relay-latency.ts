import type { ScenarioEnv } from '../support/scenario-env';
import { bounded } from '../support/bench-context';
import { eventIdOf, startRelay, type RelayHarness } from '../support/relay-harness';
import { syntheticRun } from '../support/synthetic-run';
import { summarize, type Summary } from '../stats';

/**
 * Relay latency without Codex: L subtasks at once each append a realistic, paced event sequence
 * (support/synthetic-run.ts, chunks 30 ms apart) with EventLogRepository while the relay — its own
 * process, `main.js relay` — delivers to the fake executor_manager here.
 *
 * - first event → first callback: Date.now() before appending a subtask's `started` event → its
 *   first callback received.
 * - append → callback: for every callback, Date.now() before appending the event it was built
 *   from (its Idempotency-Key names the event) → received.
 *
 * CALLBACK_COALESCE_MS=0 here, so text callbacks are not held on purpose and the numbers are the
 * relay's own delay; what coalescing adds is measured by the streaming scenario.
 */

export interface RelayLatencyLevel {
  concurrency: number;
  rounds: number;
  subtasks: number;
  events: number;
  callbacks: number;
  /** CPU time of the relay process per callback delivered (user + system). */
  relayCpuMsPerCallback: number;
  firstEventToFirstCallback: Summary;
  appendToCallback: Summary;
}

export interface RelayLatencyResult {
  deltaMs: number;
  levels: RelayLatencyLevel[];
  raw: { concurrency: number; firstEventToFirstCallbackMs: number[]; appendToCallbackMs: number[] }[];
}

const DELTA_MS = 30;

export async function runRelayLatency(env: ScenarioEnv): Promise<RelayLatencyResult> {
  const plan = env.quick
    ? [
        { concurrency: 1, rounds: 5 },
        { concurrency: 10, rounds: 1 },
        { concurrency: 50, rounds: 1 },
      ]
    : [
        { concurrency: 1, rounds: 20 },
        { concurrency: 10, rounds: 4 },
        { concurrency: 50, rounds: 2 },
      ];
  const relay = await startRelay(env.ctx, 'relay-latency', { CALLBACK_COALESCE_MS: '0' });
  try {
    // Warm-up: connections, JIT, the consumer group.
    await playRound(env, relay, 2);
    const levels: RelayLatencyLevel[] = [];
    const raw: RelayLatencyResult['raw'] = [];
    for (const { concurrency, rounds } of plan) {
      const first: number[] = [];
      const each: number[] = [];
      let events = 0;
      let callbacks = 0;
      const cpuBefore = relay.relayCpuMs();
      for (let round = 0; round < rounds; round += 1) {
        const result = await playRound(env, relay, concurrency);
        first.push(...result.first);
        each.push(...result.each);
        events += result.events;
        callbacks += result.callbacks;
      }
      const relayCpuMs = relay.relayCpuMs() - cpuBefore;
      levels.push({
        concurrency,
        rounds,
        subtasks: concurrency * rounds,
        events,
        callbacks,
        relayCpuMsPerCallback: relayCpuMs / callbacks,
        firstEventToFirstCallback: summarize(first),
        appendToCallback: summarize(each),
      });
      raw.push({ concurrency, firstEventToFirstCallbackMs: first, appendToCallbackMs: each });
      env.progress(`relay latency at ${concurrency} concurrent subtask(s): ${callbacks} callbacks`);
    }
    return { deltaMs: DELTA_MS, levels, raw };
  } finally {
    await relay.close();
  }
}

async function playRound(env: ScenarioEnv, relay: RelayHarness, concurrency: number) {
  const taskIds = Array.from({ length: concurrency }, () => env.nextTaskId());
  // Subtasks start within the first 100 ms, like jobs a worker takes one after the other.
  const played = await bounded(
    Promise.all(
      taskIds.map(async (taskId) => {
        await new Promise((r) => setTimeout(r, Math.random() * 100));
        return { taskId, appendedAt: await relay.play(syntheticRun(taskId, { deltaMs: DELTA_MS })) };
      }),
    ),
    120_000,
    `appending ${concurrency} synthetic run(s)`,
  );
  await relay.callbacks.waitTerminal(taskIds, 60_000);
  const first: number[] = [];
  const each: number[] = [];
  let events = 0;
  let callbacks = 0;
  for (const { taskId, appendedAt } of played) {
    events += appendedAt.size;
    const received = relay.callbacks.byTask.get(taskId) ?? [];
    callbacks += received.length;
    const firstAppend = Math.min(...appendedAt.values());
    first.push(Math.min(...received.map((c) => c.receivedAt)) - firstAppend);
    for (const callback of received) {
      const at = appendedAt.get(eventIdOf(callback.idempotencyKey) ?? '');
      if (at === undefined) throw new Error(`callback of task ${taskId} names an unknown event (${callback.idempotencyKey})`);
      each.push(callback.receivedAt - at);
    }
  }
  return { first, each, events, callbacks };
}
