/** How a Codex session ended, before the runner turns it into terminal events (run-outcome.ts). */
export type SessionEnd =
  | { kind: 'finished' }
  | { kind: 'cancelled' }
  /** Codex could not be started (process, thread or turn). */
  | { kind: 'exception'; error: string }
  /** The run broke after its turn started (watchdog, process exit, shutdown). */
  | { kind: 'broken'; error: string }
  /** A per-run limit fired (memory, processes, disk): the message names it. */
  | { kind: 'limit'; error: string };
