import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isAlive, listDescendants, listProcesses, readCmdline, readProcStat, signalPid } from '@wegent-codex/codex';
import type { Config } from '@wegent-codex/contracts';
import { memoryLogger } from '../../../test/support/memory-logger';
import { CodexProcessRegistry, readBootId, type CodexProcessRecord } from './codex-process-registry';
import { OrphanReaper, OTHER_HOST_RECORD_MAX_AGE_MS } from './orphan-reaper';
import { running, waitUntil } from '../../../test/support/processes';

/**
 * The registry and the reaper against real processes: a shell standing in for `codex app-server`,
 * with a command in a session of its own that has a child (what survives a killed app-server).
 */
const root = resolve(__dirname, '../../../.data/test-unit', `reaper-${randomInt(1e9)}`);
const marker = (): string => `302.${randomInt(1000, 9999)}`;

/** A fake app-server: sh → setsid sh → sleep (the grandchild in its own session). */
async function fakeAppServer() {
  const m = marker();
  const shell = spawn('/bin/sh', ['-c', `setsid sh -c 'sleep ${m}; true' & wait`], { stdio: 'ignore' });
  await waitUntil(() => running(`sleep ${m}`).length === 1);
  return { shell, pid: shell.pid!, sleep: `sleep ${m}`, sleepPid: running(`sleep ${m}`)[0] };
}

/** The pid and start time of a process that has exited: an owner known to be dead. */
function deadProcess(): { pid: number; startTime: number } {
  const stat = spawnSync('/bin/sh', ['-c', 'cat /proc/$$/stat'], { encoding: 'utf8' }).stdout;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pid: Number(stat.split(' ')[0]), startTime: Number(fields[19]) };
}

function record(
  registry: CodexProcessRegistry,
  owner: { pid: number; startTime: number },
  rootPid: number,
  overrides: Partial<CodexProcessRecord> = {},
): CodexProcessRecord {
  const rootInfo = readProcStat(rootPid)!;
  return {
    version: 1,
    host: registry.host,
    bootId: readBootId()!,
    owner,
    taskId: 1,
    subtaskId: 2,
    tree: {
      root: { pid: rootPid, startTime: rootInfo.startTime },
      members: listDescendants(rootPid).map(({ pid, startTime, sid }) => ({ pid, startTime, sid })),
    },
    updatedAt: new Date().toISOString(),
    ...overrides,
  };
}

async function writeRecord(registry: CodexProcessRegistry, name: string, value: CodexProcessRecord): Promise<string> {
  await mkdir(registry.dir, { recursive: true });
  const file = join(registry.dir, name);
  await writeFile(file, JSON.stringify(value));
  return file;
}

describe('orphan reaper', () => {
  const config = { WORKSPACE_ROOT: root } as Config;
  const registry = new CodexProcessRegistry(root);
  let reaper: OrphanReaper;

  beforeEach(async () => {
    await rm(root, { recursive: true, force: true });
    reaper = new OrphanReaper(config, memoryLogger().logger);
  });

  afterEach(() => {
    for (const p of listProcesses())
      if (/^sleep 302\.\d{4}$/.test(readCmdline(p.pid)) || /sleep 302\.\d{4}; true/.test(readCmdline(p.pid))) signalPid(p.pid, 'SIGKILL');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('records a tree while it grows and removes the record when released', async () => {
    const app = await fakeAppServer();
    const tracked = await registry.track(app.pid, { taskId: 5, subtaskId: 6 }, (e) => {
      throw e;
    });
    const { records } = await registry.list();
    expect(records).toHaveLength(1);
    expect(records[0].record).toMatchObject({ owner: { pid: process.pid }, taskId: 5, subtaskId: 6, tree: { root: { pid: app.pid } } });
    expect(records[0].record.tree.members.map((m) => m.pid)).toContain(app.sleepPid);
    await tracked.release(true);
    expect(await readdir(registry.dir)).toEqual([]);
    app.shell.kill('SIGKILL');
  });

  it('kills the whole tree of a dead owner, including the orphans of a root that is already gone', async () => {
    const app = await fakeAppServer();
    const file = await writeRecord(registry, 'codex-1.json', record(registry, deadProcess(), app.pid));
    app.shell.kill('SIGKILL'); // the root dies: the command's child is re-parented and survives
    await waitUntil(() => !isAlive(app.pid));
    expect(running(app.sleep)).toEqual([app.sleepPid]);

    const report = await reaper.reap();
    expect(report.reaped).toEqual([
      { taskId: 1, subtaskId: 2, ownerPid: expect.any(Number), killed: expect.arrayContaining([app.sleepPid]) },
    ]);
    expect(report.survivors).toEqual([]);
    expect(running(app.sleep)).toEqual([]);
    expect(await readdir(registry.dir)).not.toContain(file.split('/').pop());
  });

  it('leaves the trees of live owners alone, and treats a reused owner pid as dead', async () => {
    const live = await fakeAppServer();
    const reused = await fakeAppServer();
    const self = readProcStat(process.pid)!;
    await writeRecord(registry, 'codex-live.json', record(registry, { pid: process.pid, startTime: self.startTime }, live.pid));
    await writeRecord(registry, 'codex-reused.json', record(registry, { pid: process.pid, startTime: self.startTime + 1 }, reused.pid));

    const report = await reaper.reap();
    expect(report.live).toBe(1);
    expect(report.reaped.map((r) => r.killed)).toEqual([expect.arrayContaining([reused.pid, reused.sleepPid])]);
    expect(running(live.sleep)).toEqual([live.sleepPid]);
    expect(running(reused.sleep)).toEqual([]);
    expect(await readdir(registry.dir)).toEqual(['codex-live.json']);
    live.shell.kill('SIGKILL');
  });

  it('never kills a process that merely reuses a recorded pid, and discards records of another boot', async () => {
    const app = await fakeAppServer();
    const stale = record(registry, deadProcess(), app.pid);
    // Same pids, other start times: these are not the recorded processes.
    stale.tree.root.startTime = (stale.tree.root.startTime ?? 0) + 1;
    stale.tree.members = stale.tree.members.map((m) => ({ ...m, startTime: m.startTime + 1 }));
    await writeRecord(registry, 'codex-reused-pids.json', stale);
    await writeRecord(registry, 'codex-other-boot.json', record(registry, deadProcess(), app.pid, { bootId: 'another-boot' }));
    await writeRecord(registry, 'codex-garbage.json', { nonsense: true } as never);

    const report = await reaper.reap();
    expect(report.reaped).toEqual([]);
    expect(report.discarded).toBe(3);
    expect(isAlive(app.pid)).toBe(true);
    expect(running(app.sleep)).toEqual([app.sleepPid]);
    expect(await readdir(registry.dir)).toEqual([]);
    app.shell.kill('SIGKILL');
  });

  it('drops week-old records of other hosts (pods gone from shared storage) and keeps recent ones', async () => {
    const otherOld = new CodexProcessRegistry(root, 'worker-pod-gone');
    const otherNew = new CodexProcessRegistry(root, 'worker-pod-alive');
    await mkdir(otherOld.dir, { recursive: true });
    await mkdir(otherNew.dir, { recursive: true });
    await writeFile(join(otherOld.dir, 'codex-1.json'), '{}');
    await writeFile(join(otherNew.dir, 'codex-2.json'), '{}');
    const weekAgo = new Date(Date.now() - OTHER_HOST_RECORD_MAX_AGE_MS - 60_000);
    await utimes(join(otherOld.dir, 'codex-1.json'), weekAgo, weekAgo);
    await reaper.reap();
    await expect(readdir(otherOld.dir)).rejects.toThrow();
    expect(await readdir(otherNew.dir)).toEqual(['codex-2.json']);
  });
});
