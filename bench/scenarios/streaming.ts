import type { ReceivedCallback } from '../../test/fixtures/fake-executor-manager';
import { prose, scriptModel, streamedAnswer } from '../support/model-scripts';
import type { ScenarioEnv } from '../support/scenario-env';
import { bodyBytes, startInProcessService } from '../support/service-harness';
import { median, ratePerSecond, summarize, type Summary } from '../stats';

/**
 * A long streamed answer (400 words, one delta per word, 5 ms apart ≈ 2 s of streaming) through
 * the whole service, with CALLBACK_COALESCE_MS=300 (the default) and 0 (every chunk its own
 * callback), and in full mode also 100 and 1000. Per run: callbacks and bytes POSTed to executor_manager, callbacks/s over the
 * streaming window (first → last callback), and staleness: for each chunk event, its append time
 * → the first callback whose `result.value` contains it (or the terminal one).
 */
export interface StreamingVariant {
  coalesceMs: number;
  runs: number;
  chunkEvents: number;
  callbacks: number;
  textCallbacks: number;
  bytes: number;
  callbacksPerSecond: number;
  bytesPerSecond: number;
  staleness: Summary;
  /** Each measured run (the columns above are their medians). */
  perRun: Omit<StreamingVariant, 'coalesceMs' | 'runs' | 'staleness' | 'perRun'>[];
}

export interface StreamingResult {
  words: number;
  deltaDelayMs: number;
  variants: StreamingVariant[];
}

const WORDS = 400;
const DELTA_DELAY_MS = 5;
/** The default and none; full mode adds neighbours of the default, to choose it from a curve. */
const QUICK_INTERVALS = [300, 0];
const FULL_INTERVALS = [300, 0, 100, 1000];

export async function runStreaming(env: ScenarioEnv): Promise<StreamingResult> {
  const runs = env.quick ? 1 : 3;
  const variants: StreamingVariant[] = [];
  scriptModel(env.fake, streamedAnswer(prose(WORDS), DELTA_DELAY_MS));
  for (const coalesceMs of env.quick ? QUICK_INTERVALS : FULL_INTERVALS) {
    const service = await startInProcessService(env.ctx, `streaming-${coalesceMs}`, env.fake, {
      env: { CALLBACK_COALESCE_MS: String(coalesceMs) },
    });
    try {
      const perRun: StreamingVariant['perRun'] = [];
      const stale: number[] = [];
      for (let i = 0; i < runs + 1; i += 1) {
        const taskId = env.nextTaskId();
        await service.submit(taskId);
        await service.callbacks!.waitTerminal([taskId], 120_000);
        if (i === 0) continue; // warm-up
        const callbacks = service.callbacks!.byTask.get(taskId)!;
        const terminal = service.callbacks!.terminal.get(taskId)!;
        if (terminal.body.status !== 'COMPLETED') throw new Error(`streaming task ${taskId} ended ${String(terminal.body.status)}`);
        const events = await service.eventsOf(taskId);
        const chunks = events.filter((e) => e.event.type === 'chunk');
        stale.push(
          ...staleness(
            chunks.map((e) => ({ at: Date.parse(e.event.timestamp), text: (e.event as { text: string }).text })),
            callbacks,
          ),
        );
        const window = callbacks[callbacks.length - 1].receivedAt - callbacks[0].receivedAt;
        const bytes = callbacks.reduce((sum, c) => sum + bodyBytes(c), 0);
        perRun.push({
          chunkEvents: chunks.length,
          callbacks: callbacks.length,
          textCallbacks: callbacks.filter(
            (c) => c.body.progress === 75 && typeof (c.body.result as { value?: unknown } | undefined)?.value === 'string',
          ).length,
          bytes,
          callbacksPerSecond: ratePerSecond(callbacks.length, window),
          bytesPerSecond: ratePerSecond(bytes, window),
        });
      }
      const med = (key: keyof (typeof perRun)[number]) => median(perRun.map((r) => r[key]));
      const variant: StreamingVariant = {
        coalesceMs,
        runs,
        chunkEvents: med('chunkEvents'),
        callbacks: med('callbacks'),
        textCallbacks: med('textCallbacks'),
        bytes: med('bytes'),
        callbacksPerSecond: med('callbacksPerSecond'),
        bytesPerSecond: med('bytesPerSecond'),
        staleness: summarize(stale),
        perRun,
      };
      variants.push(variant);
      env.progress(
        `streaming with CALLBACK_COALESCE_MS=${coalesceMs}: ${variant.callbacks} callbacks, ${(variant.bytes / 1024).toFixed(0)} KiB`,
      );
    } finally {
      await service.close();
    }
  }
  return { words: WORDS, deltaDelayMs: DELTA_DELAY_MS, variants };
}

/** For each chunk: its append → the first callback (in arrival order) whose value holds the text up to it. */
function staleness(chunks: { at: number; text: string }[], callbacks: ReceivedCallback[]): number[] {
  const out: number[] = [];
  let length = 0;
  let next = 0;
  const valueLength = (c: ReceivedCallback): number => {
    if (c.body.progress === 100) return Infinity;
    const value = (c.body.result as { value?: unknown } | undefined)?.value;
    return typeof value === 'string' ? value.length : 0;
  };
  for (const chunk of chunks) {
    length += chunk.text.length;
    while (next < callbacks.length && valueLength(callbacks[next]) < length) next += 1;
    if (next < callbacks.length) out.push(callbacks[next].receivedAt - chunk.at);
  }
  return out;
}
