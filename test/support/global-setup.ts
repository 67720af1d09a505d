import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * Jest globalSetup: compiles the service into `dist/` once per run, so the suites that spawn
 * `node dist/apps/service/src/main.js` (test/reliability) never test a stale build.
 * Same compiler and options as `npm run build` (`tsc -p tsconfig.build.json`).
 */
export default function globalSetup(): void {
  const root = resolve(__dirname, '../..');
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`globalSetup: \`tsc -p tsconfig.build.json\` failed, dist/ is not fresh:\n${String(stdout ?? '')}${String(stderr ?? '')}`);
  }
}
