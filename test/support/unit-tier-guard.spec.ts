import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { violations } from './unit-tier-guard';

/** The unit tier's guard refuses, with a line naming the right tier, what a unit spec must not do. */
describe('unit tier guard', () => {
  afterEach(() => violations.splice(0)); // these refusals are the point of this spec

  it('refuses a connection to Redis', () => {
    expect(() => new Socket().connect({ port: 6379, host: '127.0.0.1' })).toThrow(
      'unit tier: this spec connects to Redis (port 6379); name it *.int.spec.ts (see docs/en/testing.md)',
    );
  });

  it('refuses to start the Codex CLI', () => {
    expect(() => spawn('node_modules/@openai/codex/bin/codex.js', ['--version'])).toThrow(
      'unit tier: this spec starts the Codex CLI (node_modules/@openai/codex/bin/codex.js); name it *.e2e.spec.ts (see docs/en/testing.md)',
    );
    expect(() => execFileSync('codex', ['--version'])).toThrow('unit tier: this spec starts the Codex CLI (codex); name it *.e2e.spec.ts');
  });

  it('refuses the build: reading dist/ or running it', () => {
    const main = resolve(__dirname, '../../dist/apps/service/src/main.js');
    expect(() => existsSync(main)).toThrow(`unit tier: this spec reads the build (${main}); name it *.e2e.spec.ts`);
    expect(() => readFileSync(main)).toThrow(`unit tier: this spec reads the build (${main})`);
    expect(() => spawn(process.execPath, [main])).toThrow(`unit tier: this spec runs the built service (${main}); name it *.e2e.spec.ts`);
    expect(process.env.WEGENT_TEST_DIST).toBeUndefined();
  });

  it('lets everything else through', () => {
    expect(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')).toContain('"name": "wegent-codex"');
    expect(execFileSync('true')).toHaveLength(0);
    expect(violations).toEqual([]);
  });
});
