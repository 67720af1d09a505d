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
    expect(first).toMatchObject({ level: 40, task_id: 305, subtask_id: 812, job_id: 'task-305-sub-812', attempt: 1, msg: 'git said ghp_************89AB' });
    expect(first.err).toBe('clone failed: https://x:ghp_************89AB@github.com/a/b');
    expect(second.err).toMatchObject({ type: 'Error', message: expect.stringContaining('api_key=') });
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
    expect(JSON.parse(lines[0])).toMatchObject({ service: 'wegent-codex', roles: 'api', api_key: '[redacted]', payload: '[redacted]', msg: 'shown' });
  });
});
