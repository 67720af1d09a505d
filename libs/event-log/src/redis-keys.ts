/**
 * Every Redis key the service writes, in one place. All keys share the deployment's prefix
 * (REDIS_PREFIX), so test runs and deployments never collide.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** Stream: the event log of one subtask (the source of truth). */
  events(taskId: number, subtaskId: number): string {
    return `${this.prefix}:events:${taskId}:${subtaskId}`;
  }
  /** Hash: `seq` (last assigned) and `terminal` (type of the terminal event) of one subtask. */
  eventsMeta(taskId: number, subtaskId: number): string {
    return `${this.prefix}:events-meta:${taskId}:${subtaskId}`;
  }
  /** Stream: one entry per appended event ({task, subtask}); the relay's consumer group reads it. */
  get outbox(): string {
    return `${this.prefix}:relay:outbox`;
  }
  /** String: stream id of the last event whose callback was delivered (the relay's cursor). */
  relayCursor(taskId: number, subtaskId: number): string {
    return `${this.prefix}:relay:cursor:${taskId}:${subtaskId}`;
  }
  /** String with TTL: which relay currently delivers this subtask's callbacks. */
  relayLock(taskId: number, subtaskId: number): string {
    return `${this.prefix}:relay:lock:${taskId}:${subtaskId}`;
  }
  /** String: the Codex thread id of a task (follow-up subtasks resume it). */
  thread(taskId: number): string {
    return `${this.prefix}:task:${taskId}:thread`;
  }
  /** String with TTL: the task's payload for a job, sealed with SECRETS_KEY when set. */
  payload(taskId: number, subtaskId: number): string {
    return `${this.prefix}:payload:${taskId}:${subtaskId}`;
  }
  /** String with TTL: a durable cancel request for a task (value: request time). */
  cancel(taskId: number): string {
    return `${this.prefix}:cancel:${taskId}`;
  }
  /** Pub/sub channel announcing cancels to every worker. */
  get cancelChannel(): string {
    return `${this.prefix}:cancel-channel`;
  }
  /** List: job ids of one task in arrival order; only the head may run (per-task serialisation). */
  taskLane(taskId: number): string {
    return `${this.prefix}:task:${taskId}:lane`;
  }
  /** Hash: the 2026 subtasks this deployment runs, `<task>:<subtask>` → worker id ("" while queued). */
  get heartbeatRuns(): string {
    return `${this.prefix}:heartbeat:runs`;
  }
  /** String with TTL = the heartbeat interval: who sent the task's current beat (one stream per task). */
  heartbeatSlot(taskId: number): string {
    return `${this.prefix}:heartbeat:slot:${taskId}`;
  }
  /** String with a short TTL, refreshed by a live worker process. */
  workerAlive(workerId: string): string {
    return `${this.prefix}:worker:alive:${workerId}`;
  }
  /** String with a short TTL: the watcher process that is ending this job of a lost worker (one at a time). */
  lostJobClaim(jobId: string): string {
    return `${this.prefix}:worker:lost-job:${jobId}`;
  }
}
