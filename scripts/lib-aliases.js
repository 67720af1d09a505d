#!/usr/bin/env node
// Makes `require('@wegent-codex/<lib>')` work in a compiled tree: tsc keeps the alias of
// tsconfig.json "paths" as written, so every build output (dist/, the test build of Jest's
// globalSetup) gets <outDir>/node_modules/@wegent-codex/<lib>/index.js pointing at
// <outDir>/libs/<lib>/src/index.js. Node finds it by walking up from any compiled file, whatever
// the output folder is called; no runtime dependency, no loader hook.
// Usage: node scripts/lib-aliases.js <outDir>   (npm run build runs it on dist/)
'use strict';
const { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');

function linkLibAliases(outDir) {
  const libs = join(outDir, 'libs');
  const scope = join(outDir, 'node_modules', '@wegent-codex');
  rmSync(scope, { recursive: true, force: true });
  const linked = [];
  for (const name of existsSync(libs) ? readdirSync(libs) : []) {
    if (!existsSync(join(libs, name, 'src', 'index.js'))) continue;
    mkdirSync(join(scope, name), { recursive: true });
    writeFileSync(join(scope, name, 'index.js'), `module.exports = require('../../../libs/${name}/src/index.js');\n`);
    linked.push(name);
  }
  if (linked.length === 0) throw new Error(`lib-aliases: no libs/<name>/src/index.js under ${outDir} (was it built?)`);
  return linked;
}

module.exports = { linkLibAliases };

if (require.main === module) {
  const outDir = resolve(process.argv[2] ?? 'dist');
  linkLibAliases(outDir);
}
