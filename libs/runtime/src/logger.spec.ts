import { memoryLogger } from '../../../test/support/memory-logger';
import { createLogger } from './logger';
import { Writable } from 'node:stream';

const GITHUB_PAT = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789AB';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';

describe('createLogger', () => {
  it('masks secrets in free text: the message, format arguments, error texts and errors', () => {
    const { logger, lines } = memoryLogger('debug');
    const run = logger.child({ task_id: 305, subtask_id: 812, job_id: 'task-305-sub-812', attempt: 1 });
    run.warn({ err: `clone failed: https://x:${GITHUB_PAT}@github.com/a/b`, response: `{"token": "${JWT}"}` }, `git said ${GITHUB_PAT}`);
    run.error(new Error(`upstream refused api_key=sk-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop`), 'request failed');
    run.info('auth %s', JWT);

    const text = lines.join('');
    for (const secret of [GITHUB_PAT, JWT, 'sk-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop']) expect(text).not.toContain(secret);
    const [first, second, third] = lines.map((line) => JSON.parse(line));
    expect(first).toMatchObject({
      level: 40,
      task_id: 305,
      subtask_id: 812,
      job_id: 'task-305-sub-812',
      attempt: 1,
      msg: 'git said ghp_************89AB',
    });
    expect(first.err).toBe('clone failed: https://x:ghp_************89AB@github.com/a/b');
    expect(second.err).toMatchObject({ type: 'Error', message: 'upstream refused api_key=****************mnop' });
    expect(second.err.stack).not.toContain('sk-abcdefghijklmnop');
    expect(third.msg).toBe(`auth eyJh************dXJl`);
  });

  it('keeps the caller object as it was and leaves ids alone', () => {
    const { logger, lines } = memoryLogger('debug');
    const fields = { task_id: 1, error: `token: ${JWT}` };
    logger.info(fields, 'callback failed; retrying');
    expect(fields.error).toBe(`token: ${JWT}`);
    expect(JSON.parse(lines[0])).toMatchObject({ task_id: 1, msg: 'callback failed; retrying', error: 'token: eyJh************dXJl' });
  });

  it('honours LOG_LEVEL and still redacts secret keys', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) });
    const logger = createLogger({ LOG_LEVEL: 'warn' }, { roles: 'api' }, sink);
    logger.info('hidden');
    logger.warn({ api_key: 'sk-x', payload: { a: 1 } }, 'shown');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      service: 'wegent-codex',
      roles: 'api',
      api_key: '[redacted]',
      payload: '[redacted]',
      msg: 'shown',
    });
  });

  it("masks the service's own secrets in every field, plain, base64 and hex, and redacts secret names at any depth", () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) });
    const secrets = {
      SECRETS_KEY: 'canary-secrets-key-1f2e',
      API_TOKEN: 'canary-api-token-3d4c',
      CALLBACK_URL: 'https://em:canary-cb-pass-5b6a@em.example.com/cb',
    };
    const logger = createLogger({ LOG_LEVEL: 'info', ...secrets }, {}, sink);
    const b64 = Buffer.from(`KEY=${secrets.SECRETS_KEY}`).toString('base64');
    const hex = Buffer.from(secrets.API_TOKEN).toString('hex');
    logger.info(
      {
        detail: { output: `env: ${b64} ${hex}`, url: secrets.CALLBACK_URL },
        headers: { Authorization: 'Bearer x-123456789' },
        nested: [{ apiKey: 'abc' }],
      },
      `key ${secrets.SECRETS_KEY}`,
    );
    const line = JSON.parse(lines[0]);
    expect(line.msg).toBe('key ********');
    expect(line.detail.url).toBe('https://em:********@em.example.com/cb');
    expect(line.detail.output).not.toContain(b64.slice(8, 30));
    expect(line.detail.output).not.toContain(hex);
    expect(line.headers).toEqual({ Authorization: '[redacted]' });
    expect(line.nested).toEqual([{ apiKey: '[redacted]' }]);
    for (const value of ['canary-secrets-key-1f2e', 'canary-api-token-3d4c', 'canary-cb-pass-5b6a']) expect(lines[0]).not.toContain(value);
  });
});
