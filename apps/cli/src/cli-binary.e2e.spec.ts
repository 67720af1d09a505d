import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { jobIdFor, TASK_QUEUE_NAME } from '@wegent-codex/contracts';
import { redisOptionsFromUrl } from '@wegent-codex/runtime';
import { dropPrefix } from '../../../test/support/test-config';

/**
 * The built CLI as an operator runs it: the path package.json publishes (under `dist/`), run from the
 * build Jest's globalSetup made for this run (never a stale or missing `dist/`), its shebang, exit
 * codes, and Ctrl-C ending a `tail` promptly.
 */
jest.setTimeout(30_000); // each case starts node processes; a busy machine makes that slow

const root = resolve(__dirname, '../../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const published: string = pkg.bin['wegent-codex'];
const bin = join(testBuild(), published.replace(/^dist\//, ''));

function testBuild(): string {
  const build = process.env.WEGENT_TEST_DIST;
  if (!build)
    throw new Error('WEGENT_TEST_DIST is not set: run Jest with jest.config.js, whose globalSetup builds the service for the e2e tier');
  return build;
}
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `test-cli-bin-${randomBytes(4).toString('hex')}`;

function run(
  args: string[],
  onStart?: (child: ReturnType<typeof spawn>) => void,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { PATH: process.env.PATH, REDIS_URL, REDIS_PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', fail);
    child.once('exit', (code, signal) => done({ code, signal, stdout, stderr }));
    onStart?.(child);
  });
}

describe('wegent-codex (built binary)', () => {
  afterAll(() => dropPrefix({ REDIS_URL, REDIS_PREFIX: prefix }));

  it('is the published bin, starts with a node shebang and prints usage', async () => {
    expect(published).toBe('dist/apps/cli/src/main.js');
    expect(readFileSync(bin, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: wegent-codex <command>');
    expect((await run(['status', '1'])).code).toBe(1);
  });

  it('ends a tail with exit code 130 shortly after SIGINT (Ctrl-C)', async () => {
    const queue = new Queue(TASK_QUEUE_NAME, { connection: redisOptionsFromUrl(REDIS_URL), prefix });
    await queue.add(jobIdFor(7, 1), { task_id: 7, subtask_id: 1, payloadRef: 'none' }, { jobId: jobIdFor(7, 1) });
    await queue.close();
    let interrupted = 0;
    const result = await run(['tail', '7', '1'], (child) => {
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('waiting for a worker') && !interrupted) {
          interrupted = Date.now();
          child.kill('SIGINT');
        }
      });
    });
    expect(result.stdout).toContain('queued (job waiting): waiting for a worker');
    expect(result.stdout).toContain('stopped following');
    expect(result.code).toBe(130);
    expect(Date.now() - interrupted).toBeLessThan(2_000);
  }, 15_000);
});
