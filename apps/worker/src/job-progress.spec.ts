import { memoryLogger } from '../../../test/support/memory-logger';
import type { RunEvent } from './run-event';
import { JobProgressReporter } from './job-progress';

describe('JobProgressReporter (what Bull Board shows of a run)', () => {
  it('writes the phase and last step, and one log line per step, in order; never text or messages', async () => {
    const writes: string[] = [];
    const job = {
      updateProgress: async (progress: unknown) => void writes.push(`progress ${JSON.stringify(progress)}`),
      log: async (line: string) => {
        writes.push(`log ${line}`);
        return writes.length;
      },
    };
    const reporter = new JobProgressReporter(job, memoryLogger().logger);
    const run: RunEvent[] = [
      { type: 'status', phase: 'started' },
      { type: 'status', phase: 'prepared' },
      { type: 'status', phase: 'workbench' },
      {
        type: 'thinking-step',
        step: { title: 'thinking.assistant_message_received', next_action: 'continue', details: { text: 'token=sk-secret-1' } },
        report: true,
      },
      { type: 'chunk', item_id: 'm1', text: 'the answer with sk-secret-2' },
      { type: 'error', kind: 'agent', message: 'boom sk-secret-3', error: 'sk-secret-4' },
    ];
    for (const event of run) reporter.observe(event);
    await reporter.flush();
    expect(writes).toEqual([
      'progress {"phase":"started"}',
      'log status: started',
      'progress {"phase":"prepared"}',
      'log status: prepared',
      'progress {"phase":"prepared","last_step":"thinking.assistant_message_received"}',
      'log step: thinking.assistant_message_received',
      'progress {"phase":"failed","last_step":"thinking.assistant_message_received"}',
      'log failed (agent)',
    ]);
  });

  it('a failing write is logged and never thrown', async () => {
    const { logger, lines } = memoryLogger();
    const job = { updateProgress: () => Promise.reject(new Error('Missing key for job x')), log: () => Promise.resolve(0) };
    const reporter = new JobProgressReporter(job, logger);
    reporter.observe({ type: 'done', value: 'ok' });
    reporter.observe({ type: 'cancelled', stage: 'running' });
    await expect(reporter.flush()).resolves.toBeUndefined();
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['could not update the job progress', 'could not update the job progress']);
  });
});
