import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * First run on a fresh machine (contract, issue 6): with REDIS_URL unset and nothing answering on
 * the default port, the service starts `redis-server` from PATH with its data under .data/redis
 * (append-only), and says so; with no redis-server either, it exits non-zero within 10 s with one
 * clear line. The machine's own Redis holds the default port, so each case runs in a network
 * namespace of its own (root, as on CI), where 127.0.0.1:6379 is free.
 */
const dist = process.env.WEGENT_TEST_DIST!; // the build globalSetup made for this run, never a stale dist/
const main = join(dist, 'apps/service/src/main.js');
const inNetns = (script: string) => ['-n', 'sh', '-c', `ip link set lo up && ${script}`];
const env = (extra: Record<string, string> = {}) => {
  const e: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    LOG_LEVEL: 'info',
    PORT: '10091',
    ...extra,
  };
  return e; // REDIS_URL deliberately absent
};

describe('first run: Redis', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(resolve(__dirname, '../../.data'), 'first-run-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts an embedded redis-server (AOF under .data/redis) when none answers, and stops it on SIGTERM', async () => {
    // Start, wait for "wegent-codex started", check readiness from inside the namespace, then SIGTERM.
    const script = [
      `node ${main} > out.log 2>&1 & pid=$!`,
      'for i in $(seq 1 100); do grep -q "wegent-codex started" out.log && break; sleep 0.1; done',
      "node -e \"fetch('http://127.0.0.1:10091/readyz').then(r=>r.text()).then(t=>console.log('READYZ '+t))\"",
      'kill -TERM $pid; wait $pid; echo EXIT=$?',
      // The embedded redis-server runs in .data/redis (its --dir); the machine's own one does not.
      'sleep 0.5; left=no; for p in $(pgrep -x redis-server); do case "$(readlink /proc/$p/cwd)" in "$PWD"/*) left=yes;; esac; done; [ $left = yes ] && echo REDIS_LEFT || echo REDIS_GONE',
      'cat out.log',
    ].join('; ');
    const result = await execa('unshare', inNetns(script), { cwd: dir, env: env(), extendEnv: false, timeout: 60_000, reject: false });
    expect(result.stdout).toContain('started an embedded redis-server');
    expect(result.stdout).toMatch(/READYZ \{"status":"ok"/);
    expect(result.stdout).toContain('EXIT=0');
    expect(result.stdout).toContain('REDIS_GONE');
    expect(await readdir(join(dir, '.data', 'redis'))).toEqual(expect.arrayContaining([expect.stringMatching(/^appendonly/)]));
  }, 90_000);

  it('with no Redis and no redis-server: one clear line naming REDIS_URL, non-zero exit, within 10 s', async () => {
    const started = Date.now();
    // PATH for the service holds node and nothing else: no redis-server to start.
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await symlink(process.execPath, join(bin, 'node'));
    const result = await execa('unshare', inNetns(`PATH=${bin} node ${main}`), {
      cwd: dir,
      env: env(),
      extendEnv: false,
      timeout: 15_000,
      reject: false,
    });
    expect(result.exitCode).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^wegent-codex: cannot reach Redis at 127\.0\.0\.1:6379 — set REDIS_URL/);
  }, 30_000);
});
