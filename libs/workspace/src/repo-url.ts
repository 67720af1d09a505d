import { percentEncodeAll } from '@wegent-codex/redaction';

/**
 * Git URL helpers (docs/protocol/wegent-protocol.md §11.1, §11.3) and the gate a `git_url` must pass before it
 * reaches `git clone`: the payload is outside input, and git treats some URL forms as commands.
 */

/** A directory name we can create under the task directory. */
const isSafeDirName = (name: string) => name !== '' && name !== '.' && name !== '..' && !/[\u0000-\u001f\u007f]/.test(name);

/**
 * The clone's directory name, as Wegent derives it: drop a trailing `.git`, cut at the first
 * `/-/` (GitLab UI URLs), take the last `/` segment or, when the URL ends with `/`, the one before.
 * Null when that name is unusable as a directory (empty, `.`, `..`, control characters).
 */
export function repoNameFromUrl(gitUrl: string): string | null {
  let url = gitUrl;
  if (url.endsWith('.git')) url = url.slice(0, -4);
  const cut = url.indexOf('/-/');
  if (cut >= 0) url = url.slice(0, cut);
  const parts = url.split('/');
  const last = parts[parts.length - 1];
  const name = last !== '' ? last : (parts[parts.length - 2] ?? '');
  return isSafeDirName(name) ? name : null;
}

export interface AuthenticatedUrlOptions {
  /**
   * Percent-encode user and token even when the URL is not a Gerrit one (Wegent encodes only for
   * Gerrit). Set it when the URL goes into a git credential-store file, which always decodes.
   */
  alwaysEncode?: boolean;
}

/**
 * `<scheme>://<user>:<token>@<rest>` for `http://`/`https://` URLs (§11.3); every other URL
 * (`git@…`, `ssh://…`) is returned unchanged. `user` defaults to `token`. User and token are
 * percent-encoded (every reserved character) only when the URL contains `gerrit` (any case).
 * The result holds the token: never log it, never put it on a command line.
 */
export function authenticatedUrl(
  url: string,
  user: string | null | undefined,
  token: string,
  options: AuthenticatedUrlOptions = {},
): string {
  if (!url.startsWith('https://') && !url.startsWith('http://')) return url;
  const at = url.indexOf('://');
  const scheme = url.slice(0, at);
  const rest = url.slice(at + 3);
  const name = user || 'token';
  const encode = options.alwaysEncode || url.toLowerCase().includes('gerrit');
  const [u, t] = encode ? [percentEncodeAll(name), percentEncodeAll(token)] : [name, token];
  return `${scheme}://${u}:${t}@${rest}`;
}

export type GitUrlKind = 'https' | 'http' | 'ssh' | 'scp' | 'file';
export type GitUrlCheck = { ok: true; kind: GitUrlKind; repoName: string } | { ok: false; error: string };

export interface GitUrlPolicy {
  /** Allow `file://` URLs and local paths (tests only; ALLOW_FILE_GIT_URLS). */
  allowFile?: boolean;
}

const fail = (error: string): GitUrlCheck => ({ ok: false, error });
const SSH_SCHEMES = new Set(['ssh', 'git+ssh', 'ssh+git']);
/** `[user@]host:path` — scp-like syntax: a colon before any slash (host may be `[v6]`). */
const SCP_LIKE = /^(?:([^@/]*)@)?(\[[^\]/]*\]|[^:/[\]@]+):(.*)$/s;

/**
 * Decides whether `git clone` may be given this URL. Allowed: `https://`, `http://`, `ssh://`
 * (also `git+ssh://`) and scp-like `git@host:owner/repo.git`; `file://` and local paths only with
 * `allowFile`. Refused: remote-helper transports (`ext::…`, `fd::…`), anything starting with `-`
 * or carrying `--upload-pack`/`--receive-pack` (option injection; `-u` can only appear as an
 * option at the start, which is refused, since whitespace is refused too), hosts or users starting
 * with `-` (`ssh://-oProxyCommand=…`), whitespace and control characters, other schemes. Error
 * messages never repeat the URL (it may hold credentials).
 */
export function checkGitUrl(url: string, policy: GitUrlPolicy = {}): GitUrlCheck {
  if (typeof url !== 'string' || url === '') return fail('git_url is empty');
  if (url.startsWith('-')) return fail('git_url must not start with "-" (it would be read as a git option)');
  if (/[\s\u0000-\u001f\u007f]/.test(url)) return fail('git_url must not contain whitespace or control characters');
  if (/--(?:upload|receive)-pack/i.test(url)) return fail('git_url must not contain --upload-pack or --receive-pack');
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url)) {
    return fail('git_url uses a remote-helper transport ("<transport>::…", e.g. ext:: or fd::), which can run commands; use https or ssh');
  }
  const repoName = repoNameFromUrl(url);
  const ok = (kind: GitUrlKind): GitUrlCheck =>
    repoName === null
      ? fail('git_url has no usable repository name (its last path segment is empty, "." or "..")')
      : { ok: true, kind, repoName };

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (scheme === 'https' || scheme === 'http') {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        return fail(`git_url is not a valid ${scheme} URL`);
      }
      if (!parsed.hostname) return fail('git_url has no host');
      return ok(scheme);
    }
    if (SSH_SCHEMES.has(scheme)) {
      const authority = url.slice(url.indexOf('://') + 3).split('/')[0];
      const at = authority.lastIndexOf('@');
      const userPart = at >= 0 ? authority.slice(0, at) : '';
      const host = at >= 0 ? authority.slice(at + 1) : authority;
      if (!host || host.startsWith(':')) return fail('git_url has no host');
      if (host.startsWith('-') || userPart.startsWith('-')) return fail('git_url host or user must not start with "-"');
      return ok('ssh');
    }
    if (scheme === 'file') return policy.allowFile ? ok('file') : fail('file:// git URLs are not allowed');
    return fail(`git_url scheme "${scheme}" is not allowed; use https, http or ssh`);
  }

  const scp = SCP_LIKE.exec(url);
  if (scp) {
    const [, userPart = '', host, path] = scp;
    if (host.startsWith('-') || userPart.startsWith('-')) return fail('git_url host or user must not start with "-"');
    if (path === '') return fail('git_url has no repository path after ":"');
    return ok('scp');
  }
  return policy.allowFile ? ok('file') : fail('git_url is a local path, which is not allowed; use https or ssh');
}
