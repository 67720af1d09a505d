// Mutation testing of the core (docs/quality.md): `npm run test:mutation`. Not in CI — it takes long.
// The unit tier only (no Redis, no Codex, no build), one Jest at a time: the machine is shared.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const unit = require('./jest.config.js').projects.find((project) => project.displayName === 'unit');

const SPECS = [
  'libs/event-log/src/callback-fold.spec.ts',
  'apps/relay/src/coalesce.spec.ts',
  'apps/relay/src/backoff.spec.ts',
  'libs/queue/src/payload-vault.spec.ts',
  'libs/workspace/src/masking.spec.ts',
  'libs/workspace/src/stream-scrub.spec.ts',
  'libs/runtime/src/logger.spec.ts',
  'libs/workspace/src/git-token.spec.ts',
  'libs/workspace/src/repo-url.spec.ts',
  'libs/workspace/src/git/repo-proxy.spec.ts',
  'libs/contracts/src/config.schema.spec.ts',
  'libs/contracts/src/config-rules.spec.ts',
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  // The unit specs of the mutated code (the whole unit tier's dry run alone takes minutes here).
  jest: { projectType: 'custom', config: { ...unit, rootDir: '.', testMatch: SPECS.map((spec) => `<rootDir>/${spec}`) }, enableFindRelatedTests: false },
  coverageAnalysis: 'perTest',
  concurrency: 1,
  timeoutMS: 20_000,
  mutate: [
    // fold
    'libs/event-log/src/callback-fold.ts',
    'libs/event-log/src/workbench-fold.ts',
    // relay (pure parts; the Redis-backed ones are covered by the integration tier)
    'apps/relay/src/coalesce.ts',
    'apps/relay/src/backoff.ts',
    'apps/relay/src/stream-id.ts',
    'apps/relay/src/relay-timings.ts',
    // queue
    'libs/queue/src/payload-vault.ts',
    // masking
    'libs/workspace/src/masking.ts',
    'libs/workspace/src/stream-scrub.ts',
    // git
    'libs/workspace/src/git-token.ts',
    'libs/workspace/src/repo-url.ts',
    'libs/workspace/src/git/repo-proxy.ts',
    // config
    'libs/contracts/src/config.schema.ts',
  ],
  ignorePatterns: ['dist', '.data', 'bench/results', 'reports'],
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  thresholds: { high: 85, low: 70, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
