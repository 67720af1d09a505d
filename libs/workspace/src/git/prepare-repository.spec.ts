import { createCipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { createBareRepository, git, GitHttpServer, pushCommit } from '../../../../test/fixtures/git-http-server';
import { memoryLogger } from '../../../../test/support/memory-logger';
import { DEFAULT_GIT_TOKEN_AES_IV, DEFAULT_GIT_TOKEN_AES_KEY } from '../git-token';
import { createSecretMasker } from '@wegent-codex/redaction';
import { findExecutable } from './git-command';
import {
  CloneFailedError,
  cloneFailureMessage,
  gitIdentityOf,
  prepareRepository,
  type PrepareRepositoryOptions,
  type RepositoryPayload,
} from './prepare-repository';
import { TASK_GIT_DIR } from './task-git-home';
import { normalizeGitDomain, tokenDomainOf, tokenMayGoTo } from './token-host';

jest.setTimeout(60_000);

const base = join(__dirname, '../../../../.data/test-git', `prepare-${randomBytes(4).toString('hex')}`);
const root = join(base, 'repos');
const TOKEN = 'wgt-Secret-7f3a9c1d2e';
const WRONG_TOKEN = 'wgt-Wrong-0b1c2d3e4f';

/** The token as Wegent's backend sends it: AES-256-CBC with the default key/iv, base64. */
function encrypt(plain: string): string {
  const cipher = createCipheriv('aes-256-cbc', Buffer.from(DEFAULT_GIT_TOKEN_AES_KEY), Buffer.from(DEFAULT_GIT_TOKEN_AES_IV));
  return Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]).toString('base64');
}
const basic = (user: string, token: string) => `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;

let taskCount = 0;
const newTaskDir = () => join(base, 'workspace', String(++taskCount));

let demo: string;
let plain: string;
let tokenServer: GitHttpServer;
let namedServer: GitHttpServer;
let publicServer: GitHttpServer;
let realGit: string;

beforeAll(async () => {
  demo = await createBareRepository(root, {
    name: 'demo',
    commits: [{ message: 'Initial commit', files: { 'README.md': '# demo\n' } }],
    branches: { feature: [{ message: 'Feature work', files: { 'feature.txt': 'feature\n' } }] },
    githooks: true,
  });
  plain = await createBareRepository(root, { name: 'plain' });
  tokenServer = await GitHttpServer.start({ root, auth: { user: 'token', token: TOKEN } });
  namedServer = await GitHttpServer.start({ root, auth: { user: 'wegent-bot', token: TOKEN } });
  publicServer = await GitHttpServer.start({ root });
  realGit = (await findExecutable('git', process.env.PATH ?? ''))!;
});

afterAll(async () => {
  await Promise.all([tokenServer?.close(), namedServer?.close(), publicServer?.close()]);
  await rm(base, { recursive: true, force: true });
});

const config = { allowFileUrls: true, aesKey: DEFAULT_GIT_TOKEN_AES_KEY, aesIv: DEFAULT_GIT_TOKEN_AES_IV };

function payload(
  overrides: Partial<RepositoryPayload> = {},
  user: Partial<NonNullable<RepositoryPayload['user']>> = {},
): RepositoryPayload {
  return {
    task_id: 42,
    git_url: `file://${demo}`,
    branch_name: '',
    git_domain: '127.0.0.1',
    ...overrides,
    user: {
      name: 'alice',
      git_token: encrypt(TOKEN),
      git_login: 'alice-gh',
      git_email: 'alice@example.com',
      git_id: '1001',
      user_name: null,
      ...user,
    },
  };
}

function prepare(options: Partial<PrepareRepositoryOptions> & { payload: RepositoryPayload }) {
  const { logger, lines } = memoryLogger();
  const taskDir = options.taskDir ?? newTaskDir();
  const run = prepareRepository({ taskDir, config, logger, ...options });
  return { run, lines, taskDir };
}

const localConfig = async (repoDir: string, key: string) => {
  try {
    return (await git(repoDir, ['config', '--local', '--get', key])).trim();
  } catch {
    return undefined;
  }
};

describe('prepareRepository without git_url', () => {
  it('works in the task directory and clones nothing', async () => {
    const { run, taskDir } = prepare({ payload: payload({ git_url: '', git_domain: '' }) });
    const prepared = await run;
    expect(prepared).toEqual({
      repoDir: undefined,
      workDir: taskDir,
      cloned: false,
      secrets: expect.arrayContaining([TOKEN]),
      gitEnv: {
        GIT_CONFIG_GLOBAL: join(taskDir, TASK_GIT_DIR, 'gitconfig'),
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_TERMINAL_PROMPT: '0',
        GH_CONFIG_DIR: join(taskDir, TASK_GIT_DIR, 'gh'),
        GLAB_CONFIG_DIR: join(taskDir, TASK_GIT_DIR, 'glab'),
        GH_PROMPT_DISABLED: '1',
      },
    });
    expect(await readdir(taskDir)).toEqual([TASK_GIT_DIR]);
  });
});

describe('git_url checks', () => {
  it.each([
    ['file:// when not allowed', (d: string) => `file://${d}`, /file:\/\/ git URLs are not allowed/],
    ['a local path when not allowed', (d: string) => d, /local path, which is not allowed/],
    ['a remote-helper transport', () => 'ext::sh -c touch% /tmp/pwned', /whitespace|remote-helper/],
    ['an option', () => '--upload-pack=touch /tmp/pwned', /must not start with "-"/],
    ['an ssh host option', () => 'ssh://-oProxyCommand=touch%20x/repo.git', /must not start with "-"/],
  ])('refuses %s before touching the disk', async (_name, url, message) => {
    const taskDir = newTaskDir();
    const run = prepareRepository({
      payload: payload({ git_url: url(demo) }),
      taskDir,
      config: { ...config, allowFileUrls: false },
      logger: memoryLogger().logger,
    });
    await expect(run).rejects.toThrow(message);
    await expect(run).rejects.toThrow(/^Agent\[Codex\]\[42\] Cannot clone the project: /);
    await expect(stat(taskDir)).rejects.toThrow();
  });
});

describe('clone over file://', () => {
  it('clones into <taskDir>/<repo_name> when allowed', async () => {
    const { run, taskDir } = prepare({ payload: payload() });
    const prepared = await run;
    expect(prepared).toMatchObject({ repoDir: join(taskDir, 'demo'), workDir: join(taskDir, 'demo'), cloned: true });
    expect((await git(prepared.workDir, ['log', '-1', '--format=%s'])).trim()).toBe('Initial commit');
    expect((await git(prepared.workDir, ['remote', 'get-url', 'origin'])).trim()).toBe(`file://${demo}`);
  });

  it('selects branch_name with --single-branch', async () => {
    const prepared = await prepare({ payload: payload({ branch_name: ' feature ' }) }).run;
    expect((await git(prepared.workDir, ['symbolic-ref', '--short', 'HEAD'])).trim()).toBe('feature');
    expect(await readFile(join(prepared.workDir, 'feature.txt'), 'utf8')).toBe('feature\n');
    expect((await git(prepared.workDir, ['branch', '-r'])).trim()).toBe('origin/feature');
  });

  it('clones the default branch with every remote branch when branch_name is blank', async () => {
    const prepared = await prepare({ payload: payload({ branch_name: '  ' }) }).run;
    expect((await git(prepared.workDir, ['symbolic-ref', '--short', 'HEAD'])).trim()).toBe('main');
    expect(await git(prepared.workDir, ['branch', '-r'])).toContain('origin/feature');
  });

  it('fails with the clone text for a missing branch and leaves no directory behind', async () => {
    const { run, taskDir } = prepare({ payload: payload({ branch_name: 'nope' }) });
    const repoDir = join(taskDir, 'demo');
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloneFailedError);
    expect((error as Error).message).toBe(
      `Agent[Codex][42] Failed to clone project to ${repoDir}: Cloning into '${repoDir}'...\nwarning: Could not find remote branch nope to clone.\nfatal: Remote branch nope not found in upstream origin`,
    );
    await expect(stat(repoDir)).rejects.toThrow();
  });

  it('removes a partial clone and rethrows when aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('job cancelled'));
    const { run, taskDir } = prepare({ payload: payload(), signal: controller.signal });
    await expect(run).rejects.toThrow('job cancelled');
    await expect(stat(join(taskDir, 'demo'))).rejects.toThrow();
  });
});

describe('after a fresh clone', () => {
  it('sets core.hooksPath when the repository has .githooks', async () => {
    const withHooks = await prepare({ payload: payload() }).run;
    expect(await localConfig(withHooks.workDir, 'core.hooksPath')).toBe('.githooks');
    const without = await prepare({ payload: payload({ git_url: `file://${plain}` }) }).run;
    expect(await localConfig(without.workDir, 'core.hooksPath')).toBeUndefined();
  });

  it('sets the repository-local identity from git_login and git_email', async () => {
    const prepared = await prepare({ payload: payload() }).run;
    expect(await localConfig(prepared.workDir, 'user.name')).toBe('alice-gh');
    expect(await localConfig(prepared.workDir, 'user.email')).toBe('alice@example.com');
    // Repository-local only: the task's global config holds no identity.
    expect(await readFile(prepared.gitEnv.GIT_CONFIG_GLOBAL, 'utf8')).not.toContain('alice');
  });

  it('uses the GitHub noreply e-mail when git_email is empty', async () => {
    const prepared = await prepare({ payload: payload({}, { git_email: '', git_id: 1001 as unknown as string }) }).run;
    expect(await localConfig(prepared.workDir, 'user.name')).toBe('alice-gh');
    expect(await localConfig(prepared.workDir, 'user.email')).toBe('1001+alice-gh@users.noreply.github.com');
  });

  it('sets no identity and warns when the login or every e-mail source is missing', async () => {
    for (const user of [{ git_login: null }, { git_email: null, git_id: null }]) {
      const { run, lines } = prepare({ payload: payload({}, user) });
      const prepared = await run;
      expect(await localConfig(prepared.workDir, 'user.name')).toBeUndefined();
      expect(await localConfig(prepared.workDir, 'user.email')).toBeUndefined();
      expect(lines.join('')).toMatch(/"level":40.*git identity not configured/);
    }
  });

  it('gitIdentityOf follows §11.4', () => {
    expect(gitIdentityOf({ git_login: 'l', git_email: 'e@x' })).toEqual({ name: 'l', email: 'e@x' });
    expect(gitIdentityOf({ git_login: 'l', git_email: null, git_id: 7 })).toEqual({ name: 'l', email: '7+l@users.noreply.github.com' });
    expect(gitIdentityOf({ git_login: 'l', git_email: '', git_id: null })).toBeNull();
    expect(gitIdentityOf({ git_login: '', git_email: 'e@x' })).toBeNull();
    expect(gitIdentityOf(null)).toBeNull();
  });
});

describe('follow-up subtasks', () => {
  it('skip the clone: no clone, no pull, no identity change', async () => {
    const bare = await createBareRepository(root, { name: `followup-${randomBytes(3).toString('hex')}` });
    const taskDir = newTaskDir();
    const first = await prepare({ taskDir, payload: payload({ git_url: `file://${bare}` }) }).run;
    expect(first.cloned).toBe(true);
    const head = (await git(first.workDir, ['rev-parse', 'HEAD'])).trim();
    await pushCommit(bare, { message: 'upstream moved on', files: { 'later.txt': 'later\n' } });

    const { run, lines } = prepare({ taskDir, payload: payload({ git_url: `file://${bare}` }, { git_login: 'someone-else' }) });
    const second = await run;
    expect(second).toMatchObject({ repoDir: first.repoDir, workDir: first.workDir, cloned: false });
    expect((await git(second.workDir, ['rev-parse', 'HEAD'])).trim()).toBe(head);
    expect(await git(second.workDir, ['log', '--all', '--format=%s'])).not.toContain('upstream moved on');
    expect(await localConfig(second.workDir, 'user.name')).toBe('alice-gh');
    expect(lines.join('')).toContain('clone skipped');
  });
});

describe('clone over HTTP with a token', () => {
  /** A `git` on PATH that records its argv and turns on GIT_TRACE for it and every git it runs. */
  async function tracingGit(dir: string) {
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    const argvLog = join(dir, 'argv.log');
    const traceLog = join(dir, 'trace.log');
    await writeFile(join(bin, 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nGIT_TRACE='${traceLog}' exec '${realGit}' "$@"\n`);
    await chmod(join(bin, 'git'), 0o755);
    return { path: `${bin}${delimiter}${process.env.PATH}`, argvLog, traceLog };
  }

  it('clones with the decrypted token, never in argv, the remote URL or logs', async () => {
    const traceDir = join(base, `trace-${randomBytes(3).toString('hex')}`);
    const tracing = await tracingGit(traceDir);
    const before = tokenServer.authorizations.length;
    const { run, lines, taskDir } = prepare({ payload: payload({ git_url: tokenServer.url('demo') }), path: tracing.path });
    const prepared = await run;

    expect(prepared.cloned).toBe(true);
    expect((await git(prepared.workDir, ['log', '-1', '--format=%s'])).trim()).toBe('Initial commit');
    expect(tokenServer.authorizations.slice(before)).toContain(basic('token', TOKEN));
    expect(prepared.secrets).toContain(TOKEN);

    const dotGitConfig = await readFile(join(prepared.workDir, '.git', 'config'), 'utf8');
    expect(dotGitConfig).toContain(`url = ${tokenServer.url('demo')}\n`);
    expect(dotGitConfig).not.toContain(TOKEN);
    expect(dotGitConfig).not.toMatch(/\/\/[^/\s]*@/);

    const argv = await readFile(tracing.argvLog, 'utf8');
    const trace = await readFile(tracing.traceLog, 'utf8');
    expect(argv).toMatch(/^clone -- http:\/\/127\.0\.0\.1:\d+\/demo\.git /m);
    expect(trace).toContain('credential-store');
    for (const text of [argv, trace, lines.join('')]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(encodeURIComponent(TOKEN));
    }
    // The token is kept in the task directory (0600), outside the repository; git's
    // credential-store owns the file's format (it rewrites it after a successful login).
    const credentials = join(taskDir, TASK_GIT_DIR, 'credentials');
    expect((await stat(credentials)).mode & 0o777).toBe(0o600);
    expect(await readFile(credentials, 'utf8')).toMatch(new RegExp(`^http://token:${TOKEN}@127\\.0\\.0\\.1(:|%3a)\\d+\n$`, 'i'));
  });

  it('lets the agent fetch and push through gitEnv (the token never in the remote URL)', async () => {
    const prepared = await prepare({ payload: payload({ git_url: tokenServer.url('demo') }) }).run;
    const agentEnv = { PATH: process.env.PATH ?? '', HOME: join(base, 'agent-home'), ...prepared.gitEnv };
    const agentGit = (args: string[]) =>
      execa('git', args, { cwd: prepared.workDir, env: agentEnv, extendEnv: false, timeout: 30_000, stdin: 'ignore' });
    const branch = `agent-${randomBytes(3).toString('hex')}`;
    await agentGit(['-c', 'user.name=a', '-c', 'user.email=a@x', 'commit', '-q', '--allow-empty', '-m', 'agent commit']);
    await agentGit(['push', '-q', 'origin', `HEAD:refs/heads/${branch}`]);
    expect((await git(demo, ['log', '-1', '--format=%s', branch])).trim()).toBe('agent commit');
    await agentGit(['fetch', '-q', 'origin']);
  });

  it('uses user.user_name as the user when set', async () => {
    const before = namedServer.authorizations.length;
    const prepared = await prepare({ payload: payload({ git_url: namedServer.url('demo') }, { user_name: 'wegent-bot' }) }).run;
    expect(prepared.cloned).toBe(true);
    expect(namedServer.authorizations.slice(before)).toContain(basic('wegent-bot', TOKEN));
  });

  it('accepts a plain (not encrypted) token', async () => {
    const prepared = await prepare({ payload: payload({ git_url: tokenServer.url('demo') }, { git_token: `  ${TOKEN} ` }) }).run;
    expect(prepared.cloned).toBe(true);
  });

  it('clones a public repository without any token', async () => {
    const before = publicServer.authorizations.length;
    const prepared = await prepare({ payload: payload({ git_url: publicServer.url('demo') }, { git_token: '***' }) }).run;
    expect(prepared).toMatchObject({ cloned: true, secrets: [] });
    expect(publicServer.authorizations.length).toBe(before);
  });

  it('fails with the exact, masked clone text for a wrong token', async () => {
    const { run, lines, taskDir } = prepare({
      payload: payload({ git_url: tokenServer.url('demo') }, { git_token: encrypt(WRONG_TOKEN) }),
    });
    const repoDir = join(taskDir, 'demo');
    const error = (await run.catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(CloneFailedError);
    expect(error.message).toBe(
      `Agent[Codex][42] Failed to clone project to ${repoDir}: Cloning into '${repoDir}'...\nremote: Authentication required\nfatal: Authentication failed for '${tokenServer.url('demo')}/'`,
    );
    expect(tokenServer.authorizations).toContain(basic('token', WRONG_TOKEN));
    for (const text of [error.message, error.stack ?? '', lines.join('')]) expect(text).not.toContain(WRONG_TOKEN);
    await expect(stat(repoDir)).rejects.toThrow();
  });

  it('takes credentials written into git_url out of the remote URL', async () => {
    const url = tokenServer.url('demo').replace('http://', `http://token:${TOKEN}@`);
    const prepared = await prepare({ payload: payload({ git_url: url }, { git_token: null }) }).run;
    expect(prepared.secrets).toContain(TOKEN);
    expect((await git(prepared.workDir, ['remote', 'get-url', 'origin'])).trim()).toBe(tokenServer.url('demo'));
    expect(await readFile(join(prepared.workDir, '.git', 'config'), 'utf8')).not.toContain(TOKEN);
  });
});

describe("the git token goes only to the user's git host", () => {
  it('sends no token to a git_url on another host than git_domain: the clone fails unauthenticated, with a warning', async () => {
    const before = tokenServer.authorizations.length;
    const { run, lines, taskDir } = prepare({ payload: payload({ git_url: tokenServer.url('demo'), git_domain: 'github.com' }) });
    const error = (await run.catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(CloneFailedError);
    expect(error.message).toContain("fatal: could not read Username for 'http://127.0.0.1:");
    expect(tokenServer.authorizations.slice(before)).toEqual([]);
    await expect(readFile(join(taskDir, TASK_GIT_DIR, 'credentials'), 'utf8')).rejects.toThrow();
    const warning = lines.map((l) => JSON.parse(l)).find((l) => l.msg.startsWith('git credentials withheld'));
    expect(warning).toMatchObject({
      level: 40,
      msg: "git credentials withheld: git_url names another host than the user's git domain",
      git_host: new URL(tokenServer.url('demo')).host,
      user_git_domain: 'github.com',
    });
  });

  it('sends no token when the domain names another port of the same host', async () => {
    const before = tokenServer.authorizations.length;
    const run = prepare({ payload: payload({ git_url: tokenServer.url('demo'), git_domain: '127.0.0.1:1' }) }).run;
    await expect(run).rejects.toBeInstanceOf(CloneFailedError);
    expect(tokenServer.authorizations.slice(before)).not.toContain(basic('token', TOKEN));
  });

  it("takes user.git_domain (the credential's own domain) over the payload's git_domain", async () => {
    const before = tokenServer.authorizations.length;
    const prepared = await prepare({
      payload: payload({ git_url: tokenServer.url('demo'), git_domain: 'github.com' }, { git_domain: '127.0.0.1' }),
    }).run;
    expect(prepared.cloned).toBe(true);
    expect(tokenServer.authorizations.slice(before)).toContain(basic('token', TOKEN));

    const refused = prepare({
      payload: payload({ git_url: tokenServer.url('demo'), git_domain: '127.0.0.1' }, { git_domain: 'github.com' }),
    }).run;
    await expect(refused).rejects.toBeInstanceOf(CloneFailedError);
  });

  it("still masks the user's token although it was not sent", async () => {
    const prepared = await prepare({ payload: payload({ git_url: publicServer.url('demo'), git_domain: 'github.com' }) }).run;
    expect(prepared.cloned).toBe(true);
    expect(prepared.secrets).toEqual([TOKEN]);
  });

  it('matches hosts the way a domain is written', () => {
    expect(normalizeGitDomain(' GitHub.com ')).toBe('github.com');
    expect(normalizeGitDomain('https://gitlab.example.com:8443/group')).toBe('gitlab.example.com:8443');
    expect(normalizeGitDomain(null)).toBe('');
    expect(tokenDomainOf({ git_domain: 'github.com', user: { git_domain: null } })).toBe('github.com');
    expect(tokenDomainOf({ git_domain: 'github.com', user: { git_domain: 'gitlab.example.com' } })).toBe('gitlab.example.com');
    expect(tokenDomainOf({ git_domain: '', user: null })).toBe('');
    expect(tokenMayGoTo('https://github.com', 'github.com')).toBe(true);
    expect(tokenMayGoTo('https://GITHUB.COM:443', 'github.com')).toBe(true);
    expect(tokenMayGoTo('https://gitlab.example.com:8443', 'gitlab.example.com:8443')).toBe(true);
    expect(tokenMayGoTo('https://gitlab.example.com', 'gitlab.example.com:8443')).toBe(false);
    expect(tokenMayGoTo('https://github.com.evil.example', 'github.com')).toBe(false);
    expect(tokenMayGoTo('https://evil.example', 'github.com')).toBe(false);
    expect(tokenMayGoTo('https://github.com', '')).toBe(false);
    expect(tokenMayGoTo('github.com', 'github.com')).toBe(true);
  });
});

describe('cloneFailureMessage', () => {
  it('masks every form of the token in git stderr', () => {
    const mask = createSecretMasker([TOKEN]);
    const stderr = `fatal: unable to access 'https://token:${encodeURIComponent(TOKEN)}@example.com/x.git/': ${TOKEN}\n`;
    const message = cloneFailureMessage(7, '/ws/7/x', stderr, mask);
    expect(message).toBe(
      "Agent[Codex][7] Failed to clone project to /ws/7/x: fatal: unable to access 'https://token:********@example.com/x.git/': ********",
    );
  });
});

describe('isolation from the service user', () => {
  it('ignores the global and system git config and GIT_* variables of the service', async () => {
    const hostile = join(base, `hostile-${randomBytes(3).toString('hex')}.gitconfig`);
    // Leaked, this would send the clone to a host that does not exist.
    await writeFile(hostile, `[url "http://127.0.0.1:9/"]\n\tinsteadOf = file://\n[user]\n\tname = Leaked Name\n`);
    const saved = { GIT_CONFIG_GLOBAL: process.env.GIT_CONFIG_GLOBAL, GIT_DIR: process.env.GIT_DIR };
    process.env.GIT_CONFIG_GLOBAL = hostile;
    process.env.GIT_DIR = '/nonexistent';
    try {
      const prepared = await prepare({ payload: payload({}, { git_login: null }) }).run;
      expect(prepared.cloned).toBe(true);
      expect(await localConfig(prepared.workDir, 'user.name')).toBeUndefined();
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});

describe('REPO_PROXY_CONFIG', () => {
  const globalGet = (file: string, key: string) =>
    git(base, ['config', '--file', file, '--get-all', key]).then(
      (s) => s.trim(),
      () => undefined,
    );

  it('is applied to the task gitconfig only (lookup: exact, lower-cased, "*")', async () => {
    const repoProxyConfig = JSON.stringify({
      'github.com': { 'HTTP.PROXY': 'http://proxy.example:3128', 'https.proxy': '' },
      '*': { 'http.proxy': 'http://star:1' },
    });
    const prepared = await prepare({ payload: payload({ git_domain: 'GitHub.com' }), config: { ...config, repoProxyConfig } }).run;
    expect(await globalGet(prepared.gitEnv.GIT_CONFIG_GLOBAL, 'http.proxy')).toBe('http://proxy.example:3128');
    expect(await globalGet(prepared.gitEnv.GIT_CONFIG_GLOBAL, 'https.proxy')).toBeUndefined();
    expect(await localConfig(prepared.workDir, 'http.proxy')).toBeUndefined();

    // A follow-up rewrites the setting instead of adding a second value.
    await prepare({
      taskDir: join(prepared.workDir, '..'),
      payload: payload({ git_domain: 'GitHub.com' }),
      config: { ...config, repoProxyConfig },
    }).run;
    expect(await globalGet(prepared.gitEnv.GIT_CONFIG_GLOBAL, 'http.proxy')).toBe('http://proxy.example:3128');
  });

  it('warns about invalid JSON and goes on', async () => {
    const { run, lines } = prepare({ payload: payload(), config: { ...config, repoProxyConfig: '{not json' } });
    const prepared = await run;
    expect(prepared.cloned).toBe(true);
    expect(lines.join('')).toMatch(/"level":40.*Invalid REPO_PROXY_CONFIG JSON/);
    expect(await readFile(prepared.gitEnv.GIT_CONFIG_GLOBAL, 'utf8')).not.toContain('proxy');
  });
});

describe('CLI logins', () => {
  /** Fake gh/glab that record argv, stdin and their config directory. */
  async function fakeClis(exitCode = 0) {
    const dir = join(base, `clis-${randomBytes(3).toString('hex')}`);
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    for (const cli of ['gh', 'glab']) {
      const log = join(dir, `${cli}.log`);
      await writeFile(
        join(bin, cli),
        `#!/bin/sh\n{ printf 'argv:%s\\n' "$*"; printf 'gh:%s\\nglab:%s\\n' "$GH_CONFIG_DIR" "$GLAB_CONFIG_DIR"; printf 'stdin:'; cat; } >> '${log}'\n` +
          (exitCode ? `echo "login failed for $(cat '${log}' | sed -n 's/^stdin://p')" >&2\n` : '') +
          `exit ${exitCode}\n`,
      );
      await chmod(join(bin, cli), 0o755);
    }
    const read = (cli: string) => readFile(join(dir, `${cli}.log`), 'utf8').catch(() => '');
    return { path: `${bin}${delimiter}${process.env.PATH}`, read };
  }

  it('logs gh in for a github domain: token on stdin, config in the task, on every subtask', async () => {
    const clis = await fakeClis();
    const taskDir = newTaskDir();
    await prepare({ taskDir, payload: payload({ git_domain: 'github.com' }), path: clis.path }).run;
    const expected = `argv:auth login --hostname=github.com --with-token\ngh:${join(taskDir, TASK_GIT_DIR, 'gh')}\nglab:${join(taskDir, TASK_GIT_DIR, 'glab')}\nstdin:${TOKEN}\n`;
    expect(await clis.read('gh')).toBe(expected);
    await prepare({ taskDir, payload: payload({ git_domain: 'github.com' }), path: clis.path }).run;
    expect(await clis.read('gh')).toBe(expected + expected);
    expect(await clis.read('glab')).toBe('');
  });

  it('logs glab in for any other domain', async () => {
    const clis = await fakeClis();
    const taskDir = newTaskDir();
    await prepare({ taskDir, payload: payload({ git_domain: 'gitlab.example.com' }), path: clis.path }).run;
    expect(await clis.read('glab')).toBe(
      `argv:auth login --hostname=gitlab.example.com --stdin\ngh:${join(taskDir, TASK_GIT_DIR, 'gh')}\nglab:${join(taskDir, TASK_GIT_DIR, 'glab')}\nstdin:${TOKEN}\n`,
    );
    expect(await clis.read('gh')).toBe('');
  });

  it('only warns (masked) when the login fails', async () => {
    const clis = await fakeClis(1);
    const { run, lines } = prepare({ payload: payload({ git_domain: 'github.com' }), path: clis.path });
    expect((await run).cloned).toBe(true);
    const log = lines.join('');
    expect(log).toMatch(/"level":40.*CLI authentication failed for github.com: login failed for \*{8}/);
    expect(log).not.toContain(TOKEN);
  });

  it("skips the login for a domain that is not the token's own", async () => {
    const clis = await fakeClis();
    await prepare({ payload: payload({ git_domain: 'github.com' }, { git_domain: 'gitlab.example.com' }), path: clis.path }).run;
    expect(await clis.read('gh')).toBe('');
    expect(await clis.read('glab')).toBe('');
  });

  it('skips the login without a token or without the CLI', async () => {
    const clis = await fakeClis();
    await prepare({ payload: payload({ git_domain: 'github.com' }, { git_token: null }), path: clis.path }).run;
    await prepare({ payload: payload({ git_domain: '' }), path: clis.path }).run;
    expect(await clis.read('gh')).toBe('');
    const bare = join(base, 'empty-bin');
    await mkdir(bare, { recursive: true });
    const prepared = await prepare({ payload: payload({ git_domain: 'github.com' }), path: `${bare}${delimiter}${process.env.PATH}` }).run;
    expect(prepared.cloned).toBe(true);
  });
});
