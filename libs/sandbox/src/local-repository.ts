import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const within = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/**
 * The host path a `file://` or local-path git_url (ALLOW_FILE_GIT_URLS: tests and the demo) may add
 * to a run's read-only view — only a repository (bare, or a work tree with its .git) that lies
 * neither in nor above WORKSPACE_ROOT. git_url comes from the user: `file:///` would otherwise bind the whole
 * host (its /proc included: every process's environment), and a path into WORKSPACE_ROOT another
 * tenant's clone. Anything else gives no path, and the clone fails as for a missing repository.
 */
export function localRepositoryBind(gitUrl: string, workspaceRoot: string): string | undefined {
  let path: string;
  try {
    path = gitUrl.startsWith('file://') ? fileURLToPath(gitUrl) : gitUrl;
    if (!isAbsolute(path)) return undefined;
    path = realpathSync(path);
  } catch {
    return undefined;
  }
  const root = existsSync(workspaceRoot) ? realpathSync(workspaceRoot) : workspaceRoot;
  if (within(root, path) || within(path, root)) return undefined;
  const isDir = (p: string) => statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
  const gitDir = (dir: string) => isDir(dir) && existsSync(join(dir, 'HEAD')) && isDir(join(dir, 'objects')) && isDir(join(dir, 'refs'));
  return gitDir(path) || gitDir(join(path, '.git')) ? path : undefined;
}
