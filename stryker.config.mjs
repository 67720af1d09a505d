// Mutation testing of the core (docs/quality.md). Not in CI: it takes long.
//   npm run test:mutation                          every area, one after the other
//   MUTATION_AREA=fold npx stryker run             one area (fold, relay, queue, masking, git, config)
// Each area runs the unit specs of its code only (the unit tier: no Redis, no Codex, no build), one
// Jest at a time — the machine is shared. Reports: reports/mutation/<area>.{json,html}.
export const AREAS = {
  fold: {
    // The 2025 fold (callbacks, workbench) and the 2026 one (Responses events).
    mutate: ['libs/event-log/src/callback-fold.ts', 'libs/event-log/src/workbench-fold.ts', 'libs/event-log/src/responses-fold.ts'],
    specs: [
      'libs/event-log/src/callback-fold.spec.ts',
      'libs/event-log/src/responses-fold.spec.ts',
      'libs/event-log/src/merge-deltas.spec.ts',
    ],
  },
  relay: {
    // The pure parts; the Redis-backed ones are exercised by the integration tier.
    mutate: ['apps/relay/src/coalesce.ts', 'apps/relay/src/backoff.ts', 'apps/relay/src/stream-id.ts'],
    specs: ['apps/relay/src/coalesce.spec.ts', 'apps/relay/src/backoff.spec.ts', 'apps/relay/src/stream-id.spec.ts'],
  },
  queue: { mutate: ['libs/queue/src/payload-vault.ts'], specs: ['libs/queue/src/payload-vault.spec.ts'] },
  masking: {
    mutate: ['libs/redaction/src/masking.ts', 'libs/redaction/src/stream-scrub.ts'],
    specs: ['libs/redaction/src/masking.spec.ts', 'libs/redaction/src/stream-scrub.spec.ts'],
  },
  git: {
    mutate: ['libs/workspace/src/git-token.ts', 'libs/workspace/src/repo-url.ts'],
    specs: ['libs/workspace/src/git-token.spec.ts', 'libs/workspace/src/repo-url.spec.ts'],
  },
  config: {
    // The rules (booleans, numbers, loading and naming bad values); the describe() texts are the
    // generated docs' business (test/ops/config-docs.spec.ts).
    mutate: ['libs/contracts/src/config.schema.ts:9-19', 'libs/contracts/src/config.schema.ts:78-104'],
    specs: ['libs/contracts/src/config.schema.spec.ts', 'libs/contracts/src/config-rules.spec.ts'],
  },
};

const names = process.env.MUTATION_AREA ? process.env.MUTATION_AREA.split(',') : Object.keys(AREAS);
for (const name of names)
  if (!AREAS[name]) throw new Error(`MUTATION_AREA: unknown area "${name}" (one of ${Object.keys(AREAS).join(', ')})`);
const chosen = names.map((name) => AREAS[name]);
// MUTATION_SPECS=a.spec.ts,b.spec.ts replaces the areas' specs (to measure a "before" with fewer specs).
const specs = process.env.MUTATION_SPECS ? process.env.MUTATION_SPECS.split(',') : chosen.flatMap((area) => area.specs);
const label = `${names.length === 1 ? names[0] : 'all'}${process.env.MUTATION_SPECS ? '-custom-specs' : ''}`;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: {
    projectType: 'custom',
    configFile: 'stryker.jest.config.js', // the unit tier only
    config: { testMatch: specs.map((spec) => `<rootDir>/${spec}`) },
    enableFindRelatedTests: false,
  },
  coverageAnalysis: 'perTest',
  concurrency: 1,
  // A mutant's run is given (its specs' own time) × 1.5 + timeoutMS. The specs take well under a
  // second, so 5 s is generous even on the loaded machine; at 20 s, the mutants that loop forever
  // (or sleep the hour a spec aborts) cost most of a run.
  timeoutMS: 5_000,
  mutate: chosen.flatMap((area) => area.mutate),
  ignorePatterns: ['dist', '.data', 'bench/results', 'reports'],
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  jsonReporter: { fileName: `reports/mutation/${label}.json` },
  htmlReporter: { fileName: `reports/mutation/${label}.html` },
  thresholds: { high: 85, low: 70, break: null },
  // `npx stryker run --incremental` re-tests only the mutants whose code or covering specs changed.
  incrementalFile: `reports/mutation/${label}-incremental.json`,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
