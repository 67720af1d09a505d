import type { Config } from '@wegent-codex/contracts';
import { DEFAULT_GIT_TOKEN_AES_IV, DEFAULT_GIT_TOKEN_AES_KEY } from '@wegent-codex/workspace';
import type { Role } from './roles';

export type KeyCheck = { verdict: 'ok' } | { verdict: 'warn' | 'refuse'; message: string };

/**
 * GIT_TOKEN_AES_KEY/IV default to Wegent's public constants, so a git token sealed with them is
 * sealed for nobody. They must equal the values of the Wegent backend that encrypts the tokens;
 * left at the defaults, a worker says so at boot, and refuses to start when NODE_ENV=production.
 * Only the worker decrypts tokens; other roles are not concerned.
 */
export function gitTokenKeyCheck(
  config: Pick<Config, 'GIT_TOKEN_AES_KEY' | 'GIT_TOKEN_AES_IV'>,
  roles: readonly Role[],
  nodeEnv: string | undefined,
): KeyCheck {
  if (!roles.includes('worker')) return { verdict: 'ok' };
  const defaults = [
    config.GIT_TOKEN_AES_KEY === DEFAULT_GIT_TOKEN_AES_KEY && 'GIT_TOKEN_AES_KEY',
    config.GIT_TOKEN_AES_IV === DEFAULT_GIT_TOKEN_AES_IV && 'GIT_TOKEN_AES_IV',
  ].filter((name): name is string => Boolean(name));
  if (defaults.length === 0) return { verdict: 'ok' };
  const names = defaults.join(' and ');
  const what = `${names} ${defaults.length > 1 ? 'are' : 'is'} Wegent's public default: git tokens are encrypted with a key everyone knows; set the values of your Wegent backend`;
  return nodeEnv === 'production'
    ? { verdict: 'refuse', message: `${what} (NODE_ENV=production refuses the default)` }
    : { verdict: 'warn', message: what };
}
