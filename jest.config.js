// Three tiers, chosen by the spec's file name (docs/en/testing.md):
//   *.spec.ts      unit: no Redis, no Codex, no build — runs on a fresh clone (`npm run test:unit`)
//   *.int.spec.ts  integration: a real Redis at REDIS_URL                  (`npm run test:integration`)
//   *.e2e.spec.ts  end to end: the real Codex CLI and/or the built service (`npm run test:e2e`)
// `npm test` runs all three. test/support/unit-tier-guard.ts fails a unit spec that touches Redis, Codex or
// the build; only the e2e tier builds the service (test/support/global-setup.ts).
//
// execa@9 and its dependency tree are ESM-only. Jest's CommonJS runtime cannot require(esm) on
// Node 20, so every ESM-only package in node_modules is transpiled to CommonJS by ts-jest, like
// our own sources. The list is read from node_modules so a dependency bump cannot break it.
const fs = require('node:fs');
const path = require('node:path');

function esmPackages(nodeModules, prefix = '') {
  // Returns paths relative to the top node_modules, nested copies included
  // (e.g. "npm-run-path/node_modules/path-key").
  const found = [];
  const visit = (dir, rel) => {
    for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (name.startsWith('.')) continue;
      const full = path.join(dir, name);
      if (name.startsWith('@')) {
        visit(full, `${rel}${name}/`);
        continue;
      }
      try {
        const pkg = JSON.parse(fs.readFileSync(path.join(full, 'package.json'), 'utf8'));
        if (pkg.type === 'module' && pkg.name !== '@openai/codex') found.push(`${rel}${name}`);
      } catch {
        /* not a package */
      }
      visit(path.join(full, 'node_modules'), `${rel}${name}/node_modules/`);
    }
  };
  visit(nodeModules, prefix);
  return found;
}

// Jest sees modules by their real path: a symlinked node_modules must match the pattern too.
const nodeModules = fs.existsSync(path.join(__dirname, 'node_modules'))
  ? fs.realpathSync(path.join(__dirname, 'node_modules'))
  : path.join(__dirname, 'node_modules');
const esm = esmPackages(nodeModules);
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const SPEC_ROOTS = '<rootDir>/{apps,libs,test,bench,scripts}/**/';

const shared = {
  testEnvironment: 'node',
  // execa's signal-exit keeps one emitter on the global object for the whole process. Jest 30's
  // soft delete of globals between files wraps its setters again for every file that touches
  // it, until a late write recurses past the stack (RangeError after the last test): off.
  testEnvironmentOptions: { globalsCleanup: 'off' },
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] },
  transformIgnorePatterns: [`^${escape(nodeModules)}/(?!(${esm.map(escape).join('|')})/)`],
  moduleNameMapper: {
    // unicorn-magic only exports an "import" condition.
    '^unicorn-magic$': '<rootDir>/node_modules/unicorn-magic/node.js',
    // Each library's public entry (tsconfig.json "paths"; compiled trees: scripts/lib-aliases.js).
    '^@wegent-codex/([a-z-]+)$': '<rootDir>/libs/$1/src/index.ts',
  },
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/dist/', '<rootDir>/.data/', '<rootDir>/.stryker-tmp/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/.data/', '<rootDir>/.stryker-tmp/'],
};

module.exports = {
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: [`${SPEC_ROOTS}*.spec.ts`],
      testPathIgnorePatterns: [...shared.testPathIgnorePatterns, '\\.int\\.spec\\.ts$', '\\.e2e\\.spec\\.ts$'],
      setupFilesAfterEnv: ['<rootDir>/test/support/unit-tier-guard.ts'],
    },
    { ...shared, displayName: 'integration', testMatch: [`${SPEC_ROOTS}*.int.spec.ts`] },
    { ...shared, displayName: 'e2e', testMatch: [`${SPEC_ROOTS}*.e2e.spec.ts`], globalSetup: '<rootDir>/test/support/global-setup.ts' },
  ],
};
