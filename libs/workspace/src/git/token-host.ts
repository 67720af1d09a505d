/**
 * Where a user's git token may be sent: only to the host of the credential it belongs to —
 * `user.git_domain` (docs/protocol/wegent-protocol.md §2.2: "domain of the user's git credential"), else the
 * payload's `git_domain`. A `git_url` or a CLI login naming any other host gets no token: a
 * payload whose repository lives elsewhere must not hand the user's GitHub token to that server.
 */

/** `host` or `host:port`, lower-cased, from a domain as Wegent writes it (a scheme or path is tolerated). */
export function normalizeGitDomain(domain: string | null | undefined): string {
  if (typeof domain !== 'string') return '';
  let host = domain
    .trim()
    .toLowerCase()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  host = host.split('/')[0] ?? '';
  host = host.slice(host.lastIndexOf('@') + 1);
  return host.replace(/\.$/, '');
}

/** The domain the user's token belongs to ('' when the payload names none: then it goes nowhere). */
export function tokenDomainOf(payload: { git_domain?: string | null; user?: { git_domain?: string | null } | null }): string {
  return normalizeGitDomain(payload.user?.git_domain) || normalizeGitDomain(payload.git_domain);
}

/**
 * True when `target` (an http(s) origin such as `https://github.com:443`, or a bare domain) is the
 * token's domain: same host name, and the same port when the domain names one.
 */
export function tokenMayGoTo(target: string, tokenDomain: string): boolean {
  if (!tokenDomain) return false;
  const wanted = parseHost(tokenDomain);
  const given = parseHost(normalizeGitDomain(target));
  if (!wanted || !given || wanted.hostname !== given.hostname) return false;
  return wanted.port === '' || wanted.port === given.port;
}

function parseHost(host: string): { hostname: string; port: string } | null {
  if (!host) return null;
  try {
    const url = new URL(`http://${host}`);
    return { hostname: url.hostname, port: url.port };
  } catch {
    return null;
  }
}
