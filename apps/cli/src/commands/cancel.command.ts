import type { CliContext, CliOutput } from '../cli-context';
import { ExitCode } from '../exit-code';

/** `cancel TASK`: the same cancel as POST /api/tasks/cancel — waiting subtasks are removed, running ones interrupted. */
export async function cancelCommand(ctx: CliContext, taskId: number, io: CliOutput, options: { json?: boolean } = {}): Promise<ExitCode> {
  const outcome = await ctx.tasks.cancelTask(taskId);
  if (options.json) io.out(`${JSON.stringify(outcome)}\n`);
  if (outcome.cancelled.length === 0) {
    if (!options.json) io.err(`nothing of task ${taskId} is waiting or running\n`);
    return ExitCode.Failed;
  }
  if (!options.json) {
    for (const { subtask_id, stage } of outcome.cancelled) {
      io.out(
        stage === 'queued'
          ? `subtask ${subtask_id}: removed from the queue (cancelled)\n`
          : `subtask ${subtask_id}: running; the worker was told to stop\n`,
      );
    }
  }
  return ExitCode.Ok;
}
