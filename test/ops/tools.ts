import { spawnSync } from 'node:child_process';

/** What installs each external tool the ops tests run (.ci/run installs them when missing). */
const INSTALL_HINT: Record<string, string> = {
  promtool: "Debian package 'prometheus' (apt-get install prometheus; .ci/run installs it when promtool is missing)",
  kubectl: "Debian package 'kubernetes-client' (.ci/run installs it when kubectl is missing)",
};

export interface ToolResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr, for failure messages. */
  output: string;
}

/** Runs a command to completion (bounded: 2 min), never through a shell. */
export function runTool(command: string, args: string[], options: { cwd?: string; input?: string } = {}): ToolResult {
  const result = spawnSync(command, args, { cwd: options.cwd, input: options.input, encoding: 'utf8', timeout: 120_000, maxBuffer: 32 * 1024 * 1024 });
  if (result.error) throw new Error(`${command} could not run: ${result.error.message}. ${INSTALL_HINT[command] ?? ''}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output: `${result.stdout}\n${result.stderr}` };
}

/** Fails with what to install when `command` is not on PATH. */
export function requireTool(command: string): void {
  const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error(`${command} is not installed: these tests run it for real. Install the ${INSTALL_HINT[command] ?? command}.`);
}
