import type { CommandWrapper } from '@wegent-codex/workspace';
import type { LaunchCommand, SandboxLauncher } from '@wegent-codex/sandbox';

/**
 * Where a warm Codex process holds this task's folders: set while it is bound (the slot's `view`
 * folder, which its sandbox sees at WORKSPACE_ROOT), unset otherwise.
 */
export interface WarmSlotView {
  view?: string;
}

export interface TaskCommandWrapperOptions {
  launcher: SandboxLauncher;
  /** WORKSPACE_ROOT, resolved. */
  root: string;
  taskDir: string;
  stateDir: string;
  readable: readonly string[];
  slot: WarmSlotView;
}

/**
 * Wraps a command the worker runs on a task's files (git, the workbench) into that task's sandbox.
 *
 * Cold, the task and state folders are bound at their host paths. While a warm process holds them,
 * those host paths are symlinks into the slot, and the task can rewrite what lies behind them
 * (say, its state folder replaced by a link to another task's): binding by host path would follow
 * the task's link on the host. So a bound run's commands get the slot's view at WORKSPACE_ROOT, as
 * Codex itself does — the slot folder is the worker's own, and any link the task planted resolves
 * inside the sandbox, where no other task exists.
 */
export function taskCommandWrapper(options: TaskCommandWrapperOptions): CommandWrapper {
  const { launcher, root, taskDir, stateDir, readable, slot } = options;
  return ({ writable = [], ...command }): LaunchCommand => {
    const cwd = command.cwd ?? taskDir;
    if (slot.view && launcher.kind === 'bwrap') {
      return launcher.command({ ...command, cwd, writable: [...writable], readable, mounts: [{ source: slot.view, target: root }] });
    }
    return launcher.command({ ...command, cwd, writable: [taskDir, stateDir, ...writable], readable });
  };
}
