import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { listDescendants, readCmdline } from '@wegent-codex/codex';
import { RedisKeys } from '@wegent-codex/event-log';
import { exec, message, turn } from '../fixtures/fake-responses';
import type { Callback } from '../support/service-app';
import { freePort, type ServiceProcess } from '../support/service-process';
import { eventually } from '../support/test-config';
import { processesUnder, ReliabilityScene, sleep } from './reliability-scene';

/**
 * Hostile load (issue 13): beside each runaway task — fork bomb, memory balloon, disk filler, CPU
 * spinner, output flood — a normal task must complete correctly, the runaway must end the way its
 * limit says, the worker must stay small and responsive, and Redis must not balloon. Figures
 * (which limit fired, the normal task's time against its time alone in the same run, worker RSS
 * and event-loop delay, Redis memory) go to .data/hostile-load.json and the test output.
 *
 * The fork bomb and the balloon only start after the test saw their limit in force (/readyz and a
 * probe task), and each hostile command is also bounded by `timeout` inside the sandbox.
 * HOSTILE_FLOOD_BYTES sets the flood (npm test: 32 MiB; npm run test:reliability: 1 GiB).
 */
const FLOOD_BYTES = Number(process.env.HOSTILE_FLOOD_BYTES ?? 32 * 1024 * 1024);
const LIMITS = {
  RUN_LIMITS: 'auto',
  RUN_MEMORY_MB: '256',
  RUN_PIDS: '64',
  RUN_CPUS: '0.5',
  RUN_DISK_MB: '64',
  RUN_DISK_CHECK_MS: '1000',
  RUN_OUTPUT_KB: '256',
  RUN_OPEN_FILES: '256',
};
/**
 * Pacing, not a wait for a condition: once the hostile command has started, its load (processes,
 * memory, disk, output) builds up this long before the normal task starts beside it.
 */
const LOAD_BUILDS_UP_MS = 500;
/** sha256 of "line 1\n" … "line 200\n" (computed once by hand with sha256sum). */
const NORMAL_SUM = 'b9ef72302ace71cdbbc1bfb2294be49b8349cbd19391a44e0f6493a7a76565e5';
const NORMAL_CMD = 'for i in $(seq 1 200); do echo line $i; done | sha256sum | cut -d" " -f1 > sum.txt; cat sum.txt';

interface Figures {
  scenario: string;
  hostileStatus: string;
  hostileMessage: string;
  limit: string;
  counters?: Record<string, number>;
  aloneMs: number;
  besideMs: number;
  ratio: number;
  workerRssMaxMiB: number;
  eventLoopDelayMaxMs: number;
  aloneWorkerRssMaxMiB: number;
  aloneEventLoopDelayMaxMs: number;
  floodMarkers?: string[];
  redisUsedBefore: number;
  redisUsedAfter: number;
  hostileStreamBytes: number;
  spinnerCpuSeconds?: number;
  spinnerWallSeconds?: number;
}

/** Scrapes the worker's /metrics: RSS and the event loop's max delay since the last scrape (prom-client resets it per scrape). */
class WorkerSampler {
  rssMax = 0;
  lagMax = 0;
  private timer?: NodeJS.Timeout;
  constructor(private readonly url: string) {}
  async sample(): Promise<void> {
    const text = await fetch(this.url).then(
      (r) => r.text(),
      () => '',
    );
    const value = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
    this.rssMax = Math.max(this.rssMax, value('process_resident_memory_bytes'));
    this.lagMax = Math.max(this.lagMax, value('nodejs_eventloop_lag_max_seconds'));
  }
  start(): void {
    this.rssMax = 0;
    this.lagMax = 0;
    void this.sample().then(() => {
      this.rssMax = 0;
      this.lagMax = 0; // the first scrape covers the time before the scenario
    });
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.sample(), 500);
  }
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sample();
  }
  /** For afterEach: a test that failed mid-scenario must not leave the interval keeping Jest alive. */
  halt(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

describe('reliability: hostile load — a runaway task cannot starve or kill the others', () => {
  let s: ReliabilityScene;
  let worker: ServiceProcess;
  let sampler: WorkerSampler;
  let mechanism = '';
  let nextTask = 9100;
  const results: Figures[] = [];

  const redisUsed = async () => Number(/used_memory:(\d+)/.exec(await s.redis.info('memory'))?.[1] ?? 0);
  const streamBytes = async (taskId: number) =>
    Number((await s.redis.call('MEMORY', 'USAGE', new RedisKeys(s.env.REDIS_PREFIX).events(taskId, 1), 'SAMPLES', '0')) ?? 0);

  const normalScript = (taskId: number) =>
    s.router.script(
      taskId,
      turn([exec(NORMAL_CMD, { callId: `normal-${taskId}` })]),
      turn([message('Normal done.', { phase: 'final_answer' })]),
    );

  /** The normal task: COMPLETED, its command's output (a hand-computed sum) in its steps and its file. */
  async function expectNormalCorrect(taskId: number, terminal: Callback): Promise<void> {
    expect(terminal).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: 'Normal done.' });
    expect((await readFile(join(s.taskDir(taskId), 'sum.txt'), 'utf8')).trim()).toBe(NORMAL_SUM);
    expect(JSON.stringify(terminal.result?.thinking ?? [])).toContain(NORMAL_SUM);
    await s.expectCompleteDelivery(taskId, 1);
  }

  async function runNormal(): Promise<{ taskId: number; ms: number }> {
    const taskId = nextTask++;
    normalScript(taskId);
    const started = Date.now();
    await s.execute(taskId, 1, 'Sum the lines.');
    const terminal = await s.waitTerminal(taskId, 1, 120_000);
    const ms = Date.now() - started;
    await expectNormalCorrect(taskId, terminal);
    return { taskId, ms };
  }

  /** The run's counters as the worker logged them when it closed the run. */
  const usageOf = (taskId: number) => worker.lines.find((l) => l.msg === 'run limits: usage' && l.task_id === taskId);

  /**
   * One scenario: the normal task alone, then the hostile one and — once its command runs — the
   * normal one beside it. Returns the hostile task's terminal callback.
   */
  async function scenario(
    name: string,
    hostile: (taskId: number) => void,
    commandStarted: string,
  ): Promise<{ terminal: Callback; taskId: number; figures: Figures }> {
    // The same figures for the normal task alone: the baseline of this machine at this moment.
    sampler.start();
    const alone = await runNormal();
    await sampler.stop();
    const aloneRss = sampler.rssMax;
    const aloneLag = sampler.lagMax;
    const redisBefore = await redisUsed();
    const taskId = nextTask++;
    hostile(taskId);
    sampler.start();
    await s.execute(taskId, 1, `Run the ${name}.`);
    // Its command is running once Codex reported it (the exec item started). A fork bomb can reach its
    // limit before Codex (in the same cgroup) manages to report the command: its run ends first.
    await s.em.waitFor(
      () => JSON.stringify(s.callbacksOf(taskId, 1)).includes(commandStarted) || s.callbacksOf(taskId, 1).some((c) => c.progress === 100),
      60_000,
      `${name} command started (or its run ended)`,
    );
    await sleep(LOAD_BUILDS_UP_MS);
    const beside = nextTask++;
    normalScript(beside);
    const started = Date.now();
    await s.execute(beside, 1, 'Sum the lines.');
    const normalTerminal = await s.waitTerminal(beside, 1, 180_000);
    const besideMs = Date.now() - started;
    await expectNormalCorrect(beside, normalTerminal);
    const terminal = await s.waitTerminal(taskId, 1, 180_000);
    await sampler.stop();
    await s.expectCompleteDelivery(taskId, 1);
    const usage = await eventually(() => usageOf(taskId), `the usage line of run ${taskId}`, 10_000);
    const figures: Figures = {
      scenario: name,
      hostileStatus: String(terminal.status),
      hostileMessage: String(terminal.error_message ?? ''),
      limit: String(
        usage.limit ?? (Number((usage.counters as Record<string, number> | undefined)?.cpuThrottled) > 0 ? 'cpu (throttled)' : 'none'),
      ),
      counters: usage.counters as Record<string, number> | undefined,
      aloneMs: alone.ms,
      besideMs,
      ratio: Number((besideMs / alone.ms).toFixed(2)),
      workerRssMaxMiB: Math.round(sampler.rssMax / 1024 / 1024),
      eventLoopDelayMaxMs: Math.round(sampler.lagMax * 1000),
      aloneWorkerRssMaxMiB: Math.round(aloneRss / 1024 / 1024),
      aloneEventLoopDelayMaxMs: Math.round(aloneLag * 1000),
      redisUsedBefore: redisBefore,
      redisUsedAfter: await redisUsed(),
      hostileStreamBytes: await streamBytes(taskId),
    };
    results.push(figures);
    // The whole tree is gone: nothing of the run is left under its folder, and its cgroup is removed.
    expect(await processesUnder(s.taskDir(taskId))).toEqual([]);
    // Removed at once, or (a process killed at the memory limit still leaving) within seconds.
    await eventually(async () => (await runCgroupsOf(worker.pid)).length === 0, 'the run cgroups to be removed', 10_000);
    expect(await runCgroupsOf(worker.pid)).toEqual([]);
    // The workspace is kept for a follow-up.
    expect(existsSync(s.taskDir(taskId))).toBe(true);
    return { terminal, taskId, figures };
  }

  beforeAll(async () => {
    s = await ReliabilityScene.create('hostile', { env: { ...LIMITS, MAX_RUN_MS: '120000' } });
    await s.start(['api', 'relay']);
    const metricsPort = await freePort();
    worker = await s.start(['worker'], { WORKER_CONCURRENCY: '2', METRICS_PORT: String(metricsPort) }, 'worker');
    sampler = new WorkerSampler(`http://127.0.0.1:${metricsPort}/metrics`);
    const boot = await eventually(
      () => worker.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('per-run limits')),
      'the worker to log its per-run limits',
      20_000,
    );
    mechanism = String(boot.mechanism);
  }, 120_000);

  afterEach(() => sampler?.halt());

  afterAll(async () => {
    if (results.length) {
      const out = resolve(__dirname, '../../.data/hostile-load.json');
      await mkdir(resolve(out, '..'), { recursive: true });
      await writeFile(out, JSON.stringify({ mechanism, floodBytes: FLOOD_BYTES, results }, null, 2));
      console.log(`hostile load (${mechanism}, flood ${FLOOD_BYTES} bytes)\n${JSON.stringify(results, null, 1)}`);
    }
    await s?.close();
  }, 60_000);

  it('boots with a cgroup per run on this machine, and the limits are in force for a run', async () => {
    // /readyz shows the mechanism; here (root, cgroup v1 or a delegated v2) it must be a cgroup.
    const ready = await fetch(`${s.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(mechanism).toMatch(/^cgroup-v[12]$/);
    // The worker lowered its own OOM score where it may (CAP_SYS_RESOURCE, bit 24); its runs raise theirs to 1000.
    const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(await readFile(`/proc/${worker.pid}/status`, 'utf8'))![1]}`);
    const mayLower = (capEff >> 24n) & 1n;
    expect((await readFile(`/proc/${worker.pid}/oom_score_adj`, 'utf8')).trim()).toBe(mayLower ? '-500' : '0');
    // A probe run reads its own rlimits from inside the sandbox; its cgroup is read from outside.
    const taskId = nextTask++;
    s.router.script(
      taskId,
      turn([
        exec('echo "nofile=$(ulimit -n) fsize=$(ulimit -f) oom=$(cat /proc/self/oom_score_adj)"; sleep 4; echo probe-end', {
          callId: 'probe',
          yieldTimeMs: 20_000,
        }),
      ]),
      turn([message('Probed.', { phase: 'final_answer' })]),
    );
    await s.execute(taskId, 1, 'Probe.');
    await s.em.waitFor(() => JSON.stringify(s.callbacksOf(taskId, 1)).includes('probe-end'), 60_000, 'probe command started');
    const procsOf = async (dir: string) => (await readFile(join(dir, 'cgroup.procs'), 'utf8')).trim().split('\n').length;
    const dir = await eventually(
      async () => {
        const [run] = await runCgroupsOf(worker.pid);
        return run && (await procsOf(run)) >= 3 ? run : undefined;
      },
      'the probe run in its cgroup with its processes',
      10_000,
    );
    expect((await readFile(join(dir, 'pids.max'), 'utf8')).trim()).toBe('64');
    expect((await readFile(join(dir, 'cgroup.procs'), 'utf8')).trim().split('\n').length).toBeGreaterThanOrEqual(3); // sh→bwrap, codex, bash, sleep
    const [memory] = await runCgroupsOf(worker.pid, 'memory');
    expect((await readFile(join(memory!, 'memory.limit_in_bytes'), 'utf8')).trim()).toBe('268435456');
    const [cpu] = await runCgroupsOf(worker.pid, 'cpu');
    expect((await readFile(join(cpu!, 'cpu.cfs_quota_us'), 'utf8')).trim()).toBe('50000');
    expect(await s.waitTerminal(taskId, 1, 60_000)).toMatchObject({ status: 'COMPLETED' });
    const text = JSON.stringify((await s.eventLog(taskId, 1)).map((e) => e.event));
    // 64 MiB in bash's 1024-byte blocks (Codex runs commands with bash -lc).
    expect(text).toContain('nofile=256 fsize=65536 oom=1000');
  }, 120_000);

  it('fork bomb: stopped at the process limit, the normal task completes', async () => {
    expect(mechanism).toMatch(/^cgroup-v[12]$/); // never without its limit
    const { terminal } = await scenario(
      'fork bomb',
      (taskId) =>
        s.router.script(
          taskId,
          turn([exec("timeout -s KILL 40 sh -c 'b() { b | b & }; b'; sleep 30", { callId: 'bomb', yieldTimeMs: 30_000 })]),
          turn([message('Bomb done.', { phase: 'final_answer' })]),
        ),
      'timeout -s KILL 40',
    );
    expect(terminal).toMatchObject({
      status: 'FAILED',
      progress: 100,
      error_message: 'the task tried to run more than 64 processes at once; the run was stopped',
    });
  }, 600_000);

  it('memory balloon: stopped at the memory limit, the normal task completes', async () => {
    expect(mechanism).toMatch(/^cgroup-v[12]$/); // never without its limit
    const { terminal } = await scenario(
      'memory balloon',
      (taskId) =>
        s.router.script(
          taskId,
          turn([
            exec(`timeout -s KILL 40 python3 -c 'b=[]\nwhile True: b.append(bytearray(8<<20))'; sleep 30`, {
              callId: 'balloon',
              yieldTimeMs: 30_000,
            }),
          ]),
          turn([message('Balloon done.', { phase: 'final_answer' })]),
        ),
      'timeout -s KILL 40 python3',
    );
    expect(terminal).toMatchObject({
      status: 'FAILED',
      progress: 100,
      error_message: 'the task used more than 256 MiB of memory (a process was killed); the run was stopped',
    });
  }, 600_000);

  it('disk filler: stopped at the folder limit, the files are kept for a follow-up', async () => {
    const { terminal, taskId } = await scenario(
      'disk filler',
      (taskId) =>
        s.router.script(
          taskId,
          // 20 files of 8 MiB: no single file reaches RLIMIT_FSIZE; the folder's size does.
          turn([
            exec('for i in $(seq 1 20); do head -c 8388608 /dev/zero > fill-$i || break; sleep 0.3; done; sleep 30', {
              callId: 'filler',
              yieldTimeMs: 30_000,
            }),
          ]),
          turn([message('Filled.', { phase: 'final_answer' })]),
        ),
      'fill-$i',
    );
    expect(terminal).toMatchObject({ status: 'FAILED', progress: 100 });
    expect(terminal.error_message).toMatch(
      /^the task folder grew to \d+(\.\d+)? MiB, reaching its limit of 64 MiB; the run was stopped \(the folder is kept for a follow-up\)$/,
    );
    const files = (await readdir(s.taskDir(taskId))).filter((f) => f.startsWith('fill-'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    expect(files.length).toBeLessThan(20);
    expect((await stat(join(s.taskDir(taskId), 'fill-1'))).size).toBe(8388608);
  }, 600_000);

  it('CPU spinner: held to its CPU share, the normal task completes', async () => {
    const { terminal, taskId, figures } = await scenario(
      'CPU spinner',
      (taskId) =>
        s.router.script(
          taskId,
          // Two spinners (as many as this machine has cores) for 12 s; bash's `time` reports the CPU they got.
          turn([
            exec(
              "TIMEFORMAT='cpu %U %S wall %R'; time ( timeout 12 sh -c 'while :; do :; done' & timeout 12 sh -c 'while :; do :; done'; wait ); echo spun",
              { callId: 'spinner', yieldTimeMs: 30_000 },
            ),
          ]),
          turn([message('Spun.', { phase: 'final_answer' })]),
        ),
      'while :; do :; done',
    );
    // Not stopped: slowed. Two spinners for 12 s got at most the run's half core (plus slack for
    // accounting), where an unlimited pair would take up to 24 CPU seconds.
    expect(terminal).toMatchObject({ status: 'COMPLETED', error_message: 'Spun.' });
    const [, user, sys, wall] = /cpu (\d+\.\d+) (\d+\.\d+) wall (\d+\.\d+)/
      .exec(JSON.stringify((await s.eventLog(taskId, 1)).map((e) => e.event)))!
      .map(Number);
    figures.spinnerCpuSeconds = Number((user! + sys!).toFixed(2));
    figures.spinnerWallSeconds = wall!;
    expect(user! + sys!).toBeLessThan(0.5 * wall! * 1.2 + 0.5);
  }, 600_000);

  it(`output flood (${FLOOD_BYTES} bytes, then five 100 kB outputs): events bounded per text and per subtask`, async () => {
    const { terminal, taskId, figures } = await scenario(
      'output flood',
      (taskId) =>
        s.router.script(
          taskId,
          turn([exec(`head -c ${FLOOD_BYTES} /dev/zero | tr '\\0' x; echo`, { callId: 'flood', yieldTimeMs: 30_000 })]),
          ...[1, 2, 3, 4, 5].map((i) => turn([exec(`yes ${i}${i}${i}${i}${i}${i}${i} | head -c 100000`, { callId: `more-${i}` })])),
          turn([message('Flooded.', { phase: 'final_answer' })]),
        ),
      'head -c',
    );
    expect(terminal).toMatchObject({ status: 'COMPLETED', error_message: 'Flooded.' });
    const events = JSON.stringify((await s.eventLog(taskId, 1)).map((e) => e.event));
    // Per text: the flood's output is cut with a marker; per subtask: later outputs become the marker.
    expect(events).toMatch(/more bytes not shown/);
    figures.floodMarkers = [...new Set([...events.matchAll(/\[\d+ (more )?bytes not shown[^\]]*\]/g)].map((m) => m[0]))];
    // The flood's output keeps the mapper's one marker: the worker's backstop does not cut it again.
    expect(events).not.toContain('one text is limited to');
    expect(events).toContain("this subtask's output limit of 256 KiB is");
    // The whole log stays well under twice the budget, however large the flood.
    expect(Buffer.byteLength(events)).toBeLessThan(512 * 1024);
    expect(figures.hostileStreamBytes).toBeLessThan(1024 * 1024);
  }, 900_000);
});

/** Run cgroups of a worker still present (cgroup v1: the worker is in the test process's cgroups). */
async function runCgroupsOf(pid: number, controller = 'pids', kind: 'run' | 'warm' = 'run'): Promise<string[]> {
  const own = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => readFile('/proc/self/cgroup', 'utf8'));
  const path = new RegExp(`^\\d+:[^:]*\\b${controller}\\b[^:]*:(.*)$`, 'm').exec(own)?.[1];
  if (path === undefined) return [];
  const dir = join('/sys/fs/cgroup', controller, path, 'wegent-codex');
  return (await readdir(dir).catch((): string[] => [])).filter((name) => name.startsWith(`${kind}-${pid}-`)).map((name) => join(dir, name));
}

/**
 * The fallback where no cgroup may be made (most unprivileged containers): rlimits, the folder
 * check and the output budget still hold; /readyz says so.
 */
describe('reliability: hostile load under RUN_LIMITS=rlimit (no cgroup)', () => {
  let s: ReliabilityScene;
  let worker: ServiceProcess;

  beforeAll(async () => {
    s = await ReliabilityScene.create('hostile-rlimit', { env: { ...LIMITS, RUN_LIMITS: 'rlimit' } });
    worker = await s.start(['worker', 'api', 'relay'], { WORKER_CONCURRENCY: '2' }, 'all');
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 60_000);

  it('reports rlimit in /readyz and at boot, and names what is not enforced', async () => {
    const ready = (await (await fetch(`${s.baseUrl}/readyz`)).json()) as Record<string, unknown>;
    expect(ready).toMatchObject({ status: 'ok', limits: 'rlimit' });
    const boot = worker.lines.find(
      (l) => l.msg === 'per-run limits: rlimits only (no cgroup): memory and CPU are not limited per run; see docs/en/security.md',
    );
    // RLIMIT_NPROC binds every user but root.
    expect(boot?.enforced).toEqual({ memory: false, pids: process.getuid!() !== 0, cpu: false, disk: true, openFiles: true });
  });

  it('a run gets its rlimits and a lower priority; a disk filler is stopped at the folder limit', async () => {
    const probe = 9301;
    s.router.script(
      probe,
      turn([
        exec('echo "nofile=$(ulimit -n) fsize=$(ulimit -f) nproc=$(ulimit -u) nice=$(nice) oom=$(cat /proc/self/oom_score_adj)"', {
          callId: 'probe',
        }),
      ]),
      turn([message('Probed.', { phase: 'final_answer' })]),
    );
    await s.execute(probe, 1, 'Probe.');
    expect(await s.waitTerminal(probe, 1, 60_000)).toMatchObject({ status: 'COMPLETED' });
    // RLIMIT_NPROC for the whole user: 64 per run × 2 runs + 256 for the worker.
    expect(JSON.stringify((await s.eventLog(probe, 1)).map((e) => e.event))).toContain('nofile=256 fsize=65536 nproc=384 nice=10 oom=1000');

    const filler = 9302;
    s.router.script(
      filler,
      turn([
        exec('for i in $(seq 1 20); do head -c 8388608 /dev/zero > fill-$i || break; sleep 0.3; done; sleep 30', {
          callId: 'filler',
          yieldTimeMs: 30_000,
        }),
      ]),
      turn([message('Filled.', { phase: 'final_answer' })]),
    );
    await s.execute(filler, 1, 'Fill.');
    const terminal = await s.waitTerminal(filler, 1, 120_000);
    expect(terminal).toMatchObject({ status: 'FAILED', progress: 100 });
    expect(terminal.error_message).toMatch(
      /^the task folder grew to \d+(\.\d+)? MiB, reaching its limit of 64 MiB; the run was stopped \(the folder is kept for a follow-up\)$/,
    );
    await s.expectCompleteDelivery(filler, 1);
    expect(await processesUnder(s.taskDir(filler))).toEqual([]);
  }, 240_000);
});

/**
 * A warm Codex process (CODEX_WARM_POOL) starts before its task is known, in a cgroup of its own
 * that already has a run's limits; bound to a run, that cgroup is the run's before the task's
 * first command.
 */
describe('reliability: hostile load on a warm Codex process (CODEX_WARM_POOL=1)', () => {
  let s: ReliabilityScene;
  let worker: ServiceProcess;

  beforeAll(async () => {
    s = await ReliabilityScene.create('hostile-warm', { env: { ...LIMITS } });
    worker = await s.start(['worker', 'api', 'relay'], { WORKER_CONCURRENCY: '1', CODEX_WARM_POOL: '1' }, 'all');
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  }, 60_000);

  /** The warm process is ready before the task comes. */
  const warmReady = async () => {
    for (const slot of await readdir(join(s.workspaceRoot, '.warm')).catch((): string[] => []))
      if (existsSync(join(s.workspaceRoot, '.warm', slot, 'ready'))) return true;
    return false;
  };

  it("a warm process's commands run under the run's rlimits, OOM score and cgroup, like a cold run's", async () => {
    await eventually(warmReady, 'a warm Codex process to be ready', 60_000);
    const taskId = 9400;
    s.router.script(
      taskId,
      turn([
        exec(
          'echo "nofile=$(ulimit -n) fsize=$(ulimit -f) oom=$(cat /proc/self/oom_score_adj) below=$(grep -c -v ":/$" /proc/self/cgroup)"; sleep 3; echo probe-end',
          { callId: 'probe', yieldTimeMs: 20_000 },
        ),
      ]),
      turn([message('Probed.', { phase: 'final_answer' })]),
    );
    await s.execute(taskId, 1, 'Probe.');
    // From outside, while the command sleeps: it is in the warm process's cgroup, which now weighs as a run's.
    const inside = await eventually(
      async () => {
        for (const dir of await runCgroupsOf(worker.pid, 'pids', 'warm')) {
          const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
          if (pids.some((pid) => readCmdline(Number(pid)).startsWith('sleep 3'))) return dir.split('/').pop();
        }
        return undefined;
      },
      'the probe command in a warm cgroup',
      30_000,
    );
    const [cpu] = (await runCgroupsOf(worker.pid, 'cpu', 'warm')).filter((dir) => dir.endsWith(`/${inside}`));
    expect((await readFile(join(cpu!, 'cpu.shares'), 'utf8')).trim()).toBe('1024');
    expect((await readFile(join(cpu!, 'cpu.cfs_quota_us'), 'utf8')).trim()).toBe('50000');
    expect(await s.waitTerminal(taskId, 1, 60_000)).toMatchObject({ status: 'COMPLETED' });
    expect(worker.lines.find((l) => l.msg === 'Codex process for this run' && l.task_id === taskId)?.warm).toBe(true);
    const text = JSON.stringify((await s.eventLog(taskId, 1)).map((e) => e.event));
    // The same limits as the cold probe above (64 MiB in bash's 1024-byte blocks). Like a cold
    // run's, its cgroup is the root of its cgroup namespace: no path of the host's tree is visible.
    expect(text).toContain('nofile=256 fsize=65536 oom=1000 below=0');
    // Its run over, the cgroup is removed with whatever was left in it.
    await eventually(
      async () => !(await runCgroupsOf(worker.pid, 'pids', 'warm')).some((d) => d.endsWith(`/${inside}`)) || undefined,
      'the run cgroup removed',
      20_000,
    );
  }, 120_000);

  it("an idle warm process waits in a cgroup of its own with a run's limits, at the least CPU weight", async () => {
    await eventually(warmReady, 'a warm Codex process to be ready', 60_000);
    // The run of the test before has ended (its cgroup, with whatever was left in it, removed).
    await eventually(async () => (await runCgroupsOf(worker.pid)).length === 0 || undefined, "the earlier run's cgroup removed", 30_000);
    const idle = listDescendants(worker.pid).filter((p) => /codex.* app-server/.test(readCmdline(p.pid)));
    expect(idle.length).toBeGreaterThan(0);
    const own = new RegExp(`/wegent-codex/warm-${worker.pid}-\\d+$`);
    for (const { pid } of idle) {
      const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
      expect(lines.filter((l) => l.includes('/wegent-codex/run-'))).toEqual([]);
      // hierarchy:controllers:path — v2: one line, no controllers; v1: a line per hierarchy.
      const line = (controller: string) =>
        lines.filter((l) => own.test(l)).find((l) => l.split(':')[1] === '' || l.split(':')[1]!.split(',').includes(controller));
      const dir = (controller: string) => {
        const [, controllers, path] = line(controller)?.split(':') ?? [];
        expect(path).toMatch(own);
        return controllers === '' ? join('/sys/fs/cgroup', path!) : join('/sys/fs/cgroup', controller, path!);
      };
      const v2 = line('cpu')?.split(':')[1] === '';
      const [file, least] = v2 ? ['cpu.weight', '1'] : ['cpu.shares', '2'];
      expect((await readFile(join(dir('cpu'), file), 'utf8')).trim()).toBe(least);
      // A run's limits already: the process count (and memory) it will have once bound.
      expect((await readFile(join(dir('pids'), 'pids.max'), 'utf8')).trim()).toBe('64');
      expect((await readFile(join(dir('memory'), v2 ? 'memory.max' : 'memory.limit_in_bytes'), 'utf8')).trim()).toBe('268435456');
    }
  }, 120_000);

  it('a fork bomb on a warm process is stopped at the run limit, like a cold one', async () => {
    const ready = (await (await fetch(`${s.baseUrl}/readyz`)).json()) as Record<string, unknown>;
    expect(ready.limits).toMatch(/^cgroup-v[12]$/); // never without its limit
    await eventually(warmReady, 'a warm Codex process to be ready', 60_000);
    const taskId = 9401;
    s.router.script(
      taskId,
      turn([exec("timeout -s KILL 40 sh -c 'b() { b | b & }; b'; sleep 30", { callId: 'bomb', yieldTimeMs: 30_000 })]),
      turn([message('Bomb done.', { phase: 'final_answer' })]),
    );
    await s.execute(taskId, 1, 'Run the bomb.');
    const terminal = await s.waitTerminal(taskId, 1, 120_000);
    const line = worker.lines.find((l) => l.msg === 'Codex process for this run' && l.task_id === taskId);
    expect(line?.warm).toBe(true);
    expect(terminal).toMatchObject({
      status: 'FAILED',
      progress: 100,
      error_message: 'the task tried to run more than 64 processes at once; the run was stopped',
    });
    expect(await processesUnder(s.taskDir(taskId))).toEqual([]);
    expect(await runCgroupsOf(worker.pid)).toEqual([]);
  }, 240_000);
});
