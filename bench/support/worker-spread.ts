/**
 * Which worker process ran each job. A worker's BullMQ name (the `processedBy` of every job it
 * takes) is its liveness id, `<hostname>:<pid>:<random hex>` (apps/worker/src/worker-liveness.ts).
 */

/** The pid in a worker's liveness id; undefined for anything else. */
export function pidOfWorkerId(workerId: string | undefined): number | undefined {
  const match = workerId === undefined ? null : /:(\d+):[0-9a-f]+$/.exec(workerId);
  return match ? Number(match[1]) : undefined;
}

export interface WorkerSpread {
  /** Jobs per worker, in the order of the pids given. */
  jobsPerWorker: number[];
  /** Jobs with no `processedBy`, or one naming a process that is not among the workers. */
  unattributed: number;
}

/** Counts the jobs per worker process from each job's `processedBy`. */
export function spreadOverWorkers(processedBy: readonly (string | undefined)[], workerPids: readonly number[]): WorkerSpread {
  const jobsPerWorker = workerPids.map(() => 0);
  let unattributed = 0;
  for (const id of processedBy) {
    const index = workerPids.indexOf(pidOfWorkerId(id) ?? -1);
    if (index < 0) unattributed += 1;
    else jobsPerWorker[index] += 1;
  }
  return { jobsPerWorker, unattributed };
}
