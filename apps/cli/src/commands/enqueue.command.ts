import { readFile } from 'node:fs/promises';
import { TASK_QUEUE_NAME, taskPayloadSchema } from '@wegent-codex/contracts';
import type { CliContext, CliOutput } from '../cli-context';
import { ExitCode } from '../exit-code';

/**
 * `enqueue FILE.json` (or `-` for stdin): validates the Wegent task payload with the service's
 * schema and enqueues it through the queue library, exactly like POST /v1/tasks: the payload is
 * stored sealed (SECRETS_KEY), the job carries only a reference, a repeat is the same job.
 */
export async function enqueueCommand(
  ctx: CliContext,
  file: string,
  io: CliOutput,
  options: { json?: boolean; stdin?: () => Promise<string> } = {},
): Promise<ExitCode> {
  let text: string;
  try {
    text = file === '-' ? await (options.stdin ?? readStdin)() : await readFile(file, 'utf8');
  } catch (error) {
    io.err(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}\n`);
    return ExitCode.Usage;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    io.err(`${file} is not valid JSON\n`);
    return ExitCode.Failed;
  }
  const parsed = taskPayloadSchema.safeParse(json);
  if (!parsed.success) {
    io.err(`${file} is not a valid task payload; nothing was enqueued:\n`);
    for (const issue of parsed.error.issues.slice(0, 50)) io.err(`  ${issue.path.join('.') || '(root)'}: ${issue.message}\n`);
    return ExitCode.Failed;
  }
  const result = await ctx.tasks.enqueue(parsed.data);
  if (options.json) {
    io.out(
      `${JSON.stringify({ job_id: result.jobId, task_id: result.task_id, subtask_id: result.subtask_id, state: result.state, created: result.created })}\n`,
    );
  } else {
    io.out(`${result.created ? 'enqueued' : 'already enqueued'} ${result.jobId} (${result.state})\n`);
  }
  if (result.created && !ctx.config.SECRETS_KEY) io.err('note: SECRETS_KEY is not set: the payload is stored unencrypted\n');
  if ((await ctx.queue.getWorkersCount()) === 0)
    io.err(`note: no worker is registered on ${TASK_QUEUE_NAME}; the job waits until one starts\n`);
  return ExitCode.Ok;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
