#!/usr/bin/env node
// `npm start`'s build step: `tsc -b` (incremental) and the lib aliases, skipped when no input of
// tsconfig.build.json changed since the last build that succeeded. `tsc -b` alone, even with
// nothing to do, loads TypeScript and checks every project: 1-3 s on a small machine, most of a
// restart. Here a restart with nothing changed costs one walk over the sources' timestamps.
// Inputs: the folders tsconfig.build.json includes (*.ts, specs excluded, and the folders
// themselves: a deleted or renamed file changes its folder), the tsconfig files, package-lock.json.
// The stamp dist/.build-stamp is written only after a build that succeeded, so a failed or
// interrupted build is retried at the next start. `--force` always builds.
// Usage: node scripts/build-if-changed.js [--force]
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync, statSync, utimesSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');

const ROOT = resolve(__dirname, '..');
const SOURCE_DIRS = ['apps', 'libs', 'bench', 'scripts', join('test', 'fixtures')];
const FILES = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];
const stampOf = (root) => join(root, 'dist', '.build-stamp');
const aliasesOf = (root) => join(root, 'dist', 'node_modules', '@wegent-codex');

/** The newest mtime (ms) among the build's inputs under `root`. */
function newestInput(root = ROOT) {
  let newest = 0;
  const seen = (path) => {
    const mtime = statSync(path).mtimeMs;
    if (mtime > newest) newest = mtime;
  };
  const walk = (dir) => {
    seen(dir);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) seen(path);
      else if (entry.name.endsWith('.js') && dir.endsWith('scripts')) seen(path);
    }
  };
  for (const dir of SOURCE_DIRS) if (existsSync(join(root, dir))) walk(join(root, dir));
  for (const file of FILES) if (existsSync(join(root, file))) seen(join(root, file));
  return newest;
}

/** True when the last successful build (its stamp) is at least as new as every input, and the aliases exist. */
function upToDate(root = ROOT) {
  if (!existsSync(stampOf(root)) || !existsSync(aliasesOf(root))) return false;
  return newestInput(root) <= statSync(stampOf(root)).mtimeMs;
}

function build() {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  // Taken before the build: a source saved while tsc runs is newer than the stamp, so rebuilt next time.
  const startedAt = new Date();
  execFileSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  require('./lib-aliases').linkLibAliases(join(ROOT, 'dist'));
  writeFileSync(stampOf(ROOT), `${startedAt.toISOString()}\n`);
  utimesSync(stampOf(ROOT), startedAt, startedAt);
}

if (require.main === module) {
  try {
    if (process.argv.includes('--force') || !upToDate()) build();
  } catch (error) {
    // tsc has printed its diagnostics; the status tells npm not to start a stale build.
    process.stderr.write(`build failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n`);
    process.exit(1);
  }
}

module.exports = { newestInput, upToDate };
