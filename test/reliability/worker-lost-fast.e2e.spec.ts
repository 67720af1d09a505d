import { exec, message, turn } from '../fixtures/fake-responses';
import { taskMarker } from '../support/service-app';
import { eventually } from '../support/test-config';
import { minimalResponsesBody } from '../support/wegent-2026-body';
import { processesUnder, ReliabilityScene } from './reliability-scene';

/**
 * A worker SIGKILLed mid-turn, while another worker stays up: the relay's lost-worker watcher ends
 * the dead worker's runs — a 2025 one FAILED "worker lost", a 2026 one with one `error`
 * executor_crash — within 15 s of the kill, with no worker restarted and with a BullMQ lock
 * (JOB_LOCK_MS 120 s) far too long for the stall check to be what ended them. The task's follow-up
 * then runs on the surviving worker, which is never declared lost.
 */
const SLEEP_COMMAND = 'sleep 300; echo slept';
const LOST_2025 =
  'Error processing response: the worker running this task was lost (process died or lost its Redis lock); the run was not repeated';
const LOST_2026 =
  'The worker running this task stopped unexpectedly (its process died or lost its connection to Redis), so the run did not finish. Send the message again to retry.';
/** The detection bound of issue 12 (TTL 5 s + two renewal periods + one pass + delivery stays well under it). */
const DETECTION_BOUND_MS = 15_000;
/** Only the watcher can end a run within the bound: BullMQ's stall check would take at least this long. */
const LONG_LOCK = { JOB_LOCK_MS: '120000' };

const TERMINAL_2026 = new Set(['response.completed', 'error', 'response.incomplete']);

describe('reliability: a SIGKILLed worker is found lost within seconds', () => {
  let s: ReliabilityScene;

  afterEach(async () => {
    await s?.close();
  }, 30_000);

  it('2025 and 2026 runs of the dead worker end within 15 s, once each; the follow-up runs on the surviving worker', async () => {
    s = await ReliabilityScene.create('lost-fast');
    const relay = await s.start(['api', 'relay']);
    const doomed = await s.start(['worker'], { WORKER_CONCURRENCY: '2', ...LONG_LOCK }, 'worker-doomed');
    s.router.script(
      701,
      turn([exec(SLEEP_COMMAND, { yieldTimeMs: 600_000 })]),
      turn([message('Follow-up answered on the other worker.', { phase: 'final_answer' })]),
    );
    s.router.script(702, turn([exec(SLEEP_COMMAND, { yieldTimeMs: 600_000 })]));
    await s.execute(701, 1, 'Sleep for a long time.');
    const res = await fetch(`${s.baseUrl}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        minimalResponsesBody({
          taskId: 702,
          subtaskId: 1,
          input: `${taskMarker(702)} Sleep for a long time.`,
          model: 'wegent-rel-model',
          apiKey: 'sk-rel-2026-SECRET-0a1b2c3d4e5f',
          baseUrl: s.fake.baseUrl,
          executorName: 'codex-rel',
          titlePrefix: 'Reliability',
        }),
      ),
    });
    expect([res.status, ((await res.json()) as { status?: string }).status]).toEqual([200, 'queued']);
    // Both mid-turn: their commands are running.
    await eventually(async () => (await processesUnder(s.taskDir(701), /^sleep 300$/)).length > 0, 60_000, 100);
    await eventually(async () => (await processesUnder(s.taskDir(702), /^sleep 300$/)).length > 0, 60_000, 100);
    // The survivor is up before the kill; the follow-up parks behind the running subtask of its task.
    await s.start(['worker'], { WORKER_CONCURRENCY: '1', ...LONG_LOCK }, 'worker-survivor');
    await s.execute(701, 2, 'And now?');

    await doomed.killWithChildren();

    const lost = await s.waitTerminal(701, 1, DETECTION_BOUND_MS);
    expect(lost).toMatchObject({ status: 'FAILED', progress: 100, error_message: LOST_2025 });
    await s.em.waitFor(
      () => s.em.requests.some((r) => r.body.task_id === 702 && r.body.event_type === 'error'),
      DETECTION_BOUND_MS,
      'the error callback of 702.1',
    );

    // The follow-up resumes the task on the surviving worker (the lane was released, not left to the 30 s park).
    const followUp = await s.waitTerminal(701, 2, 60_000);
    expect(followUp).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: 'Follow-up answered on the other worker.' });

    // Exactly one terminal each, last, nothing delivered twice.
    await s.expectCompleteDelivery(701, 1);
    expect(s.em.duplicates()).toEqual([]);
    const callbacks2026 = s.em.requests.filter((r) => r.body.task_id === 702);
    const terminals2026 = callbacks2026.filter((r) => TERMINAL_2026.has(String(r.body.event_type)));
    expect(terminals2026.map((r) => r.body.event_type)).toEqual(['error']);
    expect(callbacks2026[callbacks2026.length - 1]).toBe(terminals2026[0]);
    expect(terminals2026[0].body.data).toMatchObject({ type: 'error', code: 'executor_crash', message: LOST_2026 });
    const log2026 = (await s.eventLog(702, 1)).map((e) => e.event);
    expect(log2026.filter((e) => e.type === 'error')).toEqual([expect.objectContaining({ error: 'worker lost', code: 'executor_crash' })]);

    // The relay ended exactly the two runs of the dead worker, and BullMQ failed their jobs.
    expect(relay.logs('worker of a running job is gone: ended the run as worker lost').map((l) => l.task_id)).toEqual(
      expect.arrayContaining([701, 702]),
    );
    expect(relay.logs('worker of a running job is gone')).toHaveLength(2);
    // The follow-up's job completes in BullMQ just after its terminal event.
    const counts = await eventually(async () => {
      const now = await s.queue.getJobCounts('active', 'failed', 'completed');
      return now.active === 0 && now;
    }, 10_000);
    expect(counts).toEqual({ active: 0, failed: 2, completed: 1 });
    expect(s.router.requestsOf(702)).toHaveLength(1); // not run again
  }, 150_000);

  it('a frozen worker that comes back stops the run that was ended as lost meanwhile (its Codex tree killed)', async () => {
    s = await ReliabilityScene.create('lost-frozen');
    await s.start(['api', 'relay']);
    const frozen = await s.start(['worker'], { WORKER_CONCURRENCY: '1', ...LONG_LOCK }, 'worker-frozen');
    s.router.script(703, turn([exec(SLEEP_COMMAND, { yieldTimeMs: 600_000 })]));
    await s.execute(703, 1, 'Sleep for a long time.');
    await eventually(async () => (await processesUnder(s.taskDir(703), /^sleep 300$/)).length > 0, 60_000, 100);

    // SIGSTOP stops the worker's process (its liveness thread included), not its Codex tree.
    process.kill(frozen.pid, 'SIGSTOP');
    try {
      const lost = await s.waitTerminal(703, 1, DETECTION_BOUND_MS);
      expect(lost).toMatchObject({ status: 'FAILED', error_message: LOST_2025 });
      expect((await processesUnder(s.taskDir(703), /^sleep 300$/)).length).toBeGreaterThan(0); // still running
    } finally {
      process.kill(frozen.pid, 'SIGCONT');
    }

    // Back: its next renewal finds the key lapsed, the run's log ended: the run is stopped, its tree killed.
    await frozen.waitForLog((l) => l.msg === 'stopping a run that was ended elsewhere while this worker looked lost', 15_000);
    await eventually(async () => (await processesUnder(s.taskDir(703))).length === 0, 30_000, 100);
    await s.expectCompleteDelivery(703, 1);
    expect(s.em.duplicates()).toEqual([]);
    const terminals = (await s.eventLog(703, 1)).map((e) => e.event).filter((e) => ['done', 'error', 'cancelled'].includes(e.type));
    expect(terminals).toEqual([expect.objectContaining({ type: 'error', error: 'worker lost' })]);
    expect(frozen.running).toBe(true); // the worker itself goes on
  }, 150_000);
});
