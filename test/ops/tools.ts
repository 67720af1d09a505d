import { spawnSync } from 'node:child_process';

/** What installs each external tool the ops tests run (.ci/run installs them when missing). */
const INSTALL_HINT: Record<string, string> = {
  promtool: "Debian package 'prometheus' (apt-get install prometheus; .ci/run installs it when promtool is missing)",
  kubectl: "Debian package 'kubernetes-client' (.ci/run installs it when kubectl is missing), or set KUSTOMIZE to a kustomize binary",
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
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    input: options.input,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 32 * 1024 * 1024,
  });
  if (result.error) throw new Error(`${command} could not run: ${result.error.message}. ${INSTALL_HINT[command] ?? ''}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output: `${result.stdout}\n${result.stderr}` };
}

/** Fails with what to install when `command` is not on PATH. */
export function requireTool(command: string): void {
  const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { encoding: 'utf8' });
  if (found.status !== 0)
    throw new Error(`${command} is not installed: these tests run it for real. Install the ${INSTALL_HINT[command] ?? command}.`);
}

/**
 * `kustomize build <dir>`: with $KUSTOMIZE set (a standalone kustomize binary, which .ci/run puts
 * there when the machine's kubectl is too old), else `kubectl kustomize`. Debian bookworm's
 * kubernetes-client (kubectl 1.20) embeds kustomize v2, which cannot read k8s/kustomization.yaml
 * (`labels:` came with kustomize v4.1); kubectl ≥ 1.21 or kustomize ≥ 4.1 can.
 */
export function kustomize(dir: string): string {
  const standalone = process.env.KUSTOMIZE;
  if (!standalone) requireTool('kubectl');
  const result = standalone ? runTool(standalone, ['build', dir]) : runTool('kubectl', ['kustomize', dir]);
  if (result.status !== 0) {
    const hint = /unknown field/.test(result.stderr)
      ? ' (this kubectl embeds a kustomize older than 4.1: set KUSTOMIZE to a kustomize ≥ 4.1 binary — .ci/run installs one from npm)'
      : '';
    throw new Error(`kustomize ${dir} failed${hint}:\n${result.output}`);
  }
  return result.stdout;
}
