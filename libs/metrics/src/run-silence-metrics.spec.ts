import { Registry } from 'prom-client';
import type { StoredEvent } from '@wegent-codex/contracts';
import { RunSilenceMetrics } from './run-silence-metrics';

const chunk = (task: number, sub: number): StoredEvent => ({
  id: '1-0',
  event: {
    type: 'chunk',
    item_id: 'm',
    text: 'x',
    task_id: task,
    subtask_id: sub,
    attempt: 1,
    seq: 2,
    timestamp: '2026-01-01T00:00:00.000Z',
  },
});
const done = (task: number, sub: number): StoredEvent => ({
  id: '2-0',
  event: { type: 'done', value: 'x', task_id: task, subtask_id: sub, attempt: 1, seq: 3, timestamp: '2026-01-01T00:00:00.000Z' },
});

async function gauge(registry: Registry, name: string): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return metric?.values[0]?.value;
}

describe('RunSilenceMetrics', () => {
  it('reports the longest time since a running run appended an event', async () => {
    let now = 1_000_000;
    const running = [
      { taskId: 1, subtaskId: 1 },
      { taskId: 2, subtaskId: 2 },
    ];
    const registry = new Registry();
    const silence = new RunSilenceMetrics(registry, { all: () => running }, () => now);
    silence.appended(chunk(1, 1));
    silence.appended(chunk(2, 2));
    now += 40_000;
    silence.appended(chunk(2, 2));
    now += 5_000;
    // 1/1 has been quiet for 45 s, 2/2 for 5 s.
    expect(await gauge(registry, 'wegent_codex_run_longest_silence_seconds')).toBe(45);
    silence.appended(chunk(1, 1));
    now += 1_000;
    expect(await gauge(registry, 'wegent_codex_run_longest_silence_seconds')).toBe(6);
  });

  it('counts a run with no event yet from when a scrape first saw it, and forgets runs that left', async () => {
    let now = 0;
    const running: { taskId: number; subtaskId: number }[] = [{ taskId: 3, subtaskId: 3 }];
    const registry = new Registry();
    const silence = new RunSilenceMetrics(registry, { all: () => running }, () => now);
    expect(await gauge(registry, 'wegent_codex_run_longest_silence_seconds')).toBe(0);
    now = 700_000;
    expect(await gauge(registry, 'wegent_codex_run_longest_silence_seconds')).toBe(700);
    silence.appended(done(3, 3));
    running.length = 0;
    expect(await gauge(registry, 'wegent_codex_run_longest_silence_seconds')).toBe(0);
  });
});
