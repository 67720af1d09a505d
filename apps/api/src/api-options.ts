/** What the composition root may tune when it imports `ApiModule.forRoot(options)`. */
export interface ApiModuleOptions {
  /**
   * /readyz also requires at least one BullMQ worker registered on the task queue. Set it in a
   * process that runs the worker role; an api-only process is ready as soon as Redis answers.
   */
  requireWorkers?: boolean;
  /**
   * A worker runs in this process (default true, the safe assumption): Bull Board then needs
   * BOARD_USER/BOARD_PASSWORD, since a task command is a loopback client. Not an api option of
   * the routes: the board reads it once, at boot.
   */
  workerInProcess?: boolean;
  /** Concurrent SSE subscribers of this process; one more gets 503. */
  maxStreamSubscribers?: number;
  /** Interval of the SSE heartbeat comment (keeps proxies from closing an idle stream). */
  streamHeartbeatMs?: number;
  /** BLOCK of one live-tail XREAD; the tail loops, so this only bounds how long one read waits. */
  streamBlockMs?: number;
}

export type ResolvedApiOptions = Required<Omit<ApiModuleOptions, 'workerInProcess'>>;

export const API_DEFAULTS: ResolvedApiOptions = {
  requireWorkers: false,
  maxStreamSubscribers: 200,
  streamHeartbeatMs: 15_000,
  streamBlockMs: 5_000,
};

/** Options as given by the root (may be absent). */
export const API_OPTIONS = Symbol('API_OPTIONS');
/** Options with the defaults filled in; what the api's providers inject. */
export const RESOLVED_API_OPTIONS = Symbol('RESOLVED_API_OPTIONS');

/**
 * How long a request may wait on Redis before it is answered 503. ioredis queues commands while
 * Redis is away (maxRetriesPerRequest: null), so without these bounds a request would hang.
 * Cancel stays under 2 s: executor_manager gives it 10 s and the Wegent UI waits on it.
 */
export const Deadline = {
  enqueueMs: 10_000,
  /** Under executor_manager's 10 s dispatch timeout (docs/protocol/wegent-protocol-2026.md §2.13). */
  responsesEnqueueMs: 8_000,
  cancelMs: 1_800,
  readMs: 5_000,
  readinessMs: 2_000,
} as const;
