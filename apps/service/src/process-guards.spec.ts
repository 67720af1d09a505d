import { EventEmitter } from 'node:events';
import { memoryLogger } from '../../../test/support/memory-logger';
import { installProcessGuards } from './process-guards';

describe('process guards', () => {
  it('log an unhandled rejection and an uncaught exception, masked, and keep the process', () => {
    const { logger, lines } = memoryLogger();
    const proc = new EventEmitter();
    installProcessGuards(logger, proc as unknown as NodeJS.Process);

    proc.emit('unhandledRejection', new TypeError("Cannot destructure property 'task_id' of 'job.data' as it is null."), Promise.resolve());
    proc.emit('uncaughtException', new Error('api_key=sk-live-0123456789abcdef'), 'uncaughtException');
    proc.emit('unhandledRejection', 'plain reason', Promise.resolve());

    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged.map(({ level, msg, err, origin }) => ({ level, msg, err, origin }))).toEqual([
      {
        level: 50,
        msg: 'unhandled promise rejection (the process keeps running)',
        err: "TypeError: Cannot destructure property 'task_id' of 'job.data' as it is null.",
        origin: undefined,
      },
      {
        level: 50,
        msg: 'uncaught exception (the process keeps running)',
        err: 'Error: api_key=sk-l************cdef',
        origin: 'uncaughtException',
      },
      { level: 50, msg: 'unhandled promise rejection (the process keeps running)', err: 'plain reason', origin: undefined },
    ]);
    expect(lines.join('')).not.toContain('sk-live-0123456789abcdef');
  });
});
