import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AppServerClient, codexProcessEnv, DEFAULT_API_KEY_ENV, resolveCodexBinary, writeCodexHome } from '@wegent-codex/codex';
import { appendPromptSuffix, composeDeveloperInstructions } from '@wegent-codex/workspace';
import type { Config } from '@wegent-codex/contracts';
import type { FakeResponses } from '../../test/fixtures/fake-responses';
import { bounded } from './bench-context';
import { taskMarker } from './model-scripts';
import { BENCH_API_KEY, BENCH_MODEL, BENCH_PROMPT, SYSTEM_PROMPT } from './service-harness';

/**
 * The baseline: the same scripted turn run by `codex app-server` directly through AppServerClient,
 * with what the worker would write for the task (same config.toml, model catalog entry, developer
 * instructions and prompt), but no queue, no event log, no relay.
 */

/** The context window the worker gives unknown model ids (apps/worker/src/workspace-preparer.ts). */
const CONTEXT_WINDOW_FOR_CUSTOM_MODELS = 262_144;
const RPC_TIMEOUT_MS = 60_000;

export interface DirectRun {
  /** spawn → initialize → thread/start → turn/start → turn/completed → shutdown done. */
  totalMs: number;
  /** spawn → turn/completed (what the service's COMPLETED callback waits for). */
  toTurnCompletedMs: number;
  spawnInitMs: number;
  threadStartMs: number;
  turnMs: number;
  shutdownMs: number;
  /** Date.now() as `thread/start` was sent: Codex up and initialised, as a warm process is when bound. */
  threadStartSentAt: number;
}

export interface PreparedDirectRun {
  taskId: number;
  workDir: string;
  env: Record<string, string>;
  bin: string;
  prompt: string;
  developerInstructions: string;
}

/** Everything the run needs on disk, done before the clock starts (the worker's "prepare" step). */
export async function prepareDirectRun(dir: string, taskId: number, fake: FakeResponses, config: Config): Promise<PreparedDirectRun> {
  const home = join(dir, 'home');
  const codexHome = join(dir, 'codex-home');
  const workDir = dir;
  await mkdir(home, { recursive: true, mode: 0o700 });
  for (const file of ['.profile', '.bashrc', '.bash_profile']) await writeFile(join(home, file), '');
  const bin = resolveCodexBinary({ override: config.CODEX_BIN });
  await writeCodexHome({
    codexHome,
    bin,
    model: BENCH_MODEL,
    modelContextWindow: CONTEXT_WINDOW_FOR_CUSTOM_MODELS,
    provider: {
      baseUrl: fake.baseUrl,
      envKey: DEFAULT_API_KEY_ENV,
      requestMaxRetries: config.CODEX_REQUEST_MAX_RETRIES,
      streamMaxRetries: config.CODEX_STREAM_MAX_RETRIES,
      streamIdleTimeoutMs: config.CODEX_STREAM_IDLE_TIMEOUT_MS,
    },
  });
  return {
    taskId,
    workDir,
    bin,
    env: codexProcessEnv({ home, codexHome, apiKey: BENCH_API_KEY, envKey: DEFAULT_API_KEY_ENV }),
    prompt: appendPromptSuffix(`${BENCH_PROMPT} ${taskMarker(taskId)}`, workDir, ''),
    developerInstructions: composeDeveloperInstructions(SYSTEM_PROMPT, []),
  };
}

export async function runDirect(run: PreparedDirectRun): Promise<DirectRun> {
  const t0 = performance.now();
  const client = await AppServerClient.start({ bin: run.bin, cwd: run.workDir, env: run.env, requestTimeoutMs: RPC_TIMEOUT_MS });
  const t1 = performance.now();
  let t2 = t1;
  let t3 = t1;
  const threadStartSentAt = Date.now();
  try {
    const thread = await client.threadStart({ model: BENCH_MODEL, cwd: run.workDir, developerInstructions: run.developerInstructions });
    t2 = performance.now();
    const completed = client.waitForNotification((n) => n.method === 'turn/completed', { timeoutMs: RPC_TIMEOUT_MS });
    await client.turnStart({ threadId: thread.thread.id, input: run.prompt });
    const done = await completed;
    t3 = performance.now();
    const status = (done.params as { turn?: { status?: string; error?: { message?: string } } })?.turn;
    if (status?.status !== 'completed')
      throw new Error(`direct Codex turn ended ${status?.status ?? 'without a status'}: ${status?.error?.message ?? ''}`);
  } finally {
    const exit = await bounded(client.shutdown({ graceMs: 3_000 }), 20_000, 'codex app-server shutdown');
    if (exit.survivors.length) throw new Error(`Codex processes survived the shutdown: ${exit.survivors.join(', ')}`);
  }
  const t4 = performance.now();
  return {
    totalMs: t4 - t0,
    toTurnCompletedMs: t3 - t0,
    spawnInitMs: t1 - t0,
    threadStartMs: t2 - t1,
    turnMs: t3 - t2,
    shutdownMs: t4 - t3,
    threadStartSentAt,
  };
}

/** Runs `work` over `items`, at most `size` at a time; rejects with the first failure. */
export async function inPool<T, R>(items: T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, lane));
  return results;
}
