import { existsSync, lstatSync } from 'node:fs';
import type { LaunchCommand, RunSpec, SandboxLauncher } from './launch-spec';

/**
 * bubblewrap around one run (docs/en/decisions.md, "Per-run sandbox"). The run gets an empty
 * tmpfs root holding only: /usr and /etc read-only, the spec's folders (bound at their own host
 * paths, so paths in prompts, thread cwd and /proc/<pid>/cwd seen from the host agree), a private
 * /proc of its own PID namespace, a minimal /dev and a fresh /tmp. No other task, no
 * WORKSPACE_ROOT sibling, no service code, config or secret file exists in that view.
 *
 * argv of bwrap is readable inside (`/proc/1/cmdline`: bwrap is PID 1 of the namespace), so it
 * carries paths only; the environment — the run's own model key included — is bwrap's own
 * environment, which it hands to the program.
 */
export interface BwrapOptions {
  /** The bwrap executable (default `bwrap` on the service's PATH). */
  bwrap?: string;
  /** Host paths every run may read (SANDBOX_READABLE_PATHS). */
  readable?: readonly string[];
}

/** Namespaces and hardening; the network stays shared (the model endpoint, git hosts, MCP). */
const BASE_FLAGS = [
  '--unshare-user',
  '--unshare-pid',
  '--unshare-ipc',
  '--unshare-uts',
  '--unshare-cgroup-try',
  '--die-with-parent',
  '--new-session',
  '--cap-drop',
  'ALL',
  '--hostname',
  'wegent-task',
];

/** Top-level names of merged-usr systems: symlinks into /usr, recreated as such inside. */
const USR_LINKS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

export class BwrapLauncher implements SandboxLauncher {
  readonly kind = 'bwrap' as const;
  private readonly bwrap: string;
  private readonly rootArgs: string[];

  constructor(private readonly options: BwrapOptions = {}) {
    this.bwrap = options.bwrap ?? 'bwrap';
    this.rootArgs = rootFilesystemArgs();
  }

  command(spec: RunSpec): LaunchCommand {
    const args = [...BASE_FLAGS, ...this.rootArgs];
    // First: a path bound below a mount's target later shows through it.
    for (const mount of spec.mounts ?? []) args.push('--bind', mount.source, mount.target);
    for (const path of [...(this.options.readable ?? []), ...(spec.readable ?? [])]) {
      if (existsSync(path)) args.push('--ro-bind', path, path);
    }
    for (const path of spec.writable) args.push('--bind', path, path);
    args.push('--chdir', spec.cwd, '--', spec.file, ...spec.args);
    return { file: this.bwrap, args, cwd: spec.cwd, env: { ...spec.env } };
  }
}

/**
 * Host folders every bwrap run can read, whatever its task: the system part of the root and the
 * operator's SANDBOX_READABLE_PATHS. A secret file inside one of them is readable by every task.
 */
export function sharedReadablePaths(readable: readonly string[] = []): string[] {
  const paths = ['/usr', '/etc'];
  for (const name of USR_LINKS) {
    try {
      if (lstatSync(`/${name}`).isDirectory()) paths.push(`/${name}`);
    } catch {
      // not on this host
    }
  }
  return [...paths, ...readable];
}

/** The read-only system part of the root, adapted to this host's /bin, /lib… layout. */
function rootFilesystemArgs(): string[] {
  const args = ['--tmpfs', '/', '--ro-bind', '/usr', '/usr', '--ro-bind', '/etc', '/etc'];
  for (const name of USR_LINKS) {
    const path = `/${name}`;
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      continue;
    }
    if (stat.isSymbolicLink()) args.push('--symlink', `usr/${name}`, path);
    else if (stat.isDirectory()) args.push('--ro-bind', path, path);
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--dir', '/var/tmp');
  return args;
}

/** SANDBOX=off: the program runs as a plain child of the worker (development only; logged loudly). */
export class UnsandboxedLauncher implements SandboxLauncher {
  readonly kind = 'none' as const;

  command(spec: RunSpec): LaunchCommand {
    return { file: spec.file, args: [...spec.args], cwd: spec.cwd, env: { ...spec.env } };
  }
}
