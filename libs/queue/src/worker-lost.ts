import type { WegentProtocol } from '@wegent-codex/contracts';

/**
 * How a run whose worker process was lost ends, in the one place every path that notices it reads
 * from: the relay's lost-worker watcher (the usual path, seconds after the death) and the worker
 * that finds a started run re-delivered by BullMQ's stall check (the fallback). One `error` event,
 * `code` executor_crash; the 2025 text is ClaudeCode's §5.4 shape, the 2026 one says what to do.
 */
export const WorkerLost = {
  /** The event's `error` (and the BullMQ job's failed reason). */
  reason: 'worker lost',
  /** 2025: `error_message` of the FAILED callback. */
  text2025:
    'Error processing response: the worker running this task was lost (process died or lost its Redis lock); the run was not repeated',
  /** 2026: `data.message` of the `error` event. */
  message2026:
    'The worker running this task stopped unexpectedly (its process died or lost its connection to Redis), so the run did not finish. Send the message again to retry.',

  /** The terminal event (without the subtask's ids) of a run of this protocol generation. */
  event(protocol: WegentProtocol | undefined) {
    return {
      type: 'error' as const,
      kind: 'stream' as const,
      message: protocol === '2026' ? WorkerLost.message2026 : WorkerLost.text2025,
      error: WorkerLost.reason,
      code: 'executor_crash',
      ...(protocol === '2026' && { protocol: '2026' as const }),
    };
  },
} as const;

/**
 * The cadences that follow from WORKER_LIVENESS_TTL_MS. A worker renews its key five times per TTL
 * (from a thread of its own, so a busy event loop does not delay it); the watcher looks once per
 * renewal period and ends a worker's jobs only after it has seen the key missing for two renewal
 * periods in a row (a Redis that was just restarted, or a worker reconnecting, gets that long to
 * renew). A SIGKILLed worker's jobs therefore end at most TTL + confirmMs + passEveryMs after its
 * last renewal (8 s with the default 5 s TTL).
 */
export function livenessCadence(ttlMs: number): { renewEveryMs: number; passEveryMs: number; confirmMs: number } {
  const renewEveryMs = Math.max(200, Math.floor(ttlMs / 5));
  return { renewEveryMs, passEveryMs: renewEveryMs, confirmMs: 2 * renewEveryMs };
}
