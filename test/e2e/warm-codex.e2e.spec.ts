import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readCmdline } from '@wegent-codex/codex';
import { exec, message, turn } from '../fixtures/fake-responses';
import {
  blocksOf,
  expectSingleTerminalLast,
  startServiceApp,
  stepsOf,
  taskMarker,
  taskPayload,
  type ServiceApp,
} from '../support/service-app';
import { eventually } from '../support/test-config';

/**
 * Warm Codex (CODEX_WARM_POOL, issue 12): a new thread takes a ready `codex app-server` that was
 * started before its task was known; its task's folders are moved into the process's sandbox view
 * for the run and back after; the follow-up resumes that thread in a cold process. The rest of
 * the e2e suite runs both ways (`npm run test:e2e` and `npm run test:e2e:warm`).
 */
const KEY_A = 'sk-warm-A-SECRET-0a1b2c3d4e5f';
const KEY_B = 'sk-warm-B-SECRET-9z8y7x6w5v4u';

type Line = { msg?: string; task_id?: number; warm?: boolean; cold_reason?: string };

describe('e2e: warm Codex processes', () => {
  let h: ServiceApp;
  const runLog = (taskId: number): Line[] =>
    h.logs.map((l) => JSON.parse(l) as Line).filter((l) => l.msg === 'Codex process for this run' && l.task_id === taskId);
  // Slots whose process is initialized and waiting (the pool marks them).
  const slots = async () => {
    const names = await readdir(join(h.workspaceRoot, '.warm')).catch(() => [] as string[]);
    const ready = await Promise.all(
      names.map((n) =>
        lstat(join(h.workspaceRoot, '.warm', n, 'ready')).then(
          () => n,
          () => '',
        ),
      ),
    );
    return ready.filter(Boolean).sort();
  };
  // Slots with a live sandbox (bwrap, whose command line names the slot it binds) running app-server.
  const appServers = async () => {
    const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
    const marker = `${h.workspaceRoot}/.warm/`;
    const lines = pids.map(readCmdline).filter((line) => line.includes(marker) && / app-server$/.test(line));
    return [...new Set(lines.map((line) => line.slice(line.indexOf(marker) + marker.length).split('/')[0]))];
  };

  beforeAll(async () => {
    h = await startServiceApp('warm', { env: { CODEX_WARM_POOL: '1', CODEX_STREAM_IDLE_TIMEOUT_MS: '10000' } });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  }, 60_000);

  it("runs a new thread in a ready process: the task's model, key, headers, instructions and environment; files in place; the process is then discarded", async () => {
    // One warm process is ready before any task exists; it holds no task's anything.
    const before = await eventually(async () => ((await slots()).length === 1 ? slots() : undefined), 30_000);
    expect(await appServers()).toEqual(before);
    const idleSlot = before[0];

    const taskId = 9101;
    const show = 'printf "%s|%s|%s" "$GIT_REPO" "${WEGENT_CODEX_API_KEY:-hidden}" "$(basename "$HOME")" > warm.txt && cat warm.txt';
    h.router.script(taskId, turn([exec(show, { callId: 'call_warm' })]), turn([message('Warm done.', { phase: 'final_answer' })]));
    const payload = taskPayload(h, taskId, 1, 'Show the environment.', {
      apiKey: KEY_A,
      modelId: 'wegent-warm-model',
      git_repo: 'alice/warm',
      bot: {
        system_prompt: 'Warm instructions.',
        agent_config: {
          env: {
            model: 'openai',
            model_id: 'wegent-warm-model',
            api_key: KEY_A,
            base_url: h.fake.baseUrl,
            custom_headers: { 'X-Team': 'warm', 'X-Gateway-Token': 'hdr-SECRET-warm-1234' },
          },
        },
      },
    });
    expect((await h.execute(payload)).status).toBe(200);
    const terminal = await h.waitTerminal(taskId, 1);
    expect(terminal).toMatchObject({ status: 'COMPLETED', error_message: 'Warm done.' });
    await expectSingleTerminalLast(h, taskId, 1);
    expect(runLog(taskId)).toEqual([expect.objectContaining({ warm: true })]);

    // The model saw this task's settings, through the process started before the task was known.
    const request = h.router.requestsOf(taskId)[0];
    expect(request.headers).toMatchObject({
      authorization: `Bearer ${KEY_A}`,
      'x-team': 'warm',
      'x-gateway-token': 'hdr-SECRET-warm-1234',
    });
    expect(request.body.model).toBe('wegent-warm-model');
    const developer = (request.body.input as any[])
      .filter((i) => i.type === 'message' && i.role === 'developer')
      .flatMap((i) => i.content.map((c: any) => c.text));
    expect(developer).toContain('Warm instructions.');
    // The command ran in the task's folder with the task's environment; the key hidden; HOME the task's.
    const result = blocksOf(stepsOf(terminal)).find((b) => b.type === 'tool_result' && b.tool_use_id === 'call_warm');
    expect(result).toMatchObject({ content: 'alice/warm|hidden|home', is_error: false });

    // Back in place (not a symlink into the slot), with the thread's rollout in the task's own CODEX_HOME.
    const taskDir = join(h.workspaceRoot, String(taskId));
    await eventually(async () => !(await lstat(taskDir)).isSymbolicLink() || undefined, 20_000);
    expect(await readFile(join(taskDir, 'warm.txt'), 'utf8')).toBe('alice/warm|hidden|home');
    const stateDir = join(h.workspaceRoot, '.task-state', String(taskId));
    expect((await lstat(stateDir)).isSymbolicLink()).toBe(false);
    const sessions = await readdir(join(stateDir, 'codex-home', 'sessions'), { recursive: true });
    expect(sessions.some((f) => String(f).endsWith('.jsonl'))).toBe(true);
    // The used process is gone and a fresh slot replaced it (never handed to another task).
    await eventually(async () => {
      const now = await slots();
      return now.length === 1 && now[0] !== before[0] ? now : undefined;
    }, 30_000);
    expect(await appServers()).not.toContain(idleSlot);
    expect(h.logs.join('')).not.toContain(KEY_A);
  }, 120_000);

  it("starts the slot's replacement only once the run's model has answered, never on the run's way to its first model request", async () => {
    // The pool full and quiet: every slot folder holds a ready process (none is starting).
    const pool = h.config.CODEX_WARM_POOL;
    const allSlots = () => readdir(join(h.workspaceRoot, '.warm')).catch(() => [] as string[]);
    const before = await eventually(async () => {
      const [all, ready] = [await allSlots(), await slots()];
      return ready.length === pool && all.length === pool ? all : undefined;
    }, 30_000);
    const taskId = 9104;
    let askedAt = 0;
    h.router.script(taskId, () => {
      askedAt = Date.now();
      return turn([message('Replaced later.', { phase: 'final_answer' })]);
    });
    expect((await h.execute(taskPayload(h, taskId, 1, 'Hello.', { apiKey: KEY_B }))).status).toBe(200);
    expect(await h.waitTerminal(taskId, 1)).toMatchObject({ status: 'COMPLETED' });
    expect(runLog(taskId)).toEqual([expect.objectContaining({ warm: true })]);
    // One slot was taken; the one folder that is new is its replacement.
    const [replacement] = await eventually(async () => {
      const fresh = (await slots()).filter((name) => !before.includes(name));
      return (await slots()).length === pool && fresh.length === 1 ? fresh : undefined;
    }, 30_000);
    // The replacement's folder is made when its start-up begins: once the model has answered the
    // run (its first request came before), never while the run starts its thread and turn.
    const born = (await stat(join(h.workspaceRoot, '.warm', replacement!))).birthtimeMs;
    expect(born).toBeGreaterThan(0);
    expect(askedAt).toBeGreaterThan(0);
    expect(born).toBeGreaterThanOrEqual(askedAt);
  }, 120_000);

  it('never moves back what the agent put in place of its folder (a symlink to another task)', async () => {
    const taskId = 9103;
    const victim = join(h.workspaceRoot, '9101');
    await eventually(async () => ((await slots()).length === 1 ? true : undefined), 30_000);
    // Inside its sandbox the folder is not a mount point: the agent can swap it for a symlink whose
    // target only the host would resolve.
    const swap = `cd .. && mv ${taskId} ${taskId}-gone && ln -s ${victim} ${taskId} && echo swapped`;
    h.router.script(taskId, turn([exec(swap, { callId: 'call_swap' })]), turn([message('Swapped.', { phase: 'final_answer' })]));
    expect((await h.execute(taskPayload(h, taskId, 1, 'Swap the folder.', { apiKey: KEY_B }))).status).toBe(200);
    const terminal = await h.waitTerminal(taskId, 1);
    expect(runLog(taskId)).toEqual([expect.objectContaining({ warm: true })]);
    expect(blocksOf(stepsOf(terminal)).find((b) => b.type === 'tool_result' && b.tool_use_id === 'call_swap')).toMatchObject({
      content: expect.stringContaining('swapped'),
    });
    // After the run the host path is neither the agent's symlink nor the slot's stand-in.
    const taskDir = join(h.workspaceRoot, String(taskId));
    await eventually(async () => ((await lstat(taskDir).catch(() => null))?.isSymbolicLink() ? undefined : true), 30_000);
    expect((await lstat(taskDir).catch(() => null))?.isSymbolicLink() ?? false).toBe(false);
    expect(await readFile(join(victim, 'warm.txt'), 'utf8')).toBe('alice/warm|hidden|home');
  }, 120_000);

  it('resumes that thread cold for the follow-up, and gives the next tenant another process', async () => {
    const taskId = 9101;
    h.router.script(taskId, turn([message('Follow-up answered.', { phase: 'final_answer' })]));
    expect((await h.execute(taskPayload(h, taskId, 2, 'And again?', { apiKey: KEY_A, modelId: 'wegent-warm-model' }))).status).toBe(200);
    expect(await h.waitTerminal(taskId, 2)).toMatchObject({ status: 'COMPLETED', error_message: 'Follow-up answered.' });
    expect(runLog(taskId)[1]).toMatchObject({ warm: false, cold_reason: 'resume' });
    // The resumed request carries the first subtask's conversation.
    const followUp = h.router.requestsOf(taskId).at(-1)!;
    expect(JSON.stringify(followUp.body.input)).toContain('Show the environment.');
    expect(JSON.stringify(followUp.body.input)).toContain('Warm done.');

    const other = 9102;
    const [idleSlot] = await eventually(async () => ((await slots()).length === 1 ? slots() : undefined), 30_000);
    h.router.script(other, turn([message('Other tenant.', { phase: 'final_answer' })]));
    expect((await h.execute(taskPayload(h, other, 1, 'Hello.', { apiKey: KEY_B }))).status).toBe(200);
    expect(await h.waitTerminal(other, 1)).toMatchObject({ status: 'COMPLETED', error_message: 'Other tenant.' });
    expect(runLog(other)).toEqual([expect.objectContaining({ warm: true })]);
    expect(h.router.requestsOf(other)[0].headers.authorization).toBe(`Bearer ${KEY_B}`);
    // Task B's run saw nothing of task A: its request has none of A's conversation.
    expect(JSON.stringify(h.router.requestsOf(other)[0].body.input)).not.toContain(taskMarker(taskId));
    // Its process ends with the run (after the terminal callback, which goes out first).
    await eventually(async () => !(await appServers()).includes(idleSlot) || undefined, 20_000);
  }, 120_000);

  it("waits in a cgroup of its own with a run's limits at the least CPU weight; bound, it is its run's cgroup, then removed", async () => {
    const { limits: mechanism } = (await (await fetch(`${h.baseUrl}/readyz`)).json()) as { limits: string };
    // This machine and CI run the worker as root with cgroups (test/reliability/hostile-load.e2e.spec.ts says so too).
    expect(mechanism).toMatch(/^cgroup-v[12]$/);
    const v1 = mechanism === 'cgroup-v1';
    const own = await readFile('/proc/self/cgroup', 'utf8');
    /** The worker's cgroup folder for a controller (v1) or the unified one (v2), where its run cgroups are made. */
    const base = (controller: string) => {
      const path = v1 ? new RegExp(`^\\d+:[^:]*\\b${controller}\\b[^:]*:(.*)$`, 'm').exec(own)?.[1] : /^0::(.*)$/m.exec(own)?.[1];
      return join('/sys/fs/cgroup', ...(v1 ? [controller] : []), path ?? '/', 'wegent-codex');
    };
    const [cpuFile, idleWeight, runWeight] = v1 ? ['cpu.shares', '2', '1024'] : ['cpu.weight', '1', '100'];
    const warmCgroups = async () =>
      (await readdir(base(v1 ? 'pids' : '')).catch((): string[] => [])).filter((n) => n.startsWith(`warm-${process.pid}-`)).sort();
    const members = async (name: string) =>
      (await readFile(join(base(v1 ? 'pids' : ''), name, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);

    // The ready slot's whole tree waits in its own cgroup: a run's process limit, the least CPU weight.
    await eventually(async () => ((await slots()).length === 1 ? true : undefined), 30_000);
    const [idle] = await eventually(async () => {
      const names = await warmCgroups();
      return names.length === 1 && (await members(names[0]!)).length >= 2 ? names : undefined;
    }, 30_000);
    expect(await readFile(join(base(v1 ? 'pids' : ''), idle!, 'pids.max'), 'utf8')).toBe(`${h.config.RUN_PIDS}\n`);
    expect(await readFile(join(base(v1 ? 'cpu' : ''), idle!, cpuFile), 'utf8')).toBe(`${idleWeight}\n`);

    // A task binds it: the same cgroup now weighs as a run's, and the task's command runs in it.
    const taskId = 9105;
    h.router.script(
      taskId,
      turn([exec('sleep 2 && echo slept', { callId: 'call_cg' })]),
      turn([message('Slept.', { phase: 'final_answer' })]),
    );
    expect((await h.execute(taskPayload(h, taskId, 1, 'Sleep.', { apiKey: KEY_A }))).status).toBe(200);
    await eventually(async () => {
      const pids = await members(idle!);
      const commands = await Promise.all(pids.map((pid) => readCmdline(pid)));
      return commands.some((c) => c.includes('sleep 2')) || undefined;
    }, 30_000);
    expect(await readFile(join(base(v1 ? 'cpu' : ''), idle!, cpuFile), 'utf8')).toBe(`${runWeight}\n`);
    expect(await h.waitTerminal(taskId, 1)).toMatchObject({ status: 'COMPLETED', error_message: 'Slept.' });
    expect(runLog(taskId)).toEqual([expect.objectContaining({ warm: true })]);
    // Its run over, the cgroup is gone; the replacement slot waits in a new one at the least weight.
    await eventually(async () => !existsSync(join(base(v1 ? 'pids' : ''), idle!)) || undefined, 20_000);
    const [next] = await eventually(async () => {
      const names = await warmCgroups();
      return names.length === 1 && names[0] !== idle ? names : undefined;
    }, 30_000);
    expect(await readFile(join(base(v1 ? 'cpu' : ''), next!, cpuFile), 'utf8')).toBe(`${idleWeight}\n`);
  }, 120_000);
});
