import { authenticatedUrl, checkGitUrl, repoNameFromUrl } from './repo-url';

describe('repoNameFromUrl', () => {
  it.each([
    // outputs as Wegent's get_repo_name_from_url gives them
    ['https://github.com/alice/app.git', 'app'],
    ['git@github.com:alice/app.git', 'app'],
    ['https://gitlab.example.com/group/sub/proj/-/tree/main', 'proj'],
    ['https://gitlab.example.com/group/proj/-/merge_requests/1.git', 'proj'],
    ['https://github.com/alice/app/', 'app'],
    ['ssh://git@host:22/team/repo.git', 'repo'],
    ['git@host:repo.git', 'git@host:repo'],
    ['https://host/a/b.git/', 'b.git'],
    ['https://host/x/y.git.git', 'y.git'],
  ])('%s → %s', (url, name) => expect(repoNameFromUrl(url)).toBe(name));

  it.each(['', '/', '/-/x', 'https://host/a/..', 'https://host/a/./', 'https://host//', '.git', 'https://host/a/b\n'])(
    '%j has no usable directory name',
    (url) => expect(repoNameFromUrl(url)).toBeNull(),
  );
});

describe('authenticatedUrl', () => {
  it.each([
    ['https://github.com/alice/app.git', 'alice-gh', 'ghp_tok', 'https://alice-gh:ghp_tok@github.com/alice/app.git'],
    ['http://gitlab.local/g/p.git', null, 'glpat-x', 'http://token:glpat-x@gitlab.local/g/p.git'],
    ['https://github.com/a/b.git', '', 't', 'https://token:t@github.com/a/b.git'],
    // non-Gerrit URLs are not encoded (as the original)
    ['https://github.com/a/b.git', 'us/er', 'p@ss', 'https://us/er:p@ss@github.com/a/b.git'],
    // Gerrit (any case): user and token percent-encoded, every reserved character
    [
      'https://review.GERRIT.example.com/a/proj',
      'us/er',
      'p@ss:w/rd!*()~',
      'https://us%2Fer:p%40ss%3Aw%2Frd%21%2A%28%29~@review.GERRIT.example.com/a/proj',
    ],
    ['git@github.com:alice/app.git', 'u', 't', 'git@github.com:alice/app.git'],
    ['ssh://git@host/a.git', 'u', 't', 'ssh://git@host/a.git'],
  ])('%s', (url, user, token, expected) => expect(authenticatedUrl(url, user, token)).toBe(expected));

  it('encodes always when asked (credential-store lines)', () => {
    expect(authenticatedUrl('https://github.com', 'x', 'a/b@c', { alwaysEncode: true })).toBe('https://x:a%2Fb%40c@github.com');
  });
});

describe('checkGitUrl', () => {
  it.each([
    ['https://github.com/alice/app.git', 'https', 'app'],
    ['http://gitlab.local:8080/group/proj.git', 'http', 'proj'],
    ['https://github.com/my-user/repo-u.git', 'https', 'repo-u'], // "-u" inside a path is fine
    ['ssh://git@gitlab.example.com:2222/team/repo.git', 'ssh', 'repo'],
    ['git+ssh://git@host/team/repo.git', 'ssh', 'repo'],
    ['ssh+git://git@host/team/repo.git', 'ssh', 'repo'],
    ['https://github.com/alice/c::d.git', 'https', 'c::d'], // "::" after the scheme is no transport
    ['deploy-@github.com:alice/app.git', 'scp', 'app'], // only a leading "-" is an option
    ['git@github.com:alice/app.git', 'scp', 'app'],
    ['github.com:alice/app.git', 'scp', 'app'],
    ['git@[::1]:alice/app.git', 'scp', 'app'],
  ])('allows %s', (url, kind, repoName) => expect(checkGitUrl(url)).toEqual({ ok: true, kind, repoName }));

  it.each([
    ['', 'git_url is empty'],
    ['-uevil', 'must not start with "-"'],
    ['--upload-pack=touch /tmp/x', 'must not start with "-"'],
    ['https://host/repo.git --upload-pack=evil', 'whitespace'],
    ['https://host/repo--upload-pack=x.git', '--upload-pack'],
    ['ssh://host/x--receive-pack=x.git', '--receive-pack'],
    ['ext::sh -c touch% /tmp/pwned', 'whitespace'],
    ['ext::sh%20-c%20id', 'remote-helper transport'],
    ['fd::17', 'remote-helper transport'],
    ['ssh://-oProxyCommand=touch%20x/repo', 'must not start with "-"'],
    ['ssh://-oProxyCommand=x@host/repo', 'must not start with "-"'],
    ['-oProxyCommand=x:repo', 'must not start with "-"'],
    ['git@-oProxyCommand=x:repo', 'must not start with "-"'],
    ['-oProxyCommand=x@host:repo', 'must not start with "-"'],
    ['ssh://git@-oProxyCommand=x/repo', 'must not start with "-"'],
    ['ssh://git@:22/repo', 'no host'],
    ['ssh://git@/repo', 'no host'],
    ['https://host/repo.git\n', 'control characters'],
    ['https://host/repo\u0000.git', 'control characters'],
    ['file:///etc/repo', 'file:// git URLs are not allowed'],
    ['/srv/git/repo.git', 'local path'],
    ['../repo', 'local path'],
    ['/srv/git/a:b.git', 'local path'], // a colon after a slash is not scp-like
    ['ftp://host/repo.git', 'scheme "ftp" is not allowed'],
    ['git://host/repo.git', 'scheme "git" is not allowed'],
    ['https://', 'not a valid https URL'],
    ['git@host:', 'no repository path'],
    ['https://host/a/..', 'no usable repository name'],
  ])('refuses %j', (url, message) => {
    const check = checkGitUrl(url);
    expect(check.ok).toBe(false);
    expect(!check.ok && check.error).toContain(message);
  });

  it('never repeats the URL (it may carry credentials) in its error', () => {
    const check = checkGitUrl('ftp://user:hunter2@host/repo.git');
    expect(!check.ok && check.error).not.toContain('hunter2');
  });

  it('allows file:// and local paths only with allowFile', () => {
    expect(checkGitUrl('file:///tmp/fixtures/repo.git', { allowFile: true })).toEqual({ ok: true, kind: 'file', repoName: 'repo' });
    expect(checkGitUrl('/tmp/fixtures/repo', { allowFile: true })).toEqual({ ok: true, kind: 'file', repoName: 'repo' });
    expect(checkGitUrl('-/tmp/repo', { allowFile: true }).ok).toBe(false);
    expect(checkGitUrl('ext::sh', { allowFile: true }).ok).toBe(false);
  });
});
