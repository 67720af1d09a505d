import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { secretFileCheck } from '../../apps/service/src';
import { loadConfig } from '@wegent-codex/contracts';
import { BwrapLauncher } from '@wegent-codex/sandbox';
import { canary, leaked } from './canaries';

/**
 * `<NAME>_FILE` secrets are read at boot — but a file inside /etc, /usr, SANDBOX_READABLE_PATHS or
 * WORKSPACE_ROOT is just as readable by every task's sandbox (SECRETS_KEY_FILE=/etc/wegent/… is a
 * natural choice). A worker refuses to start with one.
 */
const base = resolve(__dirname, '../../.data/test-security', `files-${randomBytes(4).toString('hex')}`);
const shared = join(base, 'shared');
const workspace = join(base, 'workspace');
const privateDir = join(base, 'private');
const taskDir = join(workspace, '8831');
const SECRET = canary('secretskey');

beforeAll(async () => {
  for (const dir of [shared, taskDir, privateDir]) await mkdir(dir, { recursive: true });
  for (const dir of [shared, workspace, privateDir]) await writeFile(join(dir, 'secrets_key'), `${SECRET}\n`, { mode: 0o600 });
});
afterAll(() => rm(base, { recursive: true, force: true }));

const config = (extra: Record<string, string> = {}) => loadConfig({ WORKSPACE_ROOT: workspace, SANDBOX_READABLE_PATHS: shared, ...extra });
const MESSAGE = (names: string) =>
  `${names} names a file inside a folder every task sandbox can read (/usr, /etc, SANDBOX_READABLE_PATHS or WORKSPACE_ROOT): mount secret files elsewhere, e.g. /run/secrets`;

describe('secret files and the task sandbox', () => {
  it('a secret file under SANDBOX_READABLE_PATHS is readable from inside a task (why the check exists)', async () => {
    const command = new BwrapLauncher({ readable: [shared] }).command({
      file: '/bin/cat',
      args: [join(shared, 'secrets_key')],
      cwd: taskDir,
      env: { PATH: '/usr/bin:/bin' },
      writable: [taskDir],
    });
    const result = await execa(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      extendEnv: false,
      reject: false,
      timeout: 20_000,
      stdin: 'ignore',
    });
    expect(leaked(String(result.stdout), { SECRETS_KEY: SECRET })).toEqual(['SECRETS_KEY']);
    expect((await readFile(join(privateDir, 'secrets_key'), 'utf8')).trim()).toBe(SECRET);
  });

  it('a worker refuses a _FILE secret in /etc, /usr, SANDBOX_READABLE_PATHS or WORKSPACE_ROOT; elsewhere is fine', () => {
    const files = (env: Record<string, string>) => secretFileCheck(env, config(), ['worker']);
    expect(files({ SECRETS_KEY_FILE: '/etc/hostname' })).toEqual({ verdict: 'refuse', message: MESSAGE('SECRETS_KEY_FILE') });
    expect(files({ API_TOKEN_FILE: join(shared, 'secrets_key') })).toEqual({ verdict: 'refuse', message: MESSAGE('API_TOKEN_FILE') });
    expect(files({ REDIS_PASSWORD_FILE: join(workspace, 'secrets_key'), BOARD_PASSWORD_FILE: '/usr/share/../../etc/hostname' })).toEqual({
      verdict: 'refuse',
      message:
        'BOARD_PASSWORD_FILE, REDIS_PASSWORD_FILE name files inside a folder every task sandbox can read (/usr, /etc, SANDBOX_READABLE_PATHS or WORKSPACE_ROOT): mount secret files elsewhere, e.g. /run/secrets',
    });
    expect(files({ SECRETS_KEY_FILE: join(privateDir, 'secrets_key'), GIT_TOKEN_AES_KEY_FILE: '/etcetera/key' })).toEqual({
      verdict: 'ok',
    });
    // Only a sandboxed worker hands files to tasks.
    expect(secretFileCheck({ SECRETS_KEY_FILE: '/etc/hostname' }, config(), ['api', 'relay'])).toEqual({ verdict: 'ok' });
    expect(secretFileCheck({ SECRETS_KEY_FILE: '/etc/hostname' }, config({ SANDBOX: 'off' }), ['worker'])).toEqual({ verdict: 'ok' });
  });

  it('stops the built worker before it touches Redis, with one line on stderr', () => {
    const main = resolve(process.env.WEGENT_TEST_DIST!, 'apps/service/src/main.js');
    const run = spawnSync(process.execPath, [main, 'worker'], {
      env: {
        PATH: process.env.PATH,
        WORKSPACE_ROOT: workspace,
        SECRETS_KEY_FILE: join(workspace, 'secrets_key'),
        REDIS_URL: 'redis://127.0.0.1:1',
        EMBEDDED_REDIS: 'never',
        LOG_LEVEL: 'silent',
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.stderr).toBe(`wegent-codex: ${MESSAGE('SECRETS_KEY_FILE')}\n`);
    expect(run.status).toBe(1);
  });
});
