import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { exec, message, turn } from '../fixtures/fake-responses';
import { freePort } from '../support/service-process';
import { eventually } from '../support/test-config';
import { processesUnder, ReliabilityScene, sleep } from './reliability-scene';

/**
 * Redis restarts in the middle of a run. The shared Redis must never be restarted, so this test
 * runs a private `redis-server` (append-only file on, so the data survives the restart) on a free
 * port, points the service at it, and restarts that one.
 */

class PrivateRedis {
  private child?: ChildProcess;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(dir: string): Promise<PrivateRedis> {
    const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
    if (found.status !== 0 || !found.stdout.trim()) {
      throw new Error(
        'redis-server is not on PATH: the Redis-restart test needs it to run a private Redis (e.g. `apt-get install redis-server`)',
      );
    }
    await mkdir(dir, { recursive: true });
    const redis = new PrivateRedis(await freePort(), dir);
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'yes',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
    ];
    this.child = spawn('redis-server', args, { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await eventually(
        async () => {
          await probe.connect().catch(() => undefined);
          return (await probe.ping().catch(() => null)) === 'PONG';
        },
        10_000,
        50,
      );
    } finally {
      probe.disconnect();
    }
  }

  /** SIGTERM: Redis flushes its append-only file and exits; bounded wait. */
  async down(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async remove(): Promise<void> {
    await this.down();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** How long Redis is down: shorter than the job lock (JOB_LOCK_MS), so the run rides it out. */
const OUTAGE_MS = 1_500;

describe('reliability: Redis restarts mid-run', () => {
  let redis: PrivateRedis | undefined;
  let s: ReliabilityScene | undefined;

  afterEach(async () => {
    await s?.close();
    await redis?.remove();
  }, 30_000);

  it('the run rides it out: exactly one terminal callback (COMPLETED), callbacks complete and in order, the service keeps working', async () => {
    redis = await PrivateRedis.start(join(resolve(__dirname, '../../.data/test-rel'), `redis-${randomBytes(4).toString('hex')}`));
    s = await ReliabilityScene.create('redis-restart', { redisUrl: redis.url });
    const service = await s.start(['api', 'worker', 'relay']);
    s.router.script(
      801,
      turn([message('Sleeping through a Redis restart.', { phase: 'commentary' }), exec('sleep 4; echo slept')]),
      turn([message('Still here after the restart.', { phase: 'final_answer' })]),
    );
    await s.execute(801, 1, 'Sleep a little.');
    await eventually(async () => (await processesUnder(s!.taskDir(801), /^sleep 4$/)).length > 0, 60_000, 100);

    await redis.down();
    await sleep(OUTAGE_MS); // the outage's length is the scenario, not a wait for anything
    await redis.up();

    const terminal = await s.waitTerminal(801, 1, 60_000);
    await s.waitRelayDone(801, 1); // nothing may follow the terminal callback
    // A short outage is ridden out: commands queue in ioredis, the job lock (JOB_LOCK_MS) outlives it.
    expect(terminal).toMatchObject({
      status: 'COMPLETED',
      progress: 100,
      error_message: 'Sleeping through a Redis restart.\n\nStill here after the restart.',
    }); // what streamed is stored (issue 9)
    await s.expectCompleteDelivery(801, 1);
    expect(service.running).toBe(true);

    // Same process, same Redis, after the restart: a new job runs normally.
    s.router.script(802, turn([message('Fresh run after the restart.', { phase: 'final_answer' })]));
    await s.execute(802, 1, 'Run again.');
    expect(await s.waitTerminal(802, 1, 60_000)).toMatchObject({ status: 'COMPLETED', error_message: 'Fresh run after the restart.' });
    await s.waitRelayDone(802, 1);
    await s.expectCompleteDelivery(802, 1);
  }, 120_000);
});
