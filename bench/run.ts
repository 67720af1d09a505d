import 'reflect-metadata';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { startFakeResponses } from '../test/fixtures/fake-responses';
import { renderReport, type BenchResults } from './report';
import { runBullmqCeiling } from './scenarios/bullmq-ceiling';
import { runMemory } from './scenarios/memory';
import { runOverhead } from './scenarios/overhead';
import { runParallelVsBare } from './scenarios/parallel-vs-bare';
import { runRelayFlood } from './scenarios/relay-flood';
import { runRelayGrowth } from './scenarios/relay-growth';
import { runRelayLatency } from './scenarios/relay-latency';
import { runRestart } from './scenarios/restart';
import { runScaleOut } from './scenarios/scale-out';
import { runWarm } from './scenarios/warm';
import { runWorkerLoss } from './scenarios/worker-loss';
import { runStreaming } from './scenarios/streaming';
import { runThroughput } from './scenarios/throughput';
import { BENCH_DATA_ROOT, BenchContext, REPO_ROOT } from './support/bench-context';
import { currentLoad, describeMachine } from './support/machine';
import type { ScenarioEnv } from './support/scenario-env';

/**
 * `npm run bench [-- --quick] [--write-docs] [--only a,b]`: the service against real Redis and the
 * real Codex binary with the scripted fake model. Full mode writes bench/results/latest.json and
 * docs/benchmarks.md; --quick (CI) writes bench/results/quick.json only. Exits non-zero only when a
 * scenario fails (a task that did not complete, a timeout, a process or key left behind) — never
 * because a number is slow.
 */

const DOCS_FILE = join(REPO_ROOT, 'docs', 'benchmarks.md');

/** WORKER_CONCURRENCY levels of the throughput scenario; full mode fills in the curve between them. */
const WORKER_CONCURRENCIES = { quick: [1, 4, 16], full: [1, 2, 4, 8, 16] } as const;

type ScenarioName =
  | 'overhead'
  | 'relayLatency'
  | 'relayFlood'
  | 'relayGrowth'
  | 'bullmqCeiling'
  | 'throughput'
  | 'streaming'
  | 'memory'
  | 'restart'
  | 'warm'
  | 'parallelVsBare'
  | 'workerLoss'
  | 'scaleOut';

const SCENARIOS: Record<ScenarioName, (env: ScenarioEnv) => Promise<unknown>> = {
  overhead: runOverhead,
  memory: runMemory,
  relayLatency: runRelayLatency,
  relayFlood: runRelayFlood,
  relayGrowth: runRelayGrowth,
  bullmqCeiling: (env) => runBullmqCeiling(env, WORKER_CONCURRENCIES[env.quick ? 'quick' : 'full']),
  throughput: (env) => runThroughput(env, WORKER_CONCURRENCIES[env.quick ? 'quick' : 'full']),
  streaming: runStreaming,
  restart: runRestart,
  warm: runWarm,
  parallelVsBare: runParallelVsBare,
  workerLoss: runWorkerLoss,
  scaleOut: runScaleOut,
};

const USAGE = `usage: npm run bench [-- [--quick] [--write-docs] [--only ${Object.keys(SCENARIOS).join(',')}] [--merge]]
  --quick       few samples, a few minutes (CI); writes bench/results/quick.json
  --write-docs  also rewrite docs/benchmarks.md (done anyway by a full run of every scenario)
  --only        run only these scenarios (comma-separated); results go to .data/bench/partial-*.json
  --merge       with --only (full mode): put these scenarios' new results into bench/results/latest.json
                in place of the old ones, note the run in it, and rewrite docs/benchmarks.md
  --render-only measure nothing: rewrite docs/benchmarks.md from bench/results/latest.json (after editing report.ts)`;

function parseCommandLine(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      'write-docs': { type: 'boolean', default: false },
      only: { type: 'string' },
      'render-only': { type: 'boolean', default: false },
      merge: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const names = Object.keys(SCENARIOS) as ScenarioName[];
  const only = values.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only?.filter((s) => !names.includes(s as ScenarioName)) ?? [];
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}\n${USAGE}`);
  if (values.merge && (!only || values.quick)) throw new Error(`--merge needs --only and full mode\n${USAGE}`);
  // A partial run never replaces the full report unless asked to.
  return {
    merge: values.merge,
    quick: values.quick,
    writeDocs: values['write-docs'] || (!values.quick && !only),
    renderOnly: values['render-only'],
    help: values.help,
    partial: Boolean(only),
    scenarios: only ? (only as ScenarioName[]) : names,
  };
}

/** bench/results/{latest,quick}.json; a partial run (--only) goes to the untracked .data/bench. */
function resultsFile(options: { quick: boolean; partial: boolean }): string {
  const name = options.quick ? 'quick.json' : 'latest.json';
  return options.partial ? join(BENCH_DATA_ROOT, `partial-${name}`) : join(REPO_ROOT, 'bench', 'results', name);
}

/** The command as typed: `npm run bench -- …` under npm, the node command otherwise. */
function commandLine(argv: string[]): string {
  const args = argv.join(' ');
  if (process.env.npm_lifecycle_event) return `npm run ${process.env.npm_lifecycle_event}${args ? ` -- ${args}` : ''}`;
  return `node dist/bench/run.js${args ? ` ${args}` : ''}`;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const options = parseCommandLine(argv);
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const progress = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
  if (options.renderOnly) {
    const results = JSON.parse(await readFile(resultsFile({ quick: false, partial: false }), 'utf8')) as BenchResults;
    await writeFile(DOCS_FILE, renderReport(results));
    progress(`${DOCS_FILE} rendered from the ${results.machine.date} run`);
    return 0;
  }
  const ctx = new BenchContext();
  await ctx.init();
  // Ctrl-C or a CI timeout: still leave nothing behind.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress(`${signal}: cleaning up`);
      void ctx.cleanup().finally(() => process.exit(130));
    });
  }
  // Last resort if a bounded wait somehow is not: clean up and fail.
  const watchdogMs = options.quick ? 15 * 60_000 : 60 * 60_000;
  const watchdog = setTimeout(() => {
    progress(`the run exceeded ${watchdogMs / 60_000} minutes: cleaning up and failing`);
    void ctx.cleanup().finally(() => process.exit(1));
  }, watchdogMs);

  let results: BenchResults;
  let cleanupProblems: string[] = [];
  try {
    results = await runScenarios(ctx, options, commandLine(argv), progress);
  } finally {
    clearTimeout(watchdog);
    // Runs even when setting up failed (then the error propagates after it).
    cleanupProblems = await ctx.cleanup();
  }
  for (const problem of cleanupProblems) results.errors.push({ scenario: 'cleanup', message: problem });

  if (options.merge && results.errors.length === 0) results = await mergeIntoLatest(results);
  const report = renderReport(results);
  const json = options.merge ? resultsFile({ quick: false, partial: false }) : resultsFile(options);
  await mkdir(dirname(json), { recursive: true });
  await writeFile(json, `${JSON.stringify(results, null, 2)}\n`);
  progress(`raw results: ${json}`);
  if ((options.writeDocs || options.merge) && results.errors.length === 0) {
    await writeFile(DOCS_FILE, report);
    progress(`report: ${DOCS_FILE}`);
  } else if (options.writeDocs) {
    progress(`${DOCS_FILE} left as it was: this run had errors`);
  }
  process.stdout.write(report);
  if (results.errors.length) {
    progress(`${results.errors.length} error(s):\n${results.errors.map((e) => `  ${e.scenario}: ${e.message}`).join('\n')}`);
    return 1;
  }
  return 0;
}

/**
 * The last full run (bench/results/latest.json) with this partial run's scenarios in place of its
 * own; the partial run is listed in `merged` (date, command, load, scenarios), which the report
 * names next to those sections. Machine and errors stay the full run's.
 */
async function mergeIntoLatest(partial: BenchResults): Promise<BenchResults> {
  const latest = JSON.parse(await readFile(resultsFile({ quick: false, partial: false }), 'utf8')) as BenchResults;
  const scenarios = Object.keys(partial.scenarios);
  return {
    ...latest,
    scenarios: { ...latest.scenarios, ...partial.scenarios },
    merged: [
      ...(latest.merged ?? [])
        .map((m) => ({ ...m, scenarios: m.scenarios.filter((name) => !scenarios.includes(name)) }))
        .filter((m) => m.scenarios.length),
      {
        scenarios,
        date: partial.machine.date,
        command: partial.command,
        loadAverage: { start: partial.machine.loadAverage.start, end: partial.machine.loadAverage.end ?? currentLoad() },
      },
    ],
  };
}

async function runScenarios(
  ctx: BenchContext,
  options: ReturnType<typeof parseCommandLine>,
  command: string,
  progress: (m: string) => void,
): Promise<BenchResults> {
  const fake = await startFakeResponses();
  ctx.defer('fake model', () => fake.close());
  const machine = await describeMachine(ctx.redisUrl);
  let taskId = 1_000;
  const env: ScenarioEnv = { ctx, fake, quick: options.quick, progress, nextTaskId: () => (taskId += 1) };
  const results: BenchResults = { mode: options.quick ? 'quick' : 'full', command, machine, scenarios: {}, errors: [] };

  progress(`${results.mode} run ${ctx.id}: ${options.scenarios.join(', ')} (temp ${ctx.root}, Redis prefix ${ctx.prefix})`);
  for (const name of options.scenarios) {
    const started = Date.now();
    try {
      (results.scenarios as Record<string, unknown>)[name] = await SCENARIOS[name](env);
      progress(`${name} done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      results.errors.push({ scenario: name, message });
      progress(`${name} FAILED: ${message}`);
      if (error instanceof Error && error.stack) progress(error.stack);
    }
  }
  machine.loadAverage.end = currentLoad();
  return results;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
