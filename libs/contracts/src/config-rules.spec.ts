import { ConfigError, configSchema, loadConfig } from '.';

/**
 * The rules of the environment, with the expected values written out: booleans accept exactly
 * true/false/1/0/yes/no/empty (and 0, no and empty are false), numbers and URLs are checked, and a bad
 * value stops the boot with the variable's name — never the value, which may be a secret.
 */
function issuesOf(env: NodeJS.ProcessEnv): ConfigError['issues'] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** Every variable whose value is a boolean (found from the schema, so a new flag is covered too). */
const BOOLEAN_VARS = Object.entries(configSchema.shape)
  .filter(([, schema]) => typeof (schema as { safeParse(v: unknown): { data?: unknown } }).safeParse('true').data === 'boolean')
  .map(([name]) => name);

describe('config: booleans', () => {
  it('ALLOW_FILE_GIT_URLS is a boolean flag, off by default', () => {
    expect(BOOLEAN_VARS).toContain('ALLOW_FILE_GIT_URLS');
    expect(loadConfig({}).ALLOW_FILE_GIT_URLS).toBe(false);
  });

  describe.each(BOOLEAN_VARS)('%s', (name) => {
    const value = (raw: string) => (loadConfig({ [name]: raw }) as Record<string, unknown>)[name];

    it.each(['0', 'no', 'false', ''])('"%s" is false', (raw) => {
      expect(value(raw)).toBe(false);
    });

    it.each(['1', 'yes', 'true'])('"%s" is true', (raw) => {
      expect(value(raw)).toBe(true);
    });

    it.each(['TRUE', 'on', 'off', 'y', '2', ' true'])('"%s" is refused, naming the variable', (raw) => {
      expect(issuesOf({ [name]: raw })).toEqual([
        { variable: name, message: 'Invalid option: expected one of "0"|"1"|"true"|"false"|"yes"|"no"|""' },
      ]);
    });
  });
});

describe('config: bad values are named, never echoed', () => {
  it.each([
    ['WORKER_CONCURRENCY', 'two', 'Invalid input: expected number, received NaN'],
    ['WORKER_CONCURRENCY', '0', 'Too small: expected number to be >=1'],
    ['PORT', '70000', 'Too big: expected number to be <=65535'],
    ['PORT', '1.5', 'Invalid input: expected int, received number'],
    ['REDIS_URL', 'redis-at-sk-secret-value', 'Invalid URL'],
    ['CALLBACK_URL', 'not a url', 'Invalid URL'],
    ['REDIS_PREFIX', 'a b', 'Invalid string: must match pattern /^[A-Za-z0-9_.-]+$/'],
    ['LOG_LEVEL', 'loud', 'Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"'],
    ['EMBEDDED_REDIS', 'always', 'Invalid option: expected one of "auto"|"never"'],
    ['JOB_LOCK_MS', '1000', 'Too small: expected number to be >=5000'],
  ])('%s=%s: %s', (name, raw, message) => {
    expect(issuesOf({ [name]: raw })).toEqual([{ variable: name, message }]);
    let text = '';
    try {
      loadConfig({ [name]: raw });
    } catch (error) {
      text = (error as Error).message;
    }
    expect(text).toBe(`${name}: ${message}`);
    if (raw.length > 3) expect(text).not.toContain(raw);
  });

  it('names every bad variable at once, in schema order, in one line', () => {
    expect(issuesOf({ PORT: 'x', LOG_LEVEL: 'loud' }).map((i) => i.variable)).toEqual(['PORT', 'LOG_LEVEL']);
    let error: unknown;
    try {
      loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).name).toBe('ConfigError');
    expect((error as ConfigError).message).toBe(
      'PORT: Invalid input: expected number, received NaN; LOG_LEVEL: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"',
    );
  });

  it('empty optional strings are unset, not empty', () => {
    const config = loadConfig({ API_TOKEN: '', SECRETS_KEY: '  ', CALLBACK_URL: '', OPENAI_API_KEY: '' });
    expect(config.API_TOKEN).toBeUndefined();
    expect(config.SECRETS_KEY).toBeUndefined();
    expect(config.CALLBACK_URL).toBeUndefined();
    expect(config.OPENAI_API_KEY).toBeUndefined();
  });

  it('defaults, written out', () => {
    expect(loadConfig({})).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_PREFIX: 'wegent-codex',
      HOST: '127.0.0.1',
      PORT: 10001,
      WORKER_CONCURRENCY: 2,
      GLOBAL_CONCURRENCY: undefined,
      LOG_LEVEL: 'info',
      CALLBACK_TIMEOUT_MS: 30_000,
      CALLBACK_RETRY_FOR_MS: 86_400_000,
      MAX_RUN_MS: 7_200_000,
      CANCEL_GRACE_MS: 3_000,
      JOB_LOCK_MS: 60_000,
      ALLOW_FILE_GIT_URLS: false,
      EMBEDDED_REDIS: 'auto',
    });
  });
});
