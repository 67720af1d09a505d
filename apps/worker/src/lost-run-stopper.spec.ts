import type { EventLogRepository } from '@wegent-codex/event-log';
import type { Logger } from '@wegent-codex/runtime';
import { LostRunStopper } from './lost-run-stopper';
import { RunRegistry, type ActiveRun } from './run-registry';

function run(taskId: number, subtaskId: number): ActiveRun {
  return {
    taskId,
    subtaskId,
    jobId: `task-${taskId}-sub-${subtaskId}`,
    cancel: new AbortController(),
    shutdown: new AbortController(),
    done: Promise.resolve(),
  };
}

describe('LostRunStopper: runs ended elsewhere while this worker looked lost are stopped', () => {
  const errors: { fields: Record<string, unknown>; msg: string }[] = [];
  const logger = { error: (fields: Record<string, unknown>, msg: string) => errors.push({ fields, msg }) } as unknown as Logger;
  let terminals: Map<string, string>;
  let lookups: string[];
  const events = {
    terminalOf: async (taskId: number, subtaskId: number) => {
      lookups.push(`${taskId}:${subtaskId}`);
      if (taskId === 99) throw new Error('Connection is closed.');
      return terminals.get(`${taskId}:${subtaskId}`) ?? null;
    },
  } as unknown as EventLogRepository;

  beforeEach(() => {
    errors.length = 0;
    terminals = new Map();
    lookups = [];
  });

  it('stops exactly the runs whose log holds a terminal, and leaves the others running', async () => {
    const registry = new RunRegistry();
    const ended = run(7, 1);
    const alive = run(8, 1);
    const unreadable = run(99, 1);
    for (const r of [ended, alive, unreadable]) registry.add(r);
    terminals.set('7:1', 'error');

    expect(await new LostRunStopper(registry, events, logger).stopEndedRuns()).toEqual(['task-7-sub-1']);
    expect(ended.shutdown.signal.aborted).toBe(true);
    expect(ended.cancel.signal.aborted).toBe(false); // not a user's cancel: no CANCELLED
    expect(alive.shutdown.signal.aborted).toBe(false);
    expect(unreadable.shutdown.signal.aborted).toBe(false); // an unreadable log stops nothing
    expect(errors).toEqual([
      {
        fields: { task_id: 7, subtask_id: 1, job_id: 'task-7-sub-1', terminal: 'error' },
        msg: 'stopping a run that was ended elsewhere while this worker looked lost',
      },
    ]);
  });

  it('does not look up or stop a run that is already being stopped', async () => {
    const registry = new RunRegistry();
    const stopping = run(7, 2);
    stopping.shutdown.abort();
    registry.add(stopping);
    terminals.set('7:2', 'error');

    expect(await new LostRunStopper(registry, events, logger).stopEndedRuns()).toEqual([]);
    expect(lookups).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('after a lapse, checks at once and once more when the watcher may have finished its pass', async () => {
    jest.useFakeTimers();
    try {
      const registry = new RunRegistry();
      const late = run(7, 3);
      registry.add(late);
      const stopper = new LostRunStopper(registry, events, logger);

      stopper.afterLapse();
      await jest.advanceTimersByTimeAsync(0);
      expect(lookups).toEqual(['7:3']);
      expect(late.shutdown.signal.aborted).toBe(false);

      terminals.set('7:3', 'error'); // the watcher's pass that was under way ends it now
      await jest.advanceTimersByTimeAsync(3_999);
      expect(late.shutdown.signal.aborted).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect(lookups).toEqual(['7:3', '7:3']);
      expect(late.shutdown.signal.aborted).toBe(true);
      stopper.onApplicationShutdown();
    } finally {
      jest.useRealTimers();
    }
  });
});
