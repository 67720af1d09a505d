// The layering of wegent-codex, checked in CI by `npm run lint` (dependency-cruiser).
//
//   libs/contracts                      zod schemas: depend on nothing of ours
//   libs/event-log, libs/codex          contracts
//   libs/redaction                      contracts (what a secret is, how it is masked)
//   libs/runtime                        contracts, event-log, redaction
//   libs/sandbox                        contracts, runtime
//   libs/limits                         contracts, runtime, codex, sandbox
//   libs/workspace                      contracts, runtime, event-log, redaction, sandbox
//   libs/metrics                        contracts, runtime, event-log
//   libs/queue                          contracts, runtime, event-log, metrics
//   apps/api, apps/worker, apps/relay   libs; never one another
//   apps/cli                            libs, and apps/relay's public entry (replay re-sends callbacks)
//   apps/service                        the composition root: libs and every app's public entry
//
// Across a library boundary, code imports the library's public entry only: `@wegent-codex/<lib>`
// (libs/<lib>/src/index.ts); another app, only its src/index.ts. No cycles. Specs may reach into
// the code they test; production code never imports test/ or bench/.
const LIBS = '(contracts|event-log|codex|redaction|runtime|sandbox|limits|workspace|metrics|queue)';
const lib = (name) => `^libs/${name}/`;
const production = { path: '^(apps|libs)/', pathNot: ['\\.spec\\.ts$', '\\.d\\.ts$'] };

/** A library may use only the ones listed (and itself). */
const allowedBelow = {
  contracts: [],
  'event-log': ['contracts'],
  codex: ['contracts'],
  redaction: ['contracts'],
  runtime: ['contracts', 'event-log', 'redaction'],
  sandbox: ['contracts', 'runtime'],
  limits: ['contracts', 'runtime', 'codex', 'sandbox'],
  workspace: ['contracts', 'runtime', 'event-log', 'redaction', 'sandbox'],
  metrics: ['contracts', 'runtime', 'event-log'],
  queue: ['contracts', 'runtime', 'event-log', 'metrics'],
};

module.exports = {
  forbidden: [
    ...Object.entries(allowedBelow).map(([name, allowed]) => ({
      name: `layer-${name}`,
      comment: `libs/${name} may import ${allowed.length ? allowed.map((a) => `libs/${a}`).join(', ') : 'no other library'} (see the layering at the top of .dependency-cruiser.js)`,
      severity: 'error',
      from: { path: lib(name), pathNot: '\\.spec\\.ts$' },
      to: { path: `^libs/${LIBS}/`, pathNot: [lib(name), ...allowed.map(lib)] },
    })),
    {
      name: 'libs-not-apps',
      comment: 'a library never imports an app',
      severity: 'error',
      from: { path: '^libs/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^apps/' },
    },
    {
      name: 'apps-not-each-other',
      comment: 'api, worker and relay do not import one another; only apps/service composes them',
      severity: 'error',
      from: { path: '^apps/(api|worker|relay)/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'cli-not-service-internals',
      comment: "the CLI uses libraries, and the relay's public entry (replay re-sends callbacks); nothing of apps/service",
      severity: 'error',
      from: { path: '^apps/cli/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^apps/', pathNot: ['^apps/cli/', '^apps/relay/src/index\\.ts$'] },
    },
    {
      name: 'library-public-entry',
      comment: 'across libraries, import @wegent-codex/<lib> (libs/<lib>/src/index.ts), not a file inside it',
      severity: 'error',
      from: { path: '^(apps|libs|test|bench|scripts)/([^/]+)/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^libs/[^/]+/src/', pathNot: ['^libs/$2/', '^libs/[^/]+/src/index\\.ts$'] },
    },
    {
      name: 'library-by-alias',
      comment: 'across libraries, import by the alias @wegent-codex/<lib>, not by a relative path',
      severity: 'error',
      from: { path: '^(apps|libs)/([^/]+)/' },
      to: { path: '^libs/', pathNot: '^libs/$2/', dependencyTypesNot: ['aliased'] },
    },
    {
      name: 'app-public-entry',
      comment: 'another app is imported through its src/index.ts only',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/[^/]+/src/', pathNot: ['^apps/$1/', '^apps/[^/]+/src/index\\.ts$'] },
    },
    {
      name: 'no-test-code-in-production',
      comment: 'production code does not import test/ or bench/',
      severity: 'error',
      from: production,
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'no-cycles',
      comment: 'no import cycles (a type-only import counts: it still ties the two modules together)',
      severity: 'error',
      from: { path: '^(apps|libs)/' },
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      comment: 'every import resolves',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|\\.data|\\.stryker-tmp|reports|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
