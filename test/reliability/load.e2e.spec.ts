import { message, turn } from '../fixtures/fake-responses';
import { ReliabilityScene } from './reliability-scene';

/**
 * Load with a flaky callback endpoint: many tasks through two worker processes (and an api and a
 * relay process) while executor_manager randomly answers 503 and stalls for 2 s. Every task must
 * end with exactly one terminal callback, each subtask's callbacks complete and in order; and no
 * callback is delivered twice (the fake records every POST; repeats are counted, and must be none).
 *
 * `npm test` runs a shortened form; RELIABILITY_LOAD_TASKS=200 (npm run test:reliability) the full one.
 */
const TASKS = Number(process.env.RELIABILITY_LOAD_TASKS ?? 40);

describe(`load: ${TASKS} tasks, 2 worker processes, flaky callback endpoint`, () => {
  let scene: ReliabilityScene;

  beforeAll(async () => {
    scene = await ReliabilityScene.create('load', { env: { WORKER_CONCURRENCY: '4', CALLBACK_TIMEOUT_MS: '1000' } });
    await scene.start(['api']);
    await scene.start(['relay']);
    await scene.start(['worker'], {}, 'worker-1');
    await scene.start(['worker'], {}, 'worker-2');
  }, 120_000);

  afterAll(async () => {
    await scene?.close();
  }, 120_000);

  it('delivers every callback of every task, in order, with exactly one terminal each', async () => {
    const base = 70_000;
    for (let i = 0; i < TASKS; i++) {
      scene.router.script(
        base + i,
        turn([message(`Answer number ${i} streamed in a few words.`, { phase: 'final_answer', deltaDelayMs: 5 })]),
      );
    }

    // The flaky endpoint: every 300 ms, maybe fail the next few answers with 503, maybe stall 2 s.
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const chaos = setInterval(() => {
      if (random() < 0.5) scene.em.failNext(1 + Math.floor(random() * 3), 503);
      if (random() < 0.15) {
        scene.em.stall(2_000);
        setTimeout(() => scene.em.stall(0), 2_000).unref();
      }
    }, 300);

    try {
      for (let i = 0; i < TASKS; i++) await scene.execute(base + i, 1, `task ${i}`);
      // Grouped once per check: the fake calls this on every callback it receives.
      const allDone = () => {
        const groups = scene.em.bySubtask();
        for (let i = 0; i < TASKS; i++) if (!(groups.get(`${base + i}:1`) ?? []).some((c) => c.body.progress === 100)) return false;
        return true;
      };
      await scene.em.waitFor(allDone, TASKS * 3_000 + 60_000, `terminal callbacks of all ${TASKS} tasks`);
    } finally {
      clearInterval(chaos);
      scene.em.stall(0);
    }

    for (let i = 0; i < TASKS; i++) {
      await scene.expectCompleteDelivery(base + i, 1);
      const terminal = scene.callbacksOf(base + i, 1).find((c) => c.progress === 100)!;
      expect(terminal).toMatchObject({ status: 'COMPLETED', error_message: `Answer number ${i} streamed in a few words.` });
    }
    // Some answers were retried (503s) — the flakiness really happened.
    expect(scene.em.requests.filter((r) => r.status === 503).length).toBeGreaterThan(0);
    const duplicates = scene.em.duplicates();
    process.stdout.write(
      `load: ${TASKS} tasks, ${scene.em.delivered().length} callbacks delivered, ${scene.em.requests.length} POSTs, ` +
        `${scene.em.requests.filter((r) => r.status === 503).length} answered 503, ${duplicates.length} duplicate deliveries (same Idempotency-Key)\n`,
    );
    expect(duplicates.map((c) => c.idempotencyKey)).toEqual([]);
  }, 900_000);
});
