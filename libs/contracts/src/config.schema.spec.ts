import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, removeSecretsFromEnv } from './config.schema';
import { isTraceparent } from './trace-context';

describe('config: operations variables', () => {
  it('METRICS_PORT is off by default, a port when set, and a bad value names the variable', () => {
    expect(loadConfig({}).METRICS_PORT).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: '9464' }).METRICS_PORT).toBe(9464);
    expect(() => loadConfig({ METRICS_PORT: '70000' })).toThrow(/^METRICS_PORT: /);
  });

  it('BOARD_USER and BOARD_PASSWORD come together or not at all', () => {
    expect(loadConfig({ BOARD_USER: 'ops', BOARD_PASSWORD: 'secret-1' })).toMatchObject({ BOARD_USER: 'ops', BOARD_PASSWORD: 'secret-1' });
    expect(loadConfig({ BOARD_USER: '', BOARD_PASSWORD: '' }).BOARD_USER).toBeUndefined();
    const error = (() => {
      try {
        loadConfig({ BOARD_USER: 'ops' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { variable: 'BOARD_PASSWORD', message: 'BOARD_USER and BOARD_PASSWORD must be set together' },
    ]);
    expect(() => loadConfig({ BOARD_PASSWORD: 'secret-1' })).toThrow(/^BOARD_USER: /);
  });
});

describe('isTraceparent', () => {
  it.each([
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', true],
    ['01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', true],
    ['ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', false],
    ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', false],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', false],
    ['00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', false],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX: y', false],
    [undefined, false],
  ])('%j → %s', (value, valid) => {
    expect(isTraceparent(value)).toBe(valid);
  });
});

describe('config: secrets as files, out of the environment after boot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads NAME_FILE (one trailing newline dropped) for every secret variable', () => {
    const config = loadConfig({
      SECRETS_KEY_FILE: file('sk', 'file-secrets-key\n'),
      API_TOKEN_FILE: file('at', 'file-api-token'),
      GIT_TOKEN_AES_KEY_FILE: file('ak', '0123456789abcdef0123456789abcdef\n'),
      GIT_TOKEN_AES_IV_FILE: file('iv', 'abcdef0123456789\n'),
      BOARD_USER: 'ops',
      BOARD_PASSWORD_FILE: file('bp', 'file-board-pw\n'),
      OPENAI_API_KEY_FILE: file('ok', 'sk-from-file\n'),
      CALLBACK_URL_FILE: file('cb', 'http://em:s3cret@em.local/cb\n'),
      REDIS_URL_FILE: file('ru', 'redis://r.local:6380\n'),
      REDIS_PASSWORD_FILE: file('rp', 'p@ss word\n'),
    });
    expect(config).toMatchObject({
      SECRETS_KEY: 'file-secrets-key',
      API_TOKEN: 'file-api-token',
      GIT_TOKEN_AES_KEY: '0123456789abcdef0123456789abcdef',
      GIT_TOKEN_AES_IV: 'abcdef0123456789',
      BOARD_PASSWORD: 'file-board-pw',
      OPENAI_API_KEY: 'sk-from-file',
      CALLBACK_URL: 'http://em:s3cret@em.local/cb',
      REDIS_PASSWORD: 'p@ss word',
      // The password is put into the one URL every connection uses.
      REDIS_URL: 'redis://:p%40ss%20word@r.local:6380',
    });
  });

  it('refuses a variable given twice, or a file it cannot read, naming the variable only', () => {
    expect(() => loadConfig({ API_TOKEN: 'x', API_TOKEN_FILE: file('t2', 'y') })).toThrow(
      'API_TOKEN_FILE: set either API_TOKEN or API_TOKEN_FILE, not both',
    );
    expect(() => loadConfig({ SECRETS_KEY_FILE: '/nonexistent/secret' })).toThrow('SECRETS_KEY_FILE: cannot read the file (ENOENT)');
  });

  it('keeps a password already in REDIS_URL', () => {
    expect(loadConfig({ REDIS_URL: 'redis://u:inurl@h:1', REDIS_PASSWORD: 'other' }).REDIS_URL).toBe('redis://u:inurl@h:1');
  });

  it('removeSecretsFromEnv deletes every secret variable and its _FILE twin, nothing else', () => {
    const env: NodeJS.ProcessEnv = {
      SECRETS_KEY: 'a',
      API_TOKEN_FILE: '/f',
      REDIS_URL: 'redis://:p@h',
      CALLBACK_URL: 'http://u:p@h',
      PATH: '/bin',
      BOARD_USER: 'ops',
      LOG_LEVEL: 'info',
    };
    removeSecretsFromEnv(env);
    expect(env).toEqual({ PATH: '/bin', BOARD_USER: 'ops', LOG_LEVEL: 'info' });
  });
});
