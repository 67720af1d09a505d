import type { ScenarioEnv } from '../support/scenario-env';
import { startRelay } from '../support/relay-harness';
import { bodyBytes } from '../support/service-harness';
import { syntheticRun, type SyntheticProtocol } from '../support/synthetic-run';

/**
 * Cost as the work grows: a subtask that runs C commands (each a reported tool_use and tool_result
 * thinking step; 2C + 3 steps with initialize, system and success) appended with EventLogRepository
 * and delivered by one relay process (its own, CALLBACK_COALESCE_MS at its default) — per
 * protocol generation and step count, one subtask at a time. The 2025 protocol resends the whole
 * step list (and workbench) in every RUNNING callback (docs/protocol/wegent-protocol.md §5.1, "must match"), so
 * its bytes grow with the square of the steps; a 2026 block callback carries its own step only.
 */
export interface RelayGrowthLevel {
  protocol: SyntheticProtocol;
  steps: number;
  subtasks: number;
  /** Per subtask. */
  callbacks: number;
  bytes: number;
  largestCallbackBytes: number;
  relayCpuMs: number;
}

export interface RelayGrowthResult {
  coalesceMs: number;
  levels: RelayGrowthLevel[];
}

const COMMANDS = [5, 50, 250];
/** CALLBACK_COALESCE_MS default (libs/contracts/src/config.schema.ts): text as deployed. */
const COALESCE_MS = 300;

export async function runRelayGrowth(env: ScenarioEnv): Promise<RelayGrowthResult> {
  const levels: RelayGrowthLevel[] = [];
  const relay = await startRelay(env.ctx, 'relay-growth', { CALLBACK_COALESCE_MS: String(COALESCE_MS) });
  try {
    for (const protocol of ['2025', '2026'] as const) {
      // Warm-up: connections, JIT, both folds.
      const warm = env.nextTaskId();
      await relay.play(syntheticRun(warm, { deltaMs: 0, protocol, commands: 5 }));
      await relay.callbacks.waitTerminal([warm], 30_000);
      for (const commands of COMMANDS) {
        const steps = 2 * commands + 3;
        // Enough subtasks that CPU time (counted in 10 ms ticks) is measurable at the small sizes.
        const perLevel = env.quick ? Math.max(2, Math.round(60 / steps)) : Math.max(4, Math.round(200 / steps));
        let callbacks = 0;
        let bytes = 0;
        let largest = 0;
        const cpuBefore = relay.relayCpuMs();
        for (let i = 0; i < perLevel; i += 1) {
          const taskId = env.nextTaskId();
          await relay.play(syntheticRun(taskId, { deltaMs: 0, protocol, commands }));
          await relay.callbacks.waitTerminal([taskId], 120_000);
          for (const callback of relay.callbacks.byTask.get(taskId) ?? []) {
            const size = bodyBytes(callback);
            callbacks += 1;
            bytes += size;
            largest = Math.max(largest, size);
          }
        }
        const cpuMs = relay.relayCpuMs() - cpuBefore;
        const level = {
          protocol,
          steps,
          subtasks: perLevel,
          callbacks: callbacks / perLevel,
          bytes: bytes / perLevel,
          largestCallbackBytes: largest,
          relayCpuMs: cpuMs / perLevel,
        };
        env.progress(
          `relay growth ${protocol}, ${level.steps} steps: ${level.callbacks} callbacks, ${Math.round(level.bytes / 1024)} KiB, ${level.relayCpuMs.toFixed(1)} ms CPU per subtask`,
        );
        levels.push(level);
      }
    }
    relay.em.assertNoDuplicates();
    return { coalesceMs: COALESCE_MS, levels };
  } finally {
    await relay.close();
  }
}
