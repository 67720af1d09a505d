/** Exit codes of the operator CLI. */
export enum ExitCode {
  Ok = 0,
  /** The command ran and the answer is "no": not found, nothing to cancel, the task failed. */
  Failed = 1,
  /** Bad arguments, unreadable input or configuration. */
  Usage = 2,
  /** `tail` of a subtask that ended cancelled. */
  Cancelled = 3,
  /** Stopped with Ctrl-C. */
  Interrupted = 130,
}
