import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { gitTokenKeyCheck } from './git-token-key-check';

const DEFAULTS = { GIT_TOKEN_AES_KEY: '12345678901234567890123456789012', GIT_TOKEN_AES_IV: '1234567890123456' };
const OWN = { GIT_TOKEN_AES_KEY: 'a-key-of-our-own-32-bytes-long!!', GIT_TOKEN_AES_IV: 'our-own-iv-16byt' };
const BOTH = "GIT_TOKEN_AES_KEY and GIT_TOKEN_AES_IV are Wegent's public default: git tokens are encrypted with a key everyone knows; set the values of your Wegent backend";

describe('the default git token key', () => {
  it('is warned about in a worker, refused with NODE_ENV=production, ignored by other roles', () => {
    expect(gitTokenKeyCheck(DEFAULTS, ['api', 'worker', 'relay'], undefined)).toEqual({ verdict: 'warn', message: BOTH });
    expect(gitTokenKeyCheck(DEFAULTS, ['worker'], 'production')).toEqual({ verdict: 'refuse', message: `${BOTH} (NODE_ENV=production refuses the default)` });
    expect(gitTokenKeyCheck({ ...OWN, GIT_TOKEN_AES_IV: DEFAULTS.GIT_TOKEN_AES_IV }, ['worker'], 'development')).toEqual({
      verdict: 'warn',
      message: "GIT_TOKEN_AES_IV is Wegent's public default: git tokens are encrypted with a key everyone knows; set the values of your Wegent backend",
    });
    expect(gitTokenKeyCheck(OWN, ['worker'], 'production')).toEqual({ verdict: 'ok' });
    expect(gitTokenKeyCheck(DEFAULTS, ['api', 'relay'], 'production')).toEqual({ verdict: 'ok' });
  });

  it('stops the built service before it touches Redis, with one line on stderr', () => {
    const main = resolve(process.env.WEGENT_TEST_DIST!, 'apps/service/src/main.js');
    const run = spawnSync(process.execPath, [main, 'worker'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production', REDIS_URL: 'redis://127.0.0.1:1', EMBEDDED_REDIS: 'never', LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`wegent-codex: ${BOTH} (NODE_ENV=production refuses the default)\n`);
  });
});
