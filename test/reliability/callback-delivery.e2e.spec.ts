import { exec, message, reasoning, turn } from '../fixtures/fake-responses';
import { runContext } from '../fixtures/run-context';
import { eventually } from '../support/test-config';
import { ReliabilityScene, sleep } from './reliability-scene';

/**
 * Callbacks survive what happens between the event log and executor_manager: a relay process
 * killed while a callback is in flight, and the callback endpoint gone for 30 s during a run.
 * Each subtask's callbacks are compared with its event log (ReliabilityScene.expectCompleteDelivery).
 */

/** A run with several callbacks: reasoning, commentary, two commands, a final answer. */
function busyRun(s: ReliabilityScene, taskId: number, commandSeconds = 0): void {
  s.router.script(
    taskId,
    turn([
      reasoning('Looking around'),
      message(`Checking task ${taskId} first.`, { phase: 'commentary' }),
      exec(`sleep ${commandSeconds}; echo one`),
    ]),
    turn([reasoning('Second step'), exec(`sleep ${commandSeconds}; echo two`)]),
    turn([message(`Task ${taskId} is done: one, two.`, { phase: 'final_answer' })]),
  );
}

/** What COMPLETED stores: the streamed commentary and answer (issue 9). */
const stored = (taskId: number): string => `Checking task ${taskId} first.\n\nTask ${taskId} is done: one, two.`;

/** How long executor_manager is away: 30 s in `npm test`, 60 s in `npm run test:reliability`. */
const OUTAGE_MS = Number(process.env.RELIABILITY_OUTAGE_MS ?? 30_000);

describe('reliability: callback delivery', () => {
  let s: ReliabilityScene;

  afterEach(async () => {
    await s?.close();
  }, 30_000);

  it('a relay killed mid-delivery while executor_manager stalls: a second relay delivers everything, in order, one terminal', async () => {
    s = await ReliabilityScene.create('relay-kill');
    await s.start(['api', 'worker']);
    s.em.stall(120_000); // the first POST hangs: the relay dies with it in flight
    const first = await s.start(['relay'], {}, 'relay-1');
    busyRun(s, 701);
    busyRun(s, 702);
    await s.execute(701, 1, 'Work.');
    await s.execute(702, 1, 'Work too.');
    await eventually(async () => (await s.events.terminalOf(701, 1)) && (await s.events.terminalOf(702, 1)), 60_000, 100);
    await eventually(() => s.em.requests.length >= 1, 10_000);
    expect(s.em.delivered()).toEqual([]);

    await first.killWithChildren();
    s.em.stall(0);
    // The new relay takes over what the dead one had claimed once it is idle (RELAY_CLAIM_IDLE_MS).
    const second = await s.start(['relay'], {}, 'relay-2');
    await s.waitTerminal(701, 1, 30_000);
    await s.waitTerminal(702, 1, 30_000);
    await s.waitRelayDone(701, 1); // nothing may follow the terminal callbacks
    await s.waitRelayDone(702, 1);
    expect((await s.expectCompleteDelivery(701, 1)).length).toBeGreaterThan(5);
    await s.expectCompleteDelivery(702, 1);
    expect(s.callbacksOf(701, 1).at(-1)).toMatchObject({ status: 'COMPLETED', error_message: stored(701) });
    expect(s.callbacksOf(702, 1).at(-1)).toMatchObject({ status: 'COMPLETED', error_message: stored(702) });
    expect(second.logs('claimed idle outbox entries of another relay').length).toBeGreaterThan(0);
  }, 90_000);

  it('a relay process delivering many subtasks at once warns of no listener leak (every pass listens on its stop signal)', async () => {
    s = await ReliabilityScene.create('many-passes');
    s.em.stall(300); // every answer waits: the passes of all the subtasks run at the same time
    const tasks = Array.from({ length: 24 }, (_, i) => 720 + i);
    for (const taskId of tasks) {
      const ids = { task_id: taskId, subtask_id: 1, attempt: 1 };
      await s.events.append({ ...ids, type: 'status', phase: 'started', context: runContext() });
      await s.events.append({ ...ids, type: 'done', value: `answer ${taskId}` });
    }
    const relay = await s.start(['relay']);
    for (const taskId of tasks) await s.waitTerminal(taskId, 1, 30_000);
    // Node prints this to stderr at the 11th listener on one AbortSignal: it reads like a leak.
    expect(relay.stderr).not.toContain('MaxListenersExceededWarning');
    expect(s.em.duplicates()).toEqual([]);
  }, 60_000);

  it(
    `the callback endpoint down for ${OUTAGE_MS / 1000} s during a run: every callback arrives after it is back, in order, none lost`,
    async () => {
      s = await ReliabilityScene.create('em-down');
      await s.start(['api', 'worker', 'relay'], { CALLBACK_RETRY_MAX_MS: '500' });
      busyRun(s, 711, 1);
      await s.execute(711, 1, 'Work while nobody listens.');
      await s.em.waitFor(() => s.callbacksOf(711, 1).length >= 1, 30_000, 'first callback');
      await s.em.goDown();
      const downAt = Date.now();

      // The run goes on and ends while executor_manager is away; its callbacks wait in Redis.
      await eventually(() => s.events.terminalOf(711, 1), 60_000, 100);
      const before = s.callbacksOf(711, 1).length;
      // The outage lasts OUTAGE_MS on purpose: its length is the scenario, not a wait for anything.
      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
      expect(s.callbacksOf(711, 1)).toHaveLength(before);
      await s.em.comeBack();

      await s.waitTerminal(711, 1, 15_000);
      await s.waitRelayDone(711, 1); // nothing may follow the terminal callback
      const planned = await s.expectCompleteDelivery(711, 1);
      expect(planned.length).toBeGreaterThan(5);
      expect(s.callbacksOf(711, 1).at(-1)).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: stored(711) });
      expect(s.em.duplicates()).toEqual([]);
    },
    OUTAGE_MS + 90_000,
  );
});
