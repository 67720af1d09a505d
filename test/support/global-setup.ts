import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Jest globalSetup of the e2e tier: compiles the service once per run (the steps of `npm run build`:
 * `tsc -p tsconfig.build.json`, then `scripts/lib-aliases.js`), so the suites that spawn the built service
 * (test/support/service-process.ts) never test a stale build.
 *
 * The output goes to a directory of this run, `.data/test-dist/<jest pid>/`, not to `dist/`:
 * tsc rewrites every file, and a process loading `dist/` meanwhile — a service spawned by another
 * Jest run, a benchmark, `npm start` — can read a half-written module. Builds of runs whose Jest
 * process is gone are removed here.
 */
const TEST_DIST_ROOT = resolve(__dirname, '../../.data/test-dist');

export default function globalSetup(): void {
  const root = resolve(__dirname, '../..');
  for (const name of safeReaddir(TEST_DIST_ROOT)) {
    if (/^\d+$/.test(name) && !processExists(Number(name))) rmSync(join(TEST_DIST_ROOT, name), { recursive: true, force: true });
  }
  const outDir = join(TEST_DIST_ROOT, String(process.pid));
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
    });
    execFileSync(process.execPath, [join(root, 'scripts/lib-aliases.js'), outDir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }); // same steps as `npm run build`
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(
      `globalSetup: \`tsc -p tsconfig.build.json\` failed, the service cannot be built for the tests:\n${String(stdout ?? '')}${String(stderr ?? '')}`,
    );
  }
  // Inherited by the test processes (and seen in-band): where service-process.ts finds main.js.
  process.env.WEGENT_TEST_DIST = outDir;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
