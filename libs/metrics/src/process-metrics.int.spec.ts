import { Test } from '@nestjs/testing';
import type { INestApplication } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { TASK_QUEUE_NAME, type TaskPayload } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { QueueModule, TaskQueueService } from '@wegent-codex/queue';
import { REDIS, RuntimeModule } from '@wegent-codex/runtime';
import { dropPrefix, eventually, testConfig } from '../../../test/support/test-config';
import { EventMetrics } from './event-metrics';
import { METRICS_REGISTRY } from './metrics-registry';
import { MetricsModule } from './metrics.module';
import { ProcessMetricsService } from './process-metrics.service';
import { registerScrapeMetrics } from './queue-metrics';

const RUNS = Symbol('RUNS');
const payload = (task: number, sub: number): TaskPayload => ({
  task_id: task,
  subtask_id: sub,
  bot: [{ shell_type: 'Codex' }],
  prompt: 'hi',
});
const context = { task_title: 't', subtask_title: 's', task_type: 'online', git_repo: '', git_domain: '', branch_name: '', prompt: 'hi' };

type Snapshot = MetricObjectWithValues<MetricValue<string>>[];

/** One scrape (every collector runs once). */
const scrape = async (registry: Registry): Promise<Snapshot> => (await registry.getMetricsAsJSON()) as Snapshot;

/** The samples named `name` (a histogram's `_count`/`_sum` included) whose labels include `labels`. */
function samplesOf(snapshot: Snapshot, name: string, labels: Record<string, string> = {}): MetricValue<string>[] {
  const family = name.replace(/_(count|sum)$/, '');
  const metric = snapshot.find((m) => m.name === name) ?? snapshot.find((m) => m.name === family);
  if (!metric) return [];
  return metric.values.filter(
    (v) =>
      ((v as { metricName?: string }).metricName ?? metric.name) === name &&
      Object.entries(labels).every(([k, value]) => v.labels[k] === value),
  );
}

/** The value of the one sample of a fresh scrape matching `name` and `labels`. */
async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return samplesOf(await scrape(registry), name, labels)[0]?.value;
}

describe('process metrics (real Redis)', () => {
  const config = testConfig('metrics', { METRICS_PORT: '0' });
  const running: { taskId: number; subtaskId: number }[] = [];
  const runs = { size: 0, all: () => running };
  let app: INestApplication;
  let registry: Registry;
  let events: EventLogRepository;
  let tasks: TaskQueueService;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RuntimeModule.forRoot(config), MetricsModule.forRoot({ runningProcesses: RUNS }), QueueModule],
      providers: [{ provide: RUNS, useValue: runs }],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
    registry = app.get(METRICS_REGISTRY);
    events = app.get(EventLogRepository);
    tasks = app.get(TaskQueueService);
  });
  afterAll(async () => {
    await app?.close();
    await dropPrefix(config);
  });

  it('reads the queue counts and the running Codex processes at scrape time', async () => {
    await tasks.enqueue(payload(1, 10));
    await tasks.enqueue(payload(1, 11)); // parked behind 1/10: delayed
    runs.size = 2;

    expect(await value(registry, 'wegent_codex_queue_jobs', { queue: 'codex-tasks', state: 'waiting' })).toBe(1);
    expect(await value(registry, 'wegent_codex_queue_jobs', { queue: 'codex-tasks', state: 'delayed' })).toBe(1);
    expect(await value(registry, 'wegent_codex_queue_jobs', { queue: 'codex-tasks', state: 'failed' })).toBe(0);
    expect(await value(registry, 'wegent_codex_codex_processes_running')).toBe(2);
  });

  it('derives the time to first event and the job duration from the appended events', async () => {
    await tasks.enqueue(payload(2, 20));
    const start = Date.now();
    await events.append({ type: 'status', phase: 'started', context, task_id: 2, subtask_id: 20, attempt: 1 }, new Date(start));
    await events.append({ type: 'chunk', item_id: 'm', text: 'hi', task_id: 2, subtask_id: 20, attempt: 1 }, new Date(start + 1_000));
    await events.append({ type: 'done', value: 'hi', task_id: 2, subtask_id: 20, attempt: 1 }, new Date(start + 4_000));

    await eventually(async () => (await value(registry, 'wegent_codex_time_to_first_event_seconds_count')) === 1);
    expect(await value(registry, 'wegent_codex_job_duration_seconds_count', { outcome: 'done' })).toBe(1);
    expect(await value(registry, 'wegent_codex_job_duration_seconds_sum', { outcome: 'done' })).toBe(4);
    for (const type of ['status', 'chunk', 'done'])
      expect(await value(registry, 'wegent_codex_events_appended_total', { type })).toBeGreaterThanOrEqual(1);

    // Refused after the terminal event: not counted.
    await events.append({ type: 'chunk', item_id: 'm', text: 'late', task_id: 2, subtask_id: 20, attempt: 1 });
    expect(await value(registry, 'wegent_codex_events_appended_total', { type: 'chunk' })).toBe(1);
  });

  it('measures cancel latency from the request to the cancelled event, by stage', async () => {
    await tasks.enqueue(payload(3, 30));
    expect((await tasks.cancelTask(3)).cancelled).toEqual([{ subtask_id: 30, stage: 'queued' }]);
    await eventually(async () => (await value(registry, 'wegent_codex_cancel_latency_seconds_count', { stage: 'queued' })) === 1);

    const requested = Date.now();
    await tasks.cancels.request(4, 40, requested);
    await events.append({ type: 'status', phase: 'started', context, task_id: 4, subtask_id: 40, attempt: 1 }, new Date(requested - 5_000));
    await events.append({ type: 'cancelled', stage: 'running', task_id: 4, subtask_id: 40, attempt: 1 }, new Date(requested + 1_500));
    await eventually(async () => (await value(registry, 'wegent_codex_cancel_latency_seconds_count', { stage: 'running' })) === 1);
    expect(await value(registry, 'wegent_codex_cancel_latency_seconds_sum', { stage: 'running' })).toBeCloseTo(1.5);
    expect(await value(registry, 'wegent_codex_job_duration_seconds_sum', { outcome: 'cancelled' })).toBeCloseTo(6.5);
  });

  it('reports the oldest waiting job, the registered workers, WORKER_CONCURRENCY and that Redis answers', async () => {
    const queue = app.get<Queue>(getQueueToken(TASK_QUEUE_NAME));
    // Enqueued two minutes ago (BullMQ takes the time from the job options).
    await queue.add('old', { task_id: 5, subtask_id: 50 }, { jobId: 'old-one', timestamp: Date.now() - 120_000 });
    const oldest = (await value(registry, 'wegent_codex_queue_oldest_waiting_seconds', { queue: 'codex-tasks' }))!;
    expect(oldest).toBeGreaterThanOrEqual(120);
    expect(oldest).toBeLessThan(130);
    expect(await value(registry, 'wegent_codex_queue_workers', { queue: 'codex-tasks' })).toBe(0);
    expect(await value(registry, 'wegent_codex_worker_concurrency')).toBe(2);
    expect(await value(registry, 'wegent_codex_redis_up')).toBe(1);
    await queue.remove('old-one');
  });

  it('reports the relay backlog from Redis: the oldest event with no delivered callback', async () => {
    const keys = app.get(RedisKeys);
    const redis = app.get<Redis>(REDIS);
    await events.append({ type: 'chunk', item_id: 'm', text: 'x', task_id: 6, subtask_id: 60, attempt: 1 });
    // Undelivered since this file began (seconds, not ms; a number, not NaN).
    const backlog = (await value(registry, 'wegent_codex_relay_oldest_undelivered_seconds'))!;
    expect(Number.isFinite(backlog)).toBe(true);
    expect(backlog).toBeGreaterThan(0);
    expect(backlog).toBeLessThan(60);
    expect(await value(registry, 'wegent_codex_relay_outbox_entries')).toBe(Number(await redis.xlen(keys.outbox)));
    // Every subtask of this file delivered up to its last event: no backlog.
    for (const [task, sub] of [
      [1, 10],
      [1, 11],
      [2, 20],
      [3, 30],
      [4, 40],
      [6, 60],
    ]) {
      const last = (await events.read(task, sub)).at(-1);
      if (last) await redis.set(keys.relayCursor(task, sub), last.id);
    }
    expect(await value(registry, 'wegent_codex_relay_oldest_undelivered_seconds')).toBe(0);
  });

  it("reports the longest silence among this worker's running runs", async () => {
    running.push({ taskId: 7, subtaskId: 70 });
    await events.append({ type: 'chunk', item_id: 'm', text: 'x', task_id: 7, subtask_id: 70, attempt: 1 });
    const silence = (await value(registry, 'wegent_codex_run_longest_silence_seconds'))!;
    expect(silence).toBeGreaterThanOrEqual(0);
    expect(silence).toBeLessThan(5);
    running.length = 0;
    expect(await value(registry, 'wegent_codex_run_longest_silence_seconds')).toBe(0);
  });

  it('serves GET /metrics on METRICS_PORT, and nothing else there', async () => {
    const port = app.get(ProcessMetricsService).port!;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toMatch(/^wegent_codex_queue_jobs\{queue="codex-tasks",state="waiting"\} \d+$/m);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(404);
  });
});

describe('scrape-time collectors', () => {
  it('leaves the queue series out and counts an error when the queue does not answer', async () => {
    const registry = new Registry();
    const away = () => Promise.reject(new Error('Redis is away'));
    const broken = { name: 'codex-tasks', getJobCounts: away, getJobs: away, getWorkersCount: away } as unknown as Queue;
    registerScrapeMetrics(registry, { queues: [broken] });
    const snapshot = await scrape(registry);
    expect(samplesOf(snapshot, 'wegent_codex_queue_jobs')).toEqual([]);
    expect(samplesOf(snapshot, 'wegent_codex_queue_oldest_waiting_seconds')).toEqual([]);
    expect(samplesOf(snapshot, 'wegent_codex_queue_workers')).toEqual([]);
    expect(samplesOf(snapshot, 'wegent_codex_metrics_collect_errors_total', { collector: 'queue' })[0].value).toBe(1);
    expect(samplesOf(snapshot, 'wegent_codex_codex_processes_running')).toEqual([]);
  });

  it('never lets a failing time source reach the appending path', async () => {
    const registry = new Registry();
    const errors: string[] = [];
    const failing = () => Promise.reject(new Error('Redis is away'));
    const metrics = new EventMetrics(registry, { enqueuedAt: failing, cancelRequestedAt: failing }, (what) => errors.push(what));
    const timestamp = new Date().toISOString();
    expect(() =>
      metrics.appended({
        id: '1-0',
        event: { type: 'cancelled', stage: 'queued', task_id: 1, subtask_id: 1, attempt: 0, seq: 1, timestamp },
      }),
    ).not.toThrow();
    await eventually(() => errors.length === 2);
    expect(errors.sort()).toEqual(['cancel latency', 'time to first event']);
    expect(await value(registry, 'wegent_codex_events_appended_total', { type: 'cancelled' })).toBe(1);
  });
});
