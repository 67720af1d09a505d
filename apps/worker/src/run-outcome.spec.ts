import { RunEnding, RunText } from './run-outcome';

describe('run outcome: every ending and its ClaudeCode text', () => {
  it('writes the exact texts', () => {
    expect(RunText.noAgent({ task_id: 305, subtask_id: 812 })).toBe('[task_id: 305.812] Unable to get or create agent');
    expect(RunText.preExecuteFailed(305)).toBe('Agent[Codex][305] handle: pre_execute failed.');
    expect(RunText.executionFailed('spawn ENOENT')).toBe('${thinking.execution_failed} Codex Agent execution: spawn ENOENT');
    expect(RunText.processingError('stream closed')).toBe('Error processing response: stream closed');
  });

  it('ends every way with its events, the terminal one last', () => {
    expect(RunEnding.noAgent({ task_id: 1, subtask_id: 2 })).toEqual([
      { type: 'error', kind: 'init', message: '[task_id: 1.2] Unable to get or create agent' },
    ]);
    expect(RunEnding.noAgent({ task_id: 1, subtask_id: 2 }, 'task payload expired or missing')).toEqual([
      { type: 'error', kind: 'init', message: '[task_id: 1.2] Unable to get or create agent', error: 'task payload expired or missing' },
    ]);
    expect(RunEnding.preExecuteFailed(7, 'clone failed')).toEqual([
      {
        type: 'thinking-step',
        report: true,
        step: { title: 'Pre-execution Failed', next_action: 'continue', details: { error: 'clone failed' } },
      },
      { type: 'error', kind: 'pre-execute', message: 'Agent[Codex][7] handle: pre_execute failed.', error: 'clone failed' },
    ]);
    expect(RunEnding.exception('spawn ENOENT')).toEqual([
      {
        type: 'thinking-step',
        report: false,
        step: {
          title: 'thinking.execution_failed',
          next_action: 'continue',
          details: { execution_type: 'Codex Agent execution', error_message: 'spawn ENOENT' },
        },
      },
      {
        type: 'error',
        kind: 'exception',
        message: '${thinking.execution_failed} Codex Agent execution: spawn ENOENT',
        error: 'spawn ENOENT',
      },
    ]);
    expect(RunEnding.broken('idle for 600 s')).toEqual([
      { type: 'thinking-step', report: false, step: { title: 'thinking.response_processing_error', next_action: 'continue' } },
      { type: 'error', kind: 'stream', message: 'Error processing response: idle for 600 s', error: 'idle for 600 s' },
    ]);
    expect(RunEnding.workerLost()).toEqual([
      {
        type: 'error',
        kind: 'stream',
        message:
          'Error processing response: the worker running this task was lost (process died or lost its Redis lock); the run was not repeated',
        error: 'worker lost',
        // 2026 `error.code` (the 2025 fold ignores it).
        code: 'executor_crash',
      },
    ]);
    expect(RunEnding.workerLost('2026')).toEqual([
      {
        type: 'error',
        kind: 'stream',
        message:
          'The worker running this task stopped unexpectedly (its process died or lost its connection to Redis), so the run did not finish. Send the message again to retry.',
        error: 'worker lost',
        code: 'executor_crash',
        protocol: '2026',
      },
    ]);
    expect(RunEnding.failedInQueue('job stalled more than allowable limit')).toEqual([
      {
        type: 'error',
        kind: 'stream',
        message: 'Error processing response: the job failed in the queue (job stalled more than allowable limit)',
        error: 'job stalled more than allowable limit',
      },
    ]);
    expect(RunEnding.cancelled('running')).toEqual([{ type: 'cancelled', stage: 'running' }]);
    // Cancelled before any `started`: a 2026 subtask says its protocol, a 2025 one does not.
    expect(RunEnding.cancelled('queued', '2026')).toEqual([{ type: 'cancelled', stage: 'queued', protocol: '2026' }]);
    expect(RunEnding.cancelled('queued', '2025')).toEqual([{ type: 'cancelled', stage: 'queued' }]);
  });
});
