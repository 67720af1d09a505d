// The unit tier's Jest project alone, for StrykerJS (stryker.config.mjs). Stryker's Jest runner
// loads a config file and merges its own options over it; jest.config.js would bring all three tiers
// (and the e2e tier's build) into every mutant's run.
const unit = require('./jest.config.js').projects.find((project) => project.displayName === 'unit');

module.exports = { ...unit, rootDir: __dirname };
