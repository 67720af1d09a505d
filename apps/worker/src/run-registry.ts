/** The runs this worker process is executing now, so a cancel broadcast or a shutdown can reach them. */
export interface ActiveRun {
  taskId: number;
  subtaskId: number;
  jobId: string;
  /** Aborted when the user cancels the subtask. */
  cancel: AbortController;
  /** Aborted when the process shuts down and the run must end now. */
  shutdown: AbortController;
  done: Promise<unknown>;
}

export class RunRegistry {
  private readonly runs = new Map<string, ActiveRun>();

  private key(taskId: number, subtaskId: number): string {
    return `${taskId}:${subtaskId}`;
  }

  add(run: ActiveRun): void {
    this.runs.set(this.key(run.taskId, run.subtaskId), run);
  }

  remove(taskId: number, subtaskId: number): void {
    this.runs.delete(this.key(taskId, subtaskId));
  }

  get(taskId: number, subtaskId: number): ActiveRun | undefined {
    return this.runs.get(this.key(taskId, subtaskId));
  }

  all(): ActiveRun[] {
    return [...this.runs.values()];
  }

  get size(): number {
    return this.runs.size;
  }
}
