import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { bounded, REPO_ROOT, sleep } from '../support/bench-context';
import { descendantsOf, freePort, killPids } from '../support/processes';
import type { ScenarioEnv } from '../support/scenario-env';
import { median } from '../stats';

/**
 * A newcomer's restart: `npm start` when no source changed, from the command to the first 200 of
 * /healthz (every role in one process, as the quick start runs it). `npm start` runs
 * scripts/build-if-changed.js first: when no build input is newer than the last good build's
 * stamp the service starts at once, else `tsc -b` (incremental) builds what changed. The baseline, in the
 * same run, is what `npm start` did before: a full `tsc -p tsconfig.build.json` (into a scratch
 * folder, so dist/ is never touched) followed by the same start.
 */
export interface RestartResult {
  samples: number;
  /** `npm start`, nothing changed → /healthz, ms per sample. */
  npmStartMs: number[];
  npmStartMedianMs: number;
  /** Full compile (ms) + `node dist/apps/service/src/main.js` → /healthz (ms), per sample. */
  fullBuildMs: number[];
  nodeStartMs: number[];
  baselineMedianMs: number;
  ratio: number;
}

export async function runRestart(env: ScenarioEnv): Promise<RestartResult> {
  const { ctx, quick } = env;
  const samples = quick ? 1 : 3;
  const workspace = await ctx.dir('restart-workspace');
  // Make sure dist/ is current once, with its stamp (a first start may build).
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-if-changed.js')], {
    cwd: REPO_ROOT,
    stdio: 'ignore',
    timeout: 300_000,
  });
  const npmStartMs: number[] = [];
  const fullBuildMs: number[] = [];
  const nodeStartMs: number[] = [];
  for (let i = 0; i < samples; i++) {
    const scratch = await ctx.dir(`restart-full-build-${i}`);
    const t0 = performance.now();
    execFileSync(process.execPath, [tsc(), '-p', 'tsconfig.build.json', '--incremental', 'false', '--outDir', scratch], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
      timeout: 300_000,
    });
    fullBuildMs.push(performance.now() - t0);
    nodeStartMs.push(
      await timeToHealthz(env, [process.execPath, join(REPO_ROOT, 'dist', 'apps', 'service', 'src', 'main.js')], workspace, `node-${i}`),
    );
    npmStartMs.push(await timeToHealthz(env, ['npm', 'start', '--silent'], workspace, `npm-${i}`));
  }
  const baseline = fullBuildMs.map((ms, i) => ms + nodeStartMs[i]);
  return {
    samples,
    npmStartMs,
    npmStartMedianMs: median(npmStartMs),
    fullBuildMs,
    nodeStartMs,
    baselineMedianMs: median(baseline),
    ratio: median(npmStartMs) / median(baseline),
  };
}

const tsc = () => require.resolve('typescript/bin/tsc', { paths: [REPO_ROOT] });

/** Spawns the command, polls /healthz every 20 ms, then SIGTERMs the process group. */
async function timeToHealthz(env: ScenarioEnv, command: string[], workspace: string, part: string): Promise<number> {
  const port = await freePort();
  const config = env.ctx.config(`restart-${part}`, {});
  const started = performance.now();
  const child = spawn(command[0], command.slice(1), {
    cwd: REPO_ROOT,
    detached: true,
    stdio: 'ignore',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: config.REDIS_URL,
      REDIS_PREFIX: config.REDIS_PREFIX,
      EMBEDDED_REDIS: 'never',
      WORKSPACE_ROOT: workspace,
      LOG_LEVEL: 'warn',
    },
  });
  const pid = child.pid!;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = env.ctx.defer(`restart process ${pid}`, async () => {
    const family = descendantsOf(pid);
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    await Promise.race([exited, sleep(15_000)]);
    killPids([...family, ...descendantsOf(pid)]);
  });
  try {
    await bounded(
      (async () => {
        for (;;) {
          const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
            (r) => r.ok,
            () => false,
          );
          if (ok) return;
          if (child.exitCode !== null) throw new Error(`${command.join(' ')} exited (${child.exitCode}) before /healthz answered`);
          await sleep(20);
        }
      })(),
      120_000,
      `/healthz of ${command.join(' ')}`,
    );
    return performance.now() - started;
  } finally {
    await stop();
  }
}
