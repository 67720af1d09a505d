import { gitTokenKeyCheck } from './git-token-key-check';

const DEFAULTS = { GIT_TOKEN_AES_KEY: '12345678901234567890123456789012', GIT_TOKEN_AES_IV: '1234567890123456' };
const OWN = { GIT_TOKEN_AES_KEY: 'a-key-of-our-own-32-bytes-long!!', GIT_TOKEN_AES_IV: 'our-own-iv-16byt' };
const BOTH =
  "GIT_TOKEN_AES_KEY and GIT_TOKEN_AES_IV are Wegent's public default: git tokens are encrypted with a key everyone knows; set the values of your Wegent backend";

describe('the default git token key', () => {
  it('is warned about in a worker, refused with NODE_ENV=production, ignored by other roles', () => {
    expect(gitTokenKeyCheck(DEFAULTS, ['api', 'worker', 'relay'], undefined)).toEqual({ verdict: 'warn', message: BOTH });
    expect(gitTokenKeyCheck(DEFAULTS, ['worker'], 'production')).toEqual({
      verdict: 'refuse',
      message: `${BOTH} (NODE_ENV=production refuses the default)`,
    });
    expect(gitTokenKeyCheck({ ...OWN, GIT_TOKEN_AES_IV: DEFAULTS.GIT_TOKEN_AES_IV }, ['worker'], 'development')).toEqual({
      verdict: 'warn',
      message:
        "GIT_TOKEN_AES_IV is Wegent's public default: git tokens are encrypted with a key everyone knows; set the values of your Wegent backend",
    });
    expect(gitTokenKeyCheck(OWN, ['worker'], 'production')).toEqual({ verdict: 'ok' });
    expect(gitTokenKeyCheck(DEFAULTS, ['api', 'relay'], 'production')).toEqual({ verdict: 'ok' });
  });
});
