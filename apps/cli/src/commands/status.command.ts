import type { CliContext, CliOutput } from '../cli-context';
import { ExitCode } from '../exit-code';
import { subtasksOf, summarize, type SubtaskSummary } from '../subtask-lookup';
import { progressBar } from '../tail-renderer';
import { clip, readableMessage } from '../text';

/**
 * `status TASK [SUBTASK]`: every subtask of a task as a table (state, progress, job, last update),
 * or one subtask in detail (message, thinking steps, answer, error). State comes from folding the
 * event log, like GET /v1/tasks/{t}/subtasks/{s}.
 */
export async function statusCommand(
  ctx: CliContext,
  taskId: number,
  subtaskId: number | undefined,
  io: CliOutput,
  options: { json?: boolean } = {},
): Promise<ExitCode> {
  const ids = subtaskId === undefined ? await subtasksOf(ctx, taskId) : [subtaskId];
  const summaries = (await Promise.all(ids.map((id) => summarize(ctx, taskId, id)))).filter((s): s is SubtaskSummary => s !== null);
  if (summaries.length === 0) {
    io.err(
      subtaskId === undefined
        ? `no subtask of task ${taskId} found (no job, no events)\n`
        : `no job and no events for task ${taskId} subtask ${subtaskId}\n`,
    );
    return ExitCode.Failed;
  }
  if (options.json) {
    io.out(`${JSON.stringify(subtaskId === undefined ? { task_id: taskId, subtasks: summaries } : summaries[0])}\n`);
    return ExitCode.Ok;
  }
  io.out(subtaskId === undefined ? table(taskId, summaries) : detail(summaries[0]));
  return ExitCode.Ok;
}

function table(taskId: number, rows: SubtaskSummary[]): string {
  const header = ['SUBTASK', 'STATE', 'JOB', 'PROGRESS', 'EVENTS', 'UPDATED', 'MESSAGE'];
  const cells = rows.map((s) => [
    String(s.subtask_id),
    s.state,
    s.job ?? '-',
    `${s.progress}%`,
    String(s.events),
    s.updatedAt ?? '-',
    clip(s.state === 'failed' ? (s.error ?? s.message ?? '') : readableMessage(s.message), 60),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return `task ${taskId}\n${[header, ...cells].map(line).join('\n')}\n`;
}

function detail(s: SubtaskSummary): string {
  const lines = [
    `task ${s.task_id} subtask ${s.subtask_id}`,
    `state     ${s.state} (${s.status})${s.job ? `, job ${s.job}` : ''}`,
    `progress  ${progressBar(s.progress)}`,
    `message   ${clip(readableMessage(s.message), 200) || '-'}`,
    `events    ${s.events}${s.lastEventId ? ` (last ${s.lastEventId})` : ''}`,
    `updated   ${s.updatedAt ?? '-'}`,
    `thinking  ${s.result.thinking.length} step(s)${s.result.thinking.length ? `, last: ${s.result.thinking[s.result.thinking.length - 1].title}` : ''}`,
  ];
  if (s.error) lines.push(`error     ${s.error}`);
  if (s.result.value) lines.push('answer', ...s.result.value.split('\n').map((l) => `  ${l}`));
  return `${lines.join('\n')}\n`;
}
