import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import {
  isAlive,
  descendantPids,
  killTree,
  listDescendants,
  listProcesses,
  readCmdline,
  readProcStat,
  signalPid,
  snapshotTree,
  waitForExit,
} from './process-tree';
import { running, waitUntil } from '../../../test/support/processes';

/** Real processes; each test uses sleep durations nobody else runs so /proc can be searched. */
const marker = (): string => `301.${randomInt(1000, 9999)}`;

/** A shell with one child in its session and one in a new session (like Codex's commands). */
function spawnTree(m: string) {
  const shell = spawn('/bin/sh', ['-c', `sleep ${m} & setsid sleep ${m}1 & wait`], { stdio: 'ignore' });
  return { shell, plain: `sleep ${m}`, detached: `sleep ${m}1` };
}

afterEach(() => {
  for (const p of listProcesses()) if (/^sleep 301\.\d{4}1?$/.test(readCmdline(p.pid))) signalPid(p.pid, 'SIGKILL');
});

describe('process-tree', () => {
  it('reads /proc/<pid>/stat', () => {
    const self = readProcStat(process.pid)!;
    expect(self).toMatchObject({ pid: process.pid, ppid: process.ppid, state: expect.any(String) });
    expect(self.comm.length).toBeGreaterThan(0);
    expect(readProcStat(2 ** 22 + 1)).toBeUndefined();
    expect(isAlive(process.pid, self.startTime)).toBe(true);
    expect(isAlive(process.pid, self.startTime + 1)).toBe(false);
  });

  it('lists descendants in other sessions and kills the whole tree', async () => {
    const { shell, plain, detached } = spawnTree(marker());
    await waitUntil(() => running(plain).length === 1 && running(detached).length === 1);
    const pids = listDescendants(shell.pid!).map((p) => p.pid);
    expect(pids).toEqual(expect.arrayContaining([...running(plain), ...running(detached)]));
    const sessions = new Set(listDescendants(shell.pid!).map((p) => p.sid));
    expect(sessions.size).toBe(2);
    // The same tree through the threads' children files, parents first.
    expect([...descendantPids(shell.pid!)].sort()).toEqual([...pids].sort());
    const walked = descendantPids(shell.pid!);
    const parentOf = new Map(listDescendants(shell.pid!).map((p) => [p.pid, p.ppid]));
    walked.forEach((child, at) => expect([shell.pid!, ...walked.slice(0, at)]).toContain(parentOf.get(child)));

    const signalled = await killTree(shell.pid!);
    expect(signalled).toEqual(expect.arrayContaining([shell.pid, ...pids]));
    expect(running(plain)).toEqual([]);
    expect(running(detached)).toEqual([]);
  });

  it('finds orphans of a dead parent through a snapshot taken before it died', async () => {
    const { shell, plain, detached } = spawnTree(marker());
    await waitUntil(() => running(plain).length === 1 && running(detached).length === 1);
    const tracker = snapshotTree(shell.pid!);
    shell.kill('SIGKILL');
    expect(await waitForExit([shell.pid!], 5_000)).toEqual([]);
    expect(running(plain)).toHaveLength(1); // orphaned, no longer linked to the shell
    expect(listDescendants(shell.pid!)).toEqual([]);

    const { killed, survivors } = await tracker.killAll();
    expect(survivors).toEqual([]);
    expect(killed).toHaveLength(2);
    expect(running(plain)).toEqual([]);
    expect(running(detached)).toEqual([]);
  });

  it('also catches processes started later in a recorded session', async () => {
    const m = marker();
    const shell = spawn('/bin/sh', ['-c', `setsid sh -c 'sleep 0.3; sleep ${m}' & wait`], { stdio: 'ignore' });
    await waitUntil(() => listDescendants(shell.pid!).some((p) => p.sid === p.pid));
    const tracker = snapshotTree(shell.pid!);
    shell.kill('SIGKILL');
    await waitUntil(() => running(`sleep ${m}`).length === 1); // born after the snapshot, orphaned
    const { survivors } = await tracker.killAll();
    expect(survivors).toEqual([]);
    expect(running(`sleep ${m}`)).toEqual([]);
  });
});
