import { jobIdFor, taskJobDataSchema, type TaskJobData } from '@wegent-codex/contracts';
import type { SubtaskIds } from './payload-vault';

/**
 * What a worker may believe of a job it took from Redis. Anyone who can write to Redis can put any
 * data under any job, so nothing in it is trusted as it is: the identity comes from the job id
 * (`task-<task_id>-sub-<subtask_id>`, the one id the API and direct producers use), and the data
 * must agree with it — its ids, an inline payload's ids, and a `payloadRef` that is this job's
 * own payload key and nothing else.
 *
 * `ids` is set whenever the job id names a subtask, so a refused job can still end that subtask
 * with one terminal event. Reasons name fields, never values (job data may carry secrets).
 */
export type JobDataCheck = { ok: true; ids: SubtaskIds; data: TaskJobData } | { ok: false; ids: SubtaskIds | null; reason: string };

const JOB_ID = /^task-(\d{1,15})-sub-(\d{1,15})$/;

/** The subtask a job id names, or null for an id of another shape. */
export function idsOfJobId(jobId: string | undefined): SubtaskIds | null {
  const match = typeof jobId === 'string' ? JOB_ID.exec(jobId) : null;
  if (!match) return null;
  const ids = { task_id: Number(match[1]), subtask_id: Number(match[2]) };
  return jobIdFor(ids.task_id, ids.subtask_id) === jobId ? ids : null;
}

/**
 * @param unreadable set when BullMQ could not parse the stored data as JSON (see GuardedWorker)
 * @param ownPayloadRef the payload key of a subtask (PayloadVault.refOf)
 */
export function checkJobData(
  jobId: string | undefined,
  data: unknown,
  ownPayloadRef: (ids: SubtaskIds) => string,
  unreadable?: string,
): JobDataCheck {
  const ids = idsOfJobId(jobId);
  const refuse = (reason: string): JobDataCheck => ({ ok: false, ids, reason });
  if (!ids) return refuse(`job id ${JSON.stringify(String(jobId).slice(0, 80))} is not task-<task_id>-sub-<subtask_id>`);
  if (unreadable) return refuse(`job data is not JSON (${unreadable})`);
  if (data === null || data === undefined) return refuse('job data is null');
  if (typeof data !== 'object' || Array.isArray(data))
    return refuse(`job data is ${Array.isArray(data) ? 'an array' : `a ${typeof data}`}, not an object`);
  const parsed = taskJobDataSchema.safeParse(data);
  if (!parsed.success) {
    const where = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || '(root)'))].slice(0, 5).join(', ');
    return refuse(`job data is not task job data (invalid: ${where})`);
  }
  const job = parsed.data;
  const name = (t: number, s: number) => `${t}.${s}`;
  if (job.task_id !== ids.task_id || job.subtask_id !== ids.subtask_id) {
    return refuse(`job data names subtask ${name(job.task_id, job.subtask_id)}, but the job is ${jobId}`);
  }
  if (job.payload && (job.payload.task_id !== ids.task_id || job.payload.subtask_id !== ids.subtask_id)) {
    return refuse(`the inline payload names subtask ${name(job.payload.task_id, job.payload.subtask_id)}, but the job is ${jobId}`);
  }
  if (job.payloadRef !== undefined && job.payloadRef !== ownPayloadRef(ids)) {
    return refuse(`payloadRef is not this job's payload key (${ownPayloadRef(ids)})`);
  }
  return { ok: true, ids, data: job };
}
