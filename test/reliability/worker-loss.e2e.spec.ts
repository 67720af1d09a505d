import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import { CodexProcessRegistry } from '../../apps/worker/src';
import { TASK_QUEUE_NAME } from '@wegent-codex/contracts';
import { redisOptionsFromUrl } from '@wegent-codex/runtime';
import { exec, message, pause, turn } from '../fixtures/fake-responses';
import type { Callback } from '../support/service-app';
import { eventually } from '../support/test-config';
import { alive, processesUnder, ReliabilityScene, sleep } from './reliability-scene';

/**
 * What happens to a job when its worker process goes away — killed outright, or stopped with
 * SIGTERM — with every role in its own OS process, real Redis, the real Codex CLI and a scripted
 * model whose command leaves a `sleep 300` running. Codex runs a command in a session of its own;
 * when the app-server dies, the command's shell dies with it, but the shell's children do not
 * (they are re-parented to PID 1): `sleep 300; echo slept` keeps such a grandchild alive.
 */
const SLEEP_COMMAND = 'sleep 300; echo slept';

const LOST =
  'Error processing response: the worker running this task was lost (process died or lost its Redis lock); the run was not repeated';
const SHUT_DOWN = 'Error processing response: the service shut down while the task was running';

/** Exactly one terminal callback, the last one, still so after a quiet second; progress never decreases. */
async function expectOneTerminalLast(s: ReliabilityScene, taskId: number, subtaskId: number): Promise<Callback[]> {
  await sleep(1_500);
  const callbacks = s.callbacksOf(taskId, subtaskId);
  expect(callbacks.filter((c) => c.progress === 100)).toHaveLength(1);
  expect(callbacks[callbacks.length - 1].progress).toBe(100);
  const progress = callbacks.map((c) => c.progress);
  expect(progress).toEqual([...progress].sort((a, b) => a - b));
  return callbacks;
}

async function waitForSleep(s: ReliabilityScene, taskId: number): Promise<number> {
  const pids = await eventually(
    async () => {
      const found = await processesUnder(s.taskDir(taskId), /^sleep 300$/);
      return found.length > 0 && found;
    },
    60_000,
    100,
  );
  return pids[0];
}

describe('reliability: a worker process that goes away', () => {
  let s: ReliabilityScene;

  afterEach(async () => {
    await s?.close();
  }, 30_000);

  it('SIGKILL mid-run: one FAILED "worker lost" and nothing after; the next worker kills the orphaned Codex tree; a queued job runs cleanly', async () => {
    s = await ReliabilityScene.create('sigkill');
    await s.start(['api', 'relay']);
    // Without the sandbox a dead worker leaves the command behind: the reaper's case. (With it, the
    // command dies with the worker: the next test.)
    const first = await s.start(['worker'], { WORKER_CONCURRENCY: '1', SANDBOX: 'off' }, 'worker-1');
    s.router.script(601, turn([exec(SLEEP_COMMAND, { yieldTimeMs: 600_000 })]));
    s.router.script(602, turn([message('Queued, then done.', { phase: 'final_answer' })]));
    await s.execute(601, 1, 'Sleep for a long time.');
    const sleepPid = await waitForSleep(s, 601);
    await s.execute(602, 1, 'Wait your turn.'); // waits: the only slot of the worker is busy
    expect(await s.queue.getWaitingCount()).toBe(1);

    // The record of the Codex tree on disk lists the command before the worker dies.
    const registry = new CodexProcessRegistry(s.workspaceRoot);
    const record = await eventually(
      async () => {
        const { records } = await registry.list();
        return records.find((r) => r.record.taskId === 601 && r.record.tree.members.some((m) => m.pid === sleepPid))?.record;
      },
      10_000,
      100,
    );
    expect(record.owner.pid).toBe(first.pid);
    const appServerPid = record.tree.root.pid;

    const killed = await first.killWithChildren();
    expect(killed).toContain(appServerPid);
    expect(await alive(sleepPid)).toBe(true); // orphaned: nothing of the dead worker can end it

    const second = await s.start(['worker'], { WORKER_CONCURRENCY: '2' }, 'worker-2');
    // The reaper ran before the new worker took any job.
    const reaped = second.logs('killed Codex processes left behind by a dead worker');
    expect(reaped).toHaveLength(1);
    expect(reaped[0].reaped).toEqual([
      expect.objectContaining({ task_id: 601, subtask_id: 1, owner_pid: first.pid, killed: expect.arrayContaining([sleepPid]) }),
    ]);
    expect(await alive(sleepPid)).toBe(false);
    expect(await alive(appServerPid)).toBe(false);
    expect(await processesUnder(s.taskDir(601))).toEqual([]);
    expect((await registry.list()).records.filter((r) => r.record.owner.pid === first.pid)).toEqual([]);

    // The job that never started runs on the new worker as if nothing happened.
    const done = await s.waitTerminal(602, 1, 60_000);
    expect(done).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: 'Queued, then done.' });
    const quiet = await expectOneTerminalLast(s, 602, 1);
    expect(quiet.filter((c) => c.progress === 50)).toHaveLength(1);

    // The started one is ended by the relay's lost-worker watcher (or, had it not, by the new worker
    // after BullMQ's stall check), not re-run.
    const lost = await s.waitTerminal(601, 1, 60_000);
    expect(lost).toMatchObject({ status: 'FAILED', progress: 100, error_message: LOST });
    await expectOneTerminalLast(s, 601, 1);
    expect(s.router.requestsOf(601)).toHaveLength(1); // the model was not asked again
    const log = await s.eventLog(601, 1);
    expect(log.filter((e) => e.event.type === 'status' && e.event.phase === 'started')).toHaveLength(1);
    expect(log[log.length - 1].event).toMatchObject({ type: 'error', error: 'worker lost' });
  }, 120_000);

  it('SIGKILL mid-run with the sandbox: every process of the run dies with the worker, nothing is left to reap', async () => {
    s = await ReliabilityScene.create('sigkill-sandbox');
    await s.start(['api', 'relay']);
    const first = await s.start(['worker'], { WORKER_CONCURRENCY: '1', SANDBOX: 'bwrap' }, 'worker-1');
    s.router.script(605, turn([exec(SLEEP_COMMAND, { yieldTimeMs: 600_000 })]));
    await s.execute(605, 1, 'Sleep for a long time.');
    const sleepPid = await waitForSleep(s, 605);

    await first.killWithChildren();
    // bwrap --die-with-parent and the run's PID namespace: its init dies, and the kernel kills the rest.
    await eventually(async () => !(await alive(sleepPid)), 10_000, 100);
    expect(await processesUnder(s.taskDir(605))).toEqual([]);

    await s.start(['worker'], { WORKER_CONCURRENCY: '1' }, 'worker-2');
    const lost = await s.waitTerminal(605, 1, 60_000);
    expect(lost).toMatchObject({ status: 'FAILED', progress: 100, error_message: LOST });
  }, 120_000);

  it('a job locked by a worker that died before it began runs cleanly on the next worker', async () => {
    s = await ReliabilityScene.create('locked');
    await s.start(['api', 'relay']);
    s.router.script(611, turn([message('Ran once.', { phase: 'final_answer' })]));
    await s.execute(611, 1, 'Run once.');

    // A worker takes the job (active, locked) and dies before its processor does anything.
    const doomed = new Worker(TASK_QUEUE_NAME, null, {
      connection: redisOptionsFromUrl(s.env.REDIS_URL),
      prefix: s.env.REDIS_PREFIX,
      lockDuration: 5_000,
      autorun: false,
    });
    const taken = await doomed.getNextJob(randomUUID());
    expect(taken?.data).toMatchObject({ task_id: 611, subtask_id: 1 });
    await doomed.close(true);
    expect(await s.queue.getActiveCount()).toBe(1);
    expect(await s.events.lastSeq(611, 1)).toBe(0);

    await s.start(['worker']);
    const terminal = await s.waitTerminal(611, 1, 60_000);
    expect(terminal).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: 'Ran once.' });
    const callbacks = await expectOneTerminalLast(s, 611, 1);
    expect(callbacks.some((c) => c.status === 'FAILED')).toBe(false);
    expect(callbacks.filter((c) => c.progress === 50)).toHaveLength(1);
    expect(s.router.requestsOf(611)).toHaveLength(1);
  }, 90_000);

  it('SIGTERM mid-run: the job ends within SHUTDOWN_GRACE_MS with one FAILED "service shut down", the process exits, no Codex process is left', async () => {
    s = await ReliabilityScene.create('sigterm');
    await s.start(['api', 'relay']);
    const worker = await s.start(['worker'], { SHUTDOWN_GRACE_MS: '2000' });
    s.router.script(621, turn([pause(200), exec(SLEEP_COMMAND, { yieldTimeMs: 600_000 })]));
    await s.execute(621, 1, 'Sleep for a long time.');
    const sleepPid = await waitForSleep(s, 621);

    // Grace (2 s) + Codex stop (CANCEL_GRACE_MS 1 s, twice at most) + Nest's own shutdown: 15 s is ample.
    const exit = await worker.signal('SIGTERM', 15_000);
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    expect(worker.logs('shutdown grace period over: ending running jobs')).toHaveLength(1);
    expect(await alive(sleepPid)).toBe(false);
    expect(await processesUnder(s.taskDir(621))).toEqual([]);
    expect((await new CodexProcessRegistry(s.workspaceRoot).list()).records).toEqual([]);

    const terminal = await s.waitTerminal(621, 1, 15_000);
    expect(terminal).toMatchObject({ status: 'FAILED', progress: 100, error_message: SHUT_DOWN });
    await expectOneTerminalLast(s, 621, 1);
    // Ended, not handed to another worker: BullMQ saw the processor return.
    expect(await s.queue.getJobCounts('active', 'wait', 'completed')).toEqual({ active: 0, wait: 0, completed: 1 });
  }, 90_000);
});
