import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { SECRET_VARIABLES, type Config } from '@wegent-codex/contracts';
import { sharedReadablePaths } from '@wegent-codex/sandbox';
import type { KeyCheck } from './git-token-key-check';
import type { Role } from './roles';

const real = (path: string) => {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
};

const inside = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/**
 * Every task sandbox binds /usr, /etc and SANDBOX_READABLE_PATHS read-only, and WORKSPACE_ROOT holds
 * the tasks' own folders: a `<NAME>_FILE` secret there (say SECRETS_KEY_FILE=/etc/wegent/key, a
 * common place) is a file every task can `cat`. A worker refuses to start with one, in every
 * environment — it is a leak, not a default (docs/en/security.md, "What an operator must configure").
 * Call before removeSecretsFromEnv (it reads the `_FILE` variables).
 */
export function secretFileCheck(
  env: NodeJS.ProcessEnv,
  config: Pick<Config, 'SANDBOX' | 'SANDBOX_READABLE_PATHS' | 'WORKSPACE_ROOT'>,
  roles: readonly Role[],
): KeyCheck {
  if (!roles.includes('worker') || config.SANDBOX === 'off') return { verdict: 'ok' };
  const roots = [...sharedReadablePaths(config.SANDBOX_READABLE_PATHS), config.WORKSPACE_ROOT].map(real);
  const exposed = SECRET_VARIABLES.map((name) => `${name}_FILE`).filter((variable) => {
    const file = env[variable]?.trim();
    return file && roots.some((root) => inside(root, real(file)));
  });
  if (exposed.length === 0) return { verdict: 'ok' };
  return {
    verdict: 'refuse',
    message: `${exposed.join(', ')} ${exposed.length > 1 ? 'name files' : 'names a file'} inside a folder every task sandbox can read (/usr, /etc, SANDBOX_READABLE_PATHS or WORKSPACE_ROOT): mount secret files elsewhere, e.g. /run/secrets`,
  };
}
