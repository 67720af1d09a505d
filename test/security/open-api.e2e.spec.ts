import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { apiTokenCheck } from '../../apps/service/src';

/**
 * The sandbox shares the network: a task command is a client of every API it can reach — its own
 * worker's on 127.0.0.1 (compose runs `worker api`), the api service over the compose/pod network.
 * Without API_TOKEN that client reads every tenant's events, cancels and enqueues tasks. The shipped
 * compose file left API_TOKEN empty, and nothing said so.
 */
const OPEN =
  "without API_TOKEN, /api and /v1 answer anyone who reaches this port, task commands included (any tenant's events, cancel, enqueue); set API_TOKEN";

describe('an API without API_TOKEN', () => {
  it('is warned about wherever the api role runs, refused with NODE_ENV=production', () => {
    expect(apiTokenCheck({ API_TOKEN: undefined }, ['api', 'worker', 'relay'], undefined)).toEqual({ verdict: 'warn', message: OPEN });
    expect(apiTokenCheck({ API_TOKEN: undefined }, ['worker', 'api'], 'production')).toEqual({
      verdict: 'refuse',
      message: `${OPEN} (NODE_ENV=production refuses an open API)`,
    });
    expect(apiTokenCheck({ API_TOKEN: undefined }, ['api'], 'production')).toEqual({
      verdict: 'refuse',
      message: `${OPEN} (NODE_ENV=production refuses an open API)`,
    });
    expect(apiTokenCheck({ API_TOKEN: 'tok' }, ['api', 'worker'], 'production')).toEqual({ verdict: 'ok' });
    expect(apiTokenCheck({ API_TOKEN: undefined }, ['worker', 'relay'], 'production')).toEqual({ verdict: 'ok' });
  });

  it('stops the built service (production, worker + api as in compose) before it touches Redis', () => {
    const main = resolve(process.env.WEGENT_TEST_DIST!, 'apps/service/src/main.js');
    const run = spawnSync(process.execPath, [main, 'worker', 'api'], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        GIT_TOKEN_AES_KEY: 'a-key-of-our-own-32-bytes-long!!',
        GIT_TOKEN_AES_IV: 'our-own-iv-16byt',
        REDIS_URL: 'redis://127.0.0.1:1',
        EMBEDDED_REDIS: 'never',
        LOG_LEVEL: 'silent',
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.stderr).toBe(`wegent-codex: ${OPEN} (NODE_ENV=production refuses an open API)\n`);
    expect(run.status).toBe(1);
  });
});
