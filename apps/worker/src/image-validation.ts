import { access, constants, mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import type { TaskPayload } from '@wegent-codex/contracts';
import type { RunEventEmitter } from './event-emitter';
import { RunEnding, RunText, type RunResult } from './run-outcome';

/** One runtime check of the Codex image (docs/protocol/wegent-protocol.md §12.3). */
export interface RuntimeCheck {
  name: string;
  command: string;
  pattern: RegExp;
  minimum?: string;
}

export interface CheckResult {
  name: string;
  status: 'pass' | 'fail';
  version?: string;
  message?: string;
}

const CHECK_TIMEOUT_MS = 30_000;

export function codexRuntimeChecks(codexBin: string): RuntimeCheck[] {
  const quoted = `'${codexBin.replace(/'/g, `'\\''`)}'`;
  return [
    { name: 'node', command: 'node --version', pattern: /v(\d+\.\d+\.\d+)/, minimum: '20.0.0' },
    { name: 'codex', command: `${quoted} --version 2>/dev/null || echo 'not found'`, pattern: /(\d+\.\d+\.\d+)/, minimum: '0.169.0' },
    { name: 'git', command: 'git --version', pattern: /(\d+\.\d+\.\d+)/ },
  ];
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** Runs one check the way the Python validator does: `sh -c`, 30 s, "not found" fails. */
export async function runCheck(check: RuntimeCheck, timeoutMs = CHECK_TIMEOUT_MS): Promise<CheckResult> {
  // Nothing of the service's environment: the checks need PATH and a locale only.
  const env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: process.env.LANG ?? 'C.UTF-8' };
  const result = await execa('sh', ['-c', check.command], {
    reject: false,
    timeout: timeoutMs,
    all: true,
    stdin: 'ignore',
    env,
    extendEnv: false,
  });
  if (result.timedOut) return { name: check.name, status: 'fail', message: 'Check timed out' };
  const output = result.all ?? '';
  if (result.exitCode !== 0 || /not found/i.test(output))
    return { name: check.name, status: 'fail', message: 'Command failed or not found' };
  const version = check.pattern.exec(output)?.[1];
  if (!version) return { name: check.name, status: 'pass', message: 'Detected but version not parsed' };
  if (check.minimum && compareVersions(version, check.minimum) < 0) {
    return { name: check.name, version, status: 'fail', message: `Version ${version} < required ${check.minimum}` };
  }
  return { name: check.name, version, status: 'pass' };
}

/** The workspace root must be writable, or no task can run (a Codex-specific extra check). */
export async function workspaceCheck(root: string): Promise<CheckResult> {
  try {
    await mkdir(root, { recursive: true });
    await access(root, constants.W_OK);
    return { name: 'workspace', status: 'pass' };
  } catch (error) {
    return { name: 'workspace', status: 'fail', message: `Workspace not writable: ${(error as Error).message}` };
  }
}

/**
 * A `type: "validation"` payload: runs the Codex runtime checks here and reports them as Wegent's
 * validation callbacks (docs/protocol/wegent-protocol.md §12.2).
 */
export async function runImageValidation(
  payload: TaskPayload,
  emitter: RunEventEmitter,
  input: { codexBin: string; workspaceRoot: string },
): Promise<RunResult> {
  const params = payload.validation_params ?? {};
  const validationId = params.validation_id === null || params.validation_id === undefined ? '' : String(params.validation_id);
  const shellType = params.shell_type ?? '';
  await emitter.emit(statusValidation('RUNNING', 50, 'Task execution started', { validation_id: validationId, stage: 'running' }));

  if (shellType.trim().toLowerCase() !== 'codex') {
    const text = `Unknown shell type: ${shellType}`;
    const message = RunText.noAgent(payload);
    await emitter.emit(
      statusValidation('FAILED', 100, message, {
        validation_id: validationId,
        stage: 'failed',
        validation_result: { valid: false, checks: [], errors: [text] },
      }),
    );
    await emitter.emitAll(RunEnding.noAgent(payload, text));
    return 'validation failed';
  }

  const checks = codexRuntimeChecks(input.codexBin);
  await emitter.emit(
    statusValidation('RUNNING', 70, 'Running dependency checks', {
      stage: 'running_checks',
      validation_id: validationId,
      current_check: null,
    }),
  );
  const results: CheckResult[] = [];
  for (const [i, check] of checks.entries()) {
    await emitter.emit(
      statusValidation('RUNNING', 70 + Math.floor((i / checks.length) * 25), `Checking ${check.name}`, {
        stage: 'running_checks',
        validation_id: validationId,
        current_check: check.name,
      }),
    );
    results.push(await runCheck(check));
  }
  results.push(await workspaceCheck(input.workspaceRoot));
  await emitter.emit(
    statusValidation('COMPLETED', 100, 'Image validation completed', {
      stage: 'completed',
      validation_id: validationId,
      validation_result: {
        valid: results.every((r) => r.status === 'pass'),
        checks: results,
        errors: [],
        shell_name: params.shell_name ?? '',
        shell_type: shellType,
        image: params.image ?? '',
      },
    }),
  );
  await emitter.emit({ type: 'done', value: 'Task executed successfully' });
  return 'validated';
}

function statusValidation(status: 'RUNNING' | 'COMPLETED' | 'FAILED', progress: number, message: string, result: Record<string, unknown>) {
  return { type: 'status' as const, phase: 'validation' as const, validation: { status, progress, message, result } };
}
