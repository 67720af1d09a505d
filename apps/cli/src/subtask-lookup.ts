import { jobIdFor, TASK_QUEUE_NAME } from '@wegent-codex/contracts';
import { CallbackFolder, type SubtaskView } from '@wegent-codex/event-log';
import type { CliContext } from './cli-context';

export interface SubtaskSummary extends SubtaskView {
  /** BullMQ state of the subtask's job, or null once the job is gone (removed after it ended). */
  job: string | null;
}

const JOB_ID = /task-(\d+)-sub-(\d+)$/;

/**
 * Subtask ids of a task, ascending: those with an event log, those with a BullMQ job, and those
 * waiting in the task's lane. A bounded SCAN over the task's own keys; fine for an operator
 * command, never used on a request path.
 */
export async function subtasksOf(ctx: CliContext, taskId: number): Promise<number[]> {
  const found = new Set<number>();
  const scan = async (pattern: string, parse: (key: string) => number | undefined) => {
    let cursor = '0';
    do {
      const [next, keys] = await ctx.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      for (const key of keys) {
        const id = parse(key);
        if (id !== undefined) found.add(id);
      }
      cursor = next;
    } while (cursor !== '0');
  };
  const eventsPrefix = ctx.keys.events(taskId, 0).replace(/0$/, '');
  await scan(`${eventsPrefix}*`, (key) => toId(key.slice(eventsPrefix.length)));
  await scan(`${ctx.config.REDIS_PREFIX}:${TASK_QUEUE_NAME}:task-${taskId}-sub-*`, (key) => {
    const match = JOB_ID.exec(key);
    return match && Number(match[1]) === taskId ? Number(match[2]) : undefined;
  });
  for (const jobId of await ctx.tasks.laneJobIds(taskId)) {
    const match = JOB_ID.exec(jobId);
    if (match) found.add(Number(match[2]));
  }
  return [...found].sort((a, b) => a - b);
}

/** One subtask folded from its events, with its job's state; null when neither exists. */
export async function summarize(ctx: CliContext, taskId: number, subtaskId: number): Promise<SubtaskSummary | null> {
  const [log, job] = await Promise.all([ctx.events.read(taskId, subtaskId), ctx.queue.getJob(jobIdFor(taskId, subtaskId))]);
  if (log.length === 0 && !job) return null;
  const folder = new CallbackFolder(taskId, subtaskId, {
    executorName: ctx.config.EXECUTOR_NAME,
    executorNamespace: ctx.config.EXECUTOR_NAMESPACE,
  });
  for (const stored of log) folder.apply(stored);
  return { ...folder.view, job: job ? await job.getState() : null };
}

function toId(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}
