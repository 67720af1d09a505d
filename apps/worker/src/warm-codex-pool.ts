import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { Config, RpcNotification } from '@wegent-codex/contracts';
import {
  AppServerClient,
  codexHomeSeed,
  codexProcessEnv,
  isAlive,
  passedServiceEnv,
  plantCodexHomeSeed,
  renderWarmCodexConfig,
  resolveCodexBinary,
} from '@wegent-codex/codex';
import { TASK_STATE_DIR } from './workspace-preparer';
import { CONFIG, LOGGER, settleAll, type Logger } from '@wegent-codex/runtime';
import { LimitsService, type RunCgroup, type WarmLaunch } from '@wegent-codex/limits';
import { SandboxService, type LaunchCommand, type SandboxLauncher } from '@wegent-codex/sandbox';
import { CodexProcessRegistry, type TrackedCodexProcess } from './codex-process-registry';

/**
 * Warm `codex app-server` processes (CODEX_WARM_POOL per worker; docs/en/decisions.md, "Warm
 * Codex"). Each is spawned and initialized before its task is known, inside a sandbox whose only
 * writable folder is its slot, bound at WORKSPACE_ROOT. At bind time the task's folder and state
 * folder are renamed into the slot (same filesystem, atomic), so inside they appear at their usual
 * paths, and a symlink at each host path points at them, so the worker's git, the workbench and
 * anyone on the host still find them there. The process's `sessions` folder becomes a symlink to
 * the task's own CODEX_HOME/sessions, so the thread's rollout is written where a cold follow-up
 * resumes it (0.169 finds a rollout by scanning sessions/; measured). When the run ends (the
 * tree gone) the folders are renamed back. A process serves one task and
 * is then discarded; a slot never holds two tasks.
 */

/** Under WORKSPACE_ROOT: one folder per slot, named <host>-<worker pid>-<n>-<random>. */
export const WARM_DIR = '.warm';
/** Inside a slot's view (= WORKSPACE_ROOT inside its sandbox): the process's own CODEX_HOME and HOME. */
const SLOT_CODEX_HOME = '.warm-codex-home';
const SLOT_HOME = '.warm-home';
/** In a slot's folder (outside its view) once its process is initialized. */
export const READY_FILE = 'ready';

export interface CodexHandlers {
  onNotification(n: RpcNotification): void;
  onStderr(line: string): void;
  onDiagnostic(message: string, details?: Record<string, unknown>): void;
}

const IDLE: CodexHandlers = { onNotification: () => undefined, onStderr: () => undefined, onDiagnostic: () => undefined };

interface Slot {
  dir: string;
  /** Bound at WORKSPACE_ROOT inside the sandbox (bwrap), or just the slot's folder (SANDBOX=off). */
  view: string;
  client: AppServerClient;
  tracked: TrackedCodexProcess;
  handlers: CodexHandlers;
  /** Its own cgroup with a run's limits (LimitsService.warmLaunch); the pool's until a run takes it. */
  cgroup?: RunCgroup;
}

/** A warm process bound to one task's run. */
export interface BoundCodex {
  client: AppServerClient;
  tracked: TrackedCodexProcess;
  /** The slot folder the process's sandbox sees at WORKSPACE_ROOT (undefined without a sandbox). */
  view?: string;
  /**
   * The process's cgroup, for the run's limiter to own (RunLimiter.adopt): once taken, the pool no
   * longer removes it. Undefined without cgroups, or when taken already.
   */
  takeCgroup(): RunCgroup | undefined;
  /** Call after the client's tree is gone: the task's folders go back, the rollout is copied home. */
  release(): Promise<void>;
}

export interface BindRequest {
  taskId: number;
  taskDir: string;
  stateDir: string;
  codexHome: string;
  handlers: CodexHandlers;
}

@Injectable()
export class WarmCodexPool {
  readonly size: number;
  private readonly root: string;
  private readonly registry: CodexProcessRegistry;
  private readonly ready: Slot[] = [];
  private readonly bound = new Map<number, Slot>();
  private spawning = 0;
  /** Spawns under way (with their discard, when the pool closed meanwhile): close() waits for them. */
  private readonly inflight = new Set<Promise<void>>();
  private retry?: NodeJS.Timeout;
  private seq = 0;
  private closed = false;
  private started = false;
  private bin?: string;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly sandbox: SandboxService,
    private readonly limits: LimitsService,
  ) {
    this.size = config.CODEX_WARM_POOL;
    this.root = resolve(config.WORKSPACE_ROOT);
    this.registry = new CodexProcessRegistry(config.WORKSPACE_ROOT);
  }

  private get sandboxed(): boolean {
    return this.sandbox.launcher.kind === 'bwrap';
  }

  /** Puts back the task folders of slots whose worker died, then fills the pool. */
  async start(): Promise<void> {
    if (this.size === 0) return;
    this.started = true;
    await this.recover().catch((error: unknown) =>
      this.logger.error({ err: String(error) }, 'recovering warm slots of a dead worker failed'),
    );
    this.refill();
  }

  /** Idle warm processes (for metrics and the bench). */
  idlePids(): number[] {
    return this.ready.map((s) => s.client.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** A warm process for this task's run, or undefined (none ready, or the bind failed): run cold. */
  async bind(request: BindRequest): Promise<BoundCodex | undefined> {
    if (this.size === 0 || this.closed || this.bound.has(request.taskId)) return undefined;
    let slot: Slot | undefined;
    while ((slot = this.ready.shift()) && slot.client.hasExited) this.background(this.discard(slot));
    if (!slot) {
      this.refill();
      return undefined;
    }
    // The spare's start-up (a spawn that blocks this thread for milliseconds, then Codex's own
    // start, hundreds of ms of CPU) waits until this run's model has answered once — until then
    // the run's own thread start and its way to the first model request are the critical path — or
    // until the run ends.
    let refilled = false;
    const refillOnce = () => {
      if (refilled) return;
      refilled = true;
      setImmediate(() => this.refill());
    };
    const moved: [string, string][] = [];
    // Independent steps run at once (this is on the way to the task's first model request); the
    // folders moved so far are tracked, so a failure puts back exactly those.
    const move = async (from: string, to: string) => {
      await rename(from, to);
      moved.push([from, to]);
      await symlink(to, from);
    };
    // Created by Codex at its start, empty until a thread exists: the rollout goes to the task's home.
    const sessions = join(slot.view, SLOT_CODEX_HOME, 'sessions');
    try {
      await settleAll([
        this.sandboxed ? rm(join(slot.dir, READY_FILE), { force: true }) : undefined,
        this.sandboxed ? mkdir(join(slot.view, TASK_STATE_DIR), { recursive: true, mode: 0o700 }) : undefined,
        rm(sessions, { recursive: true, force: true }),
        mkdir(join(request.codexHome, 'sessions'), { recursive: true, mode: 0o700 }),
      ]);
      await settleAll([
        this.sandboxed ? move(request.taskDir, join(slot.view, String(request.taskId))) : undefined,
        this.sandboxed ? move(request.stateDir, join(slot.view, TASK_STATE_DIR, String(request.taskId))) : undefined,
        symlink(join(request.codexHome, 'sessions'), sessions),
      ]);
    } catch (error) {
      for (const [from, to] of moved.reverse()) await putBack(to, from).catch(() => undefined);
      this.logger.warn({ task_id: request.taskId, err: String(error) }, 'could not bind a warm Codex process: running cold');
      this.background(this.discard(slot));
      refillOnce();
      return undefined;
    }
    this.bound.set(request.taskId, slot);
    slot.handlers = {
      ...request.handlers,
      onNotification: (n) => {
        if (!refilled && fromTheModel(n)) refillOnce();
        request.handlers.onNotification(n);
      },
    };
    let released = false;
    return {
      client: slot.client,
      tracked: slot.tracked,
      ...(this.sandboxed ? { view: slot.view } : {}),
      takeCgroup: () => {
        const { cgroup } = slot;
        slot.cgroup = undefined;
        return cgroup;
      },
      release: async () => {
        refillOnce();
        if (released) return;
        released = true;
        try {
          for (const [from, to] of moved.reverse()) await putBack(to, from);
        } finally {
          this.bound.delete(request.taskId);
          await rm(slot.dir, { recursive: true, force: true }).catch(() => undefined);
          await this.removeCgroup(slot);
        }
      },
    };
  }

  /** Stops every idle process and waits for spawns under way, so nothing writes into a slot after. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await Promise.allSettled([...this.inflight]);
    const idle = this.ready.splice(0);
    await Promise.allSettled(idle.map((slot) => this.discard(slot)));
  }

  private refill(): void {
    if (!this.started || this.closed) return;
    while (this.ready.length + this.spawning < this.size) {
      this.spawning += 1;
      const done: Promise<void> = this.spawn()
        .then(
          async (slot) => {
            if (this.closed) return this.discard(slot);
            this.ready.push(slot);
          },
          (error: unknown) => {
            if (this.closed) return;
            this.logger.warn({ err: String(error) }, 'could not start a warm Codex process');
            // Not in a tight loop: a broken binary or sandbox is retried after a pause.
            clearTimeout(this.retry);
            this.retry = setTimeout(() => this.refill(), 5_000);
            this.retry.unref();
          },
        )
        .finally(() => {
          this.spawning -= 1;
          this.inflight.delete(done);
        });
      this.inflight.add(done);
    }
  }

  private async spawn(): Promise<Slot> {
    const launcher = await this.sandbox.require();
    // The runs' rlimits, OOM score and (with cgroups) a run's cgroup from the start: binding then
    // hands that cgroup to the run, no process is moved.
    const limited = await this.limits.warmLaunch();
    try {
      return await this.spawnIn(launcher, limited);
    } catch (error) {
      // Nothing runs in it yet, or what does is killed with it.
      await limited.cgroup?.destroy().catch(() => undefined);
      throw error;
    }
  }

  private async spawnIn(launcher: SandboxLauncher, limited: WarmLaunch): Promise<Slot> {
    this.bin ??= resolveCodexBinary({ override: this.config.CODEX_BIN });
    this.seq += 1;
    const dir = join(this.root, WARM_DIR, `${safeHost()}-${process.pid}-${this.seq}-${randomBytes(4).toString('hex')}`);
    const view = join(dir, 'view');
    await mkdir(join(view, SLOT_CODEX_HOME), { recursive: true, mode: 0o700 });
    await mkdir(join(view, SLOT_HOME), { recursive: true, mode: 0o700 });
    await writeFile(join(view, SLOT_CODEX_HOME, 'config.toml'), renderWarmCodexConfig(), { mode: 0o600 });
    // Codex's databases already migrated (made once per process; the pool fills in the background, so it waits for them).
    const seed = await codexHomeSeed(this.bin, {
      onError: (error) =>
        this.logger.warn({ err: error.message }, 'Codex databases could not be prepared once: each process makes its own'),
    });
    if (seed) plantCodexHomeSeed(join(view, SLOT_CODEX_HOME), seed);
    // Inside the sandbox the slot's view is WORKSPACE_ROOT; without one it is where it is.
    const inside = this.sandboxed ? this.root : view;
    const passed = passedServiceEnv();
    const env = codexProcessEnv({ home: join(inside, SLOT_HOME), codexHome: join(inside, SLOT_CODEX_HOME), extra: passed });
    const readable = [dirname(dirname(this.bin))];
    const wrap = (command: { file: string; args: string[]; cwd: string; env: Record<string, string> }): LaunchCommand =>
      limited.wrap(
        launcher.command({
          ...command,
          cwd: inside,
          writable: this.sandboxed ? [] : [view],
          readable,
          mounts: this.sandboxed ? [{ source: view, target: this.root }] : [],
        }),
      );
    // Notifications may arrive before the slot exists (during the handshake): they go nowhere.
    const holder: { slot?: Slot } = {};
    const client = await AppServerClient.start({
      bin: this.bin,
      cwd: inside,
      env,
      wrap,
      onNotification: (n) => holder.slot?.handlers.onNotification(n),
      onStderr: (line) => holder.slot?.handlers.onStderr(line),
      onDiagnostic: (message, details) => holder.slot?.handlers.onDiagnostic(message, details),
    });
    const tracked = await this.registry.track(client.pid, { taskId: 0, subtaskId: 0 }, (error) =>
      this.logger.warn({ err: String(error) }, 'could not record a warm Codex process'),
    );
    const slot: Slot = { dir, view, client, tracked, handlers: IDLE, ...(limited.cgroup ? { cgroup: limited.cgroup } : {}) };
    holder.slot = slot;
    // For operators and tests: this slot's process is initialized and waiting for a task.
    await writeFile(join(dir, READY_FILE), '');
    // A warm process that dies while idle is replaced.
    void client.exited.then(() => {
      const at = this.ready.indexOf(slot);
      if (at >= 0) {
        this.ready.splice(at, 1);
        this.background(this.discard(slot));
        this.refill();
      }
    });
    return slot;
  }

  private background(work: Promise<void>): void {
    const tracked = work.finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  private async discard(slot: Slot): Promise<void> {
    try {
      const exit = await slot.client.shutdown({ graceMs: 1_000 });
      await slot.tracked.release(exit.survivors.length === 0);
    } catch (error) {
      this.logger.warn({ err: String(error) }, 'a warm Codex process did not stop cleanly');
    }
    await rm(slot.dir, { recursive: true, force: true }).catch(() => undefined);
    await this.removeCgroup(slot);
  }

  /** The slot's cgroup, unless a run took it (its limiter removes it then); what is left in it is killed. */
  private async removeCgroup(slot: Slot): Promise<void> {
    const { cgroup } = slot;
    slot.cgroup = undefined;
    const removed = await cgroup?.destroy().catch((error: unknown) => {
      this.logger.warn({ err: String(error) }, "could not remove a warm Codex process's cgroup");
      return undefined;
    });
    if (removed?.survivors.length) this.logger.error({ survivors: removed.survivors }, "processes survived a warm Codex process's cgroup");
  }

  /**
   * Slots of a dead worker of this host (its pid in the name is gone): the task folders in them go
   * back to their places, with the rollout copied home, and the slot is removed. The orphan reaper
   * has killed their processes already.
   */
  private async recover(): Promise<void> {
    const base = join(this.root, WARM_DIR);
    let names: string[];
    try {
      names = await readdir(base);
    } catch {
      return;
    }
    const prefix = `${safeHost()}-`;
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      const pid = Number(name.slice(prefix.length).split('-')[0]);
      if (!Number.isInteger(pid) || (pid !== process.pid && isAlive(pid))) continue;
      const view = join(base, name, 'view');
      for (const entry of await readdir(view).catch(() => [] as string[])) {
        if (/^\d+$/.test(entry)) await putBack(join(view, entry), join(this.root, entry));
      }
      for (const entry of await readdir(join(view, TASK_STATE_DIR)).catch(() => [] as string[])) {
        if (!/^\d+$/.test(entry)) continue;
        await putBack(join(view, TASK_STATE_DIR, entry), join(this.root, TASK_STATE_DIR, entry));
      }
      await rm(join(base, name), { recursive: true, force: true });
      this.logger.warn({ slot: name }, "a dead worker's warm slot was emptied: its task folders are back in place");
    }
  }
}

/**
 * Moves a task folder home; the symlink standing in for it goes first (never a real folder). Inside
 * its sandbox the slot's copy is not a mount point, so the agent could have replaced it with a
 * symlink (say, to another task's path, which the host would resolve): only a real directory
 * goes back; anything else stays in the slot and is deleted with it (the next run's preparation
 * makes the folder anew).
 */
async function putBack(from: string, to: string): Promise<boolean> {
  const there = await lstat(to).catch(() => null);
  if (there?.isSymbolicLink()) await unlink(to);
  else if (there) return false;
  if (!(await lstat(from).catch(() => null))?.isDirectory()) return false;
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to);
  return true;
}

/** Anything of the turn past the user's own message: the model has answered. */
function fromTheModel(n: RpcNotification): boolean {
  if (!n.method.startsWith('item/')) return false;
  return (n.params as { item?: { type?: string } } | undefined)?.item?.type !== 'userMessage';
}

const safeHost = () => hostname().replace(/[^A-Za-z0-9_.]/g, '_');
