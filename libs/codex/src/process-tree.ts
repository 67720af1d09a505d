import { existsSync, readdirSync, readFileSync } from 'node:fs';

/**
 * Process trees read from /proc (Linux). Codex runs every command in its own session (`setsid`),
 * so killing a process group misses them, and once the app-server dies its orphans are
 * re-parented to PID 1 and lose the link (docs/protocol/codex-cli-notes.md §15). Hence: walk parent links,
 * remember what was seen while the parent was alive, and recognise late members by session id.
 */

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** Executable name as the kernel reports it (at most 15 characters). */
  comm: string;
  /** R, S, D, Z, T, … — `Z` (zombie) counts as dead. */
  state: string;
  /** Start time in clock ticks since boot; together with pid it identifies a process despite pid reuse. */
  startTime: number;
}

/** Parses /proc/<pid>/stat; undefined when the process is gone (or /proc is unavailable). */
export function readProcStat(pid: number): ProcInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp session …": comm may contain spaces and parentheses.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const fields = text.slice(close + 2).split(' ');
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    sid: Number(fields[3]),
    startTime: Number(fields[19]),
  };
}

export function listProcesses(): ProcInfo[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcInfo[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProcStat(Number(name));
    if (info) out.push(info);
  }
  return out;
}

/** The command line of a process (arguments joined by spaces), '' when gone or a zombie. */
export function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** All live descendants of `pid` (children, grandchildren, … in any session), parents before children. */
export function listDescendants(pid: number, processes: ProcInfo[] = listProcesses()): ProcInfo[] {
  const byParent = new Map<number, ProcInfo[]>();
  for (const p of processes) {
    if (p.state === 'Z') continue;
    const siblings = byParent.get(p.ppid);
    if (siblings) siblings.push(p);
    else byParent.set(p.ppid, [p]);
  }
  const out: ProcInfo[] = [];
  const queue = [pid];
  const seen = new Set<number>([pid]);
  while (queue.length) {
    for (const child of byParent.get(queue.shift()!) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/**
 * The pids of `pid`'s live descendants, found through `/proc/<pid>/task/<tid>/children` (each
 * thread's own children): it reads only the tree, not every process of the host as
 * listDescendants does — for a small tree on the way to a task's first model request. Falls back
 * to listDescendants when the kernel lacks those files. Parents before children.
 */
export function descendantPids(pid: number): number[] {
  if (!childrenFiles()) return listDescendants(pid).map((p) => p.pid);
  const out: number[] = [];
  const queue = [pid];
  const seen = new Set<number>([pid]);
  while (queue.length) {
    const parent = queue.shift()!;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      continue; // gone meanwhile
    }
    for (const tid of tasks) {
      let children: string;
      try {
        children = readFileSync(`/proc/${parent}/task/${tid}/children`, 'utf8');
      } catch {
        continue; // the thread or the process ended meanwhile
      }
      for (const child of children.split(' ')) {
        const next = Number(child);
        if (!child || seen.has(next)) continue;
        seen.add(next);
        out.push(next);
        queue.push(next);
      }
    }
  }
  return out;
}

/** Whether the kernel has the `children` files (CONFIG_PROC_CHILDREN; checked once). */
let hasChildrenFiles: boolean | undefined;
function childrenFiles(): boolean {
  hasChildrenFiles ??= existsSync(`/proc/self/task/${process.pid}/children`);
  return hasChildrenFiles;
}

/** Alive and not a zombie; with `startTime`, also still the same process (not a reused pid). */
export function isAlive(pid: number, startTime?: number): boolean {
  const info = readProcStat(pid);
  if (!info || info.state === 'Z') return false;
  return startTime === undefined || info.startTime === startTime;
}

/** Sends `signal`, ignoring processes that are already gone. Returns true when it was delivered. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

const ownSid = readProcStat(process.pid)?.sid;

/**
 * What a tracker knows about a tree, as plain data: written down by the process that owns the
 * tree and restored by another one (the orphan reaper) after the owner died.
 */
export interface TreeSnapshot {
  root: { pid: number; startTime?: number };
  /** Descendants seen while the root lived; `sid === pid` marks a session leader. */
  members: { pid: number; startTime: number; sid: number }[];
}

/**
 * Remembers every process seen below a root while the root lives, so the whole tree can still be
 * found after the root has died: known pids (checked against their start time), plus any process
 * in a session led by a known descendant (a command's later children), never our own session.
 * Start times guard every pid and session id against reuse by an unrelated process.
 */
export class ProcessTreeTracker {
  private readonly known = new Map<number, ProcInfo>();
  /** Session id → start time of its (known) leader. */
  private readonly sessions = new Map<number, number>();
  private readonly rootStartTime: number | undefined;

  /** With `restored`, continues what another process knew about the tree (see snapshot()). */
  constructor(
    readonly rootPid: number,
    restored?: TreeSnapshot,
  ) {
    this.rootStartTime = restored ? restored.root.startTime : readProcStat(rootPid)?.startTime;
    for (const m of restored?.members ?? []) this.remember({ ...m, ppid: 0, pgid: 0, comm: '', state: 'S' });
  }

  /**
   * Adds the root's current descendants; returns how many are known in total. Without a process
   * list it reads only the tree (each running Codex is scanned every second: reading every
   * process of the host each time grows with the square of the runs on it).
   */
  scan(processes?: ProcInfo[]): number {
    for (const p of processes ? this.rootDescendants(processes) : this.walkDescendants()) this.remember(p);
    return this.known.size;
  }

  /** Known members still alive, plus live processes in their sessions. Excludes the root itself. */
  members(processes: ProcInfo[] = listProcesses()): ProcInfo[] {
    for (const p of this.rootDescendants(processes)) this.remember(p);
    const byPid = new Map(processes.map((p) => [p.pid, p]));
    const inKnownSession = (p: ProcInfo): boolean => {
      const leaderStart = this.sessions.get(p.sid);
      if (leaderStart === undefined) return false;
      const leader = byPid.get(p.sid);
      // A live leader must be the recorded one; with the leader gone, only later-born members count.
      return leader ? leader.startTime === leaderStart : p.startTime >= leaderStart;
    };
    return processes.filter(
      (p) =>
        p.pid !== this.rootPid &&
        p.pid !== process.pid &&
        p.state !== 'Z' &&
        (this.known.get(p.pid)?.startTime === p.startTime || inKnownSession(p)),
    );
  }

  /**
   * The tree as plain data, for restoring it elsewhere: the members still alive, and the leaders
   * (alive or not) of sessions that still have a live process. Dead members could never be killed
   * again, so a long run with many commands does not grow the snapshot.
   */
  snapshot(processes: ProcInfo[] = listProcesses()): TreeSnapshot {
    const live = new Set(processes.filter((p) => p.state !== 'Z').map((p) => `${p.pid}:${p.startTime}`));
    const liveSessions = new Set(processes.filter((p) => p.state !== 'Z').map((p) => p.sid));
    const members = [...this.known.values()].filter(
      (m) => live.has(`${m.pid}:${m.startTime}`) || (m.sid === m.pid && liveSessions.has(m.sid)),
    );
    return {
      root: { pid: this.rootPid, ...(this.rootStartTime === undefined ? {} : { startTime: this.rootStartTime }) },
      members: members.map(({ pid, startTime, sid }) => ({ pid, startTime, sid })),
    };
  }

  /**
   * SIGKILLs every member until none is left or `timeoutMs` passes (members may fork while they
   * are being killed). Returns the pids that were signalled and any that still survive.
   */
  async killAll(timeoutMs = 2_000): Promise<{ killed: number[]; survivors: number[] }> {
    const killed = new Set<number>();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const alive = this.members();
      if (!alive.length) return { killed: [...killed], survivors: [] };
      if (Date.now() >= deadline) return { killed: [...killed], survivors: alive.map((p) => p.pid) };
      for (const p of alive) {
        if (signalPid(p.pid, 'SIGKILL')) killed.add(p.pid);
      }
      await delay(20);
    }
  }

  /** As rootDescendants, through the children files (descendantPids) instead of a list of every process. */
  private walkDescendants(): ProcInfo[] {
    const root = readProcStat(this.rootPid);
    if (!root || (this.rootStartTime !== undefined && root.startTime !== this.rootStartTime)) return [];
    return descendantPids(this.rootPid)
      .map((pid) => readProcStat(pid))
      .filter((p): p is ProcInfo => p !== undefined && p.state !== 'Z');
  }

  /** Descendants of the root — only while the root pid still is the tracked process (not reused). */
  private rootDescendants(processes: ProcInfo[]): ProcInfo[] {
    const root = processes.find((p) => p.pid === this.rootPid);
    if (!root || (this.rootStartTime !== undefined && root.startTime !== this.rootStartTime)) return [];
    return listDescendants(this.rootPid, processes);
  }

  private remember(p: ProcInfo): void {
    if (p.state === 'Z') return;
    this.known.set(p.pid, p);
    if (p.sid === p.pid && p.sid !== ownSid) this.sessions.set(p.sid, p.startTime);
  }
}

/** Snapshot of a root's descendants, taken before it dies, to kill them after it is gone. */
export function snapshotTree(rootPid: number): ProcessTreeTracker {
  const tracker = new ProcessTreeTracker(rootPid);
  tracker.scan();
  return tracker;
}

/**
 * Sends `signal` to `pid` and all its descendants (found before signalling, so the links still
 * exist); with SIGKILL also waits, bounded, until they are gone. Returns the pids signalled.
 */
export async function killTree(pid: number, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 2_000): Promise<number[]> {
  const tracker = snapshotTree(pid);
  const members = tracker.members().map((p) => p.pid);
  const signalled = [pid, ...members].filter((p) => signalPid(p, signal));
  if (signal === 'SIGKILL') {
    await tracker.killAll(timeoutMs);
    await waitForExit([pid], timeoutMs);
  }
  return signalled;
}

/** Waits until none of `pids` is alive (zombies count as dead) or `timeoutMs` passes; returns the survivors. */
export async function waitForExit(pids: number[], timeoutMs: number, pollMs = 20): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter((p) => isAlive(p));
    if (!alive.length || Date.now() >= deadline) return alive;
    await delay(pollMs);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Kills a tree known only from a snapshot (its owner is gone): the root while it still is the
 * recorded process (same start time), its descendants, every recorded member still alive, and
 * later-born processes of recorded sessions. Bounded; returns the pids signalled and any survivors.
 */
export async function killSnapshot(snapshot: TreeSnapshot, timeoutMs = 2_000): Promise<{ killed: number[]; survivors: number[] }> {
  const { pid, startTime } = snapshot.root;
  const tracker = new ProcessTreeTracker(pid, snapshot);
  tracker.scan(); // the root's current children, while it still links them
  const rootAlive = startTime !== undefined && isAlive(pid, startTime);
  const killedRoot = rootAlive && signalPid(pid, 'SIGKILL') ? [pid] : [];
  const { killed, survivors } = await tracker.killAll(timeoutMs);
  const rootLeft = rootAlive ? await waitForExit([pid], timeoutMs) : [];
  return { killed: [...killedRoot, ...killed], survivors: [...rootLeft, ...survivors] };
}
