import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { SandboxLauncher } from './launch-spec';

export interface SandboxStatus {
  /** Runs may start. */
  ok: boolean;
  kind: SandboxLauncher['kind'];
  /** Why not, in words an operator can act on (undefined when ok). */
  reason?: string;
}

const PROBE_TIMEOUT_MS = 10_000;
const MARK = 'wegent-sandbox-ok';

/**
 * Runs a trivial command the way a task runs (a writable folder, a private PID namespace) and
 * checks what it saw: the marker, its own folder, and no process of the host. Never throws.
 */
export async function probeSandbox(launcher: SandboxLauncher): Promise<SandboxStatus> {
  if (launcher.kind === 'none') return { ok: true, kind: 'none' };
  let dir: string | undefined;
  try {
    dir = await mkdtemp(join(tmpdir(), 'wegent-sandbox-probe-'));
    const command = launcher.command({
      file: '/bin/sh',
      // PIDs visible in /proc: a private namespace shows bwrap, sh and ls (and perhaps a zombie).
      args: ['-c', `echo ${MARK}; pwd; ls /proc | grep -c '^[0-9]'`],
      cwd: dir,
      env: { PATH: '/usr/bin:/bin' },
      writable: [dir],
    });
    const result = await execa(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      extendEnv: false,
      reject: false,
      timeout: PROBE_TIMEOUT_MS,
      stdin: 'ignore',
    });
    if (result.failed) {
      const detail = (typeof result.stderr === 'string' && result.stderr.trim()) || result.shortMessage || 'unknown error';
      return { ok: false, kind: launcher.kind, reason: `bwrap could not start a sandbox: ${detail.slice(0, 500)}${hint(detail)}` };
    }
    const [mark, cwd, pids] = String(result.stdout).trim().split('\n');
    if (mark !== MARK || cwd !== dir)
      return {
        ok: false,
        kind: launcher.kind,
        reason: `the sandbox probe printed unexpected output (${JSON.stringify(String(result.stdout).slice(0, 200))})`,
      };
    if (!(Number(pids) > 0 && Number(pids) <= 5))
      return { ok: false, kind: launcher.kind, reason: `the sandbox has no private PID namespace (${pids} processes visible)` };
    return { ok: true, kind: launcher.kind };
  } catch (error) {
    return {
      ok: false,
      kind: launcher.kind,
      reason: `the sandbox probe failed: ${error instanceof Error ? error.message : String(error)}`,
    };
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The usual causes, named (docs/en/security.md, "What an operator must configure"). */
function hint(detail: string): string {
  if (/ENOENT|not found/i.test(detail)) return ' — install bubblewrap (Debian: apt-get install bubblewrap)';
  if (/No permissions to creat|Operation not permitted|setting up uid map|unshare/i.test(detail)) {
    return ' — unprivileged user namespaces are blocked: allow them (kernel.unprivileged_userns_clone=1, AppArmor userns rules, or a seccomp profile that permits unshare/clone with CLONE_NEWUSER; see docs/en/security.md)';
  }
  return '';
}
