import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const BOTH =
  "GIT_TOKEN_AES_KEY and GIT_TOKEN_AES_IV are Wegent's public default: git tokens are encrypted with a key everyone knows; set the values of your Wegent backend";

describe('the default git token key, in the built service', () => {
  it('stops the built service before it touches Redis, with one line on stderr', () => {
    const main = resolve(process.env.WEGENT_TEST_DIST!, 'apps/service/src/main.js');
    const run = spawnSync(process.execPath, [main, 'worker'], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        REDIS_URL: 'redis://127.0.0.1:1',
        EMBEDDED_REDIS: 'never',
        LOG_LEVEL: 'silent',
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`wegent-codex: ${BOTH} (NODE_ENV=production refuses the default)\n`);
  });
});
