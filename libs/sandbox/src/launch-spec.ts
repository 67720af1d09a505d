/**
 * What one sandboxed run needs, and the command that starts it. The launcher only turns a spec
 * into argv + environment; spawning stays with the caller (execa), so the same seam serves the
 * Codex app-server, the worker's git and the boot probe — and, later, a warm pool (a spec whose
 * folders are per-slot) or a limits prefix (`prlimit …`, a cgroup attach) composed in front.
 */

export interface RunSpec {
  /** The program, by absolute path or a name found on the sandbox's PATH. */
  file: string;
  args: readonly string[];
  /** Working directory; must lie inside a writable folder of the spec. */
  cwd: string;
  /** The complete environment of the program (nothing is inherited). */
  env: Record<string, string>;
  /** Host folders the run may read and write, each bound at its own path. */
  writable: readonly string[];
  /** Extra host paths the run may only read (the Codex binary's folder, an MCP server's files). */
  readable?: readonly string[];
  /**
   * Host folders bound read-write at another path (a warm slot's folder at WORKSPACE_ROOT, so a
   * task moved into it later appears at its usual path). Bound before the other folders.
   */
  mounts?: readonly { source: string; target: string }[];
}

/** Exactly what execa spawns: `execa(file, args, { cwd, env, extendEnv: false })`. */
export interface LaunchCommand {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

export interface SandboxLauncher {
  /** `bwrap` or `none` (SANDBOX=off, development only). */
  readonly kind: 'bwrap' | 'none';
  command(spec: RunSpec): LaunchCommand;
}
