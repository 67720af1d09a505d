import type { AppServerExit } from '@wegent-codex/codex';
import type { SessionEnd } from './session-end';

/** What the watchdog watches of one running turn. */
export interface WatchedTurn {
  /** Resolves when the turn's terminal event is in the log. */
  finished: Promise<void>;
  /** Resolves when Codex reports the turn interrupted (nobody here asked for it). */
  interrupted: Promise<void>;
  exited: Promise<AppServerExit>;
  /** Why the client killed its process itself (an output flood), if it did. */
  killedBecause(): string | undefined;
  /** When Codex last said anything (epoch ms). */
  lastActivityAt(): number;
  cancel: AbortSignal;
  shutdown: AbortSignal;
  /** The durable cancel flag (a broadcast missed during a Redis reconnect still lands). */
  cancelRequested(): Promise<boolean>;
  /** Resolves when a per-run limit fires. */
  limitExceeded?: Promise<{ message: string }>;
}

export interface WatchdogLimits {
  idleTimeoutMs: number;
  maxRunMs: number;
  /** How often the durable cancel flag is read. */
  cancelPollMs?: number;
}

const CANCEL_POLL_MS = 2_000;

/**
 * Ends a running turn on the first of: Codex finished, a per-run limit, an unasked interrupt, a
 * cancel (signal or flag), a shutdown, no activity for the idle timeout, the maximum run time, the
 * process exiting. The first cause wins; every timer and listener is gone when it resolves.
 */
export class SessionWatchdog {
  constructor(
    private readonly limits: WatchdogLimits,
    private readonly now: () => number = Date.now,
  ) {}

  watch(turn: WatchedTurn): Promise<SessionEnd> {
    return new Promise<SessionEnd>((resolve) => {
      const cleanups: (() => void)[] = [];
      let over = false;
      const end = (cause: SessionEnd) => {
        if (over) return;
        over = true;
        cleanups.forEach((cleanup) => cleanup());
        resolve(cause);
      };
      const every = (ms: number, tick: () => void) => {
        const timer = setInterval(tick, ms);
        cleanups.push(() => clearInterval(timer));
      };
      const onAbort = (signal: AbortSignal, cause: SessionEnd) => {
        if (signal.aborted) return end(cause);
        const listener = () => end(cause);
        signal.addEventListener('abort', listener, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', listener));
      };

      void turn.finished.then(() => end({ kind: 'finished' }));
      void turn.limitExceeded?.then((hit) => end({ kind: 'limit', error: hit.message }));
      void turn.interrupted.then(() => end({ kind: 'broken', error: 'the turn was interrupted' }));
      onAbort(turn.cancel, { kind: 'cancelled' });
      every(this.limits.cancelPollMs ?? CANCEL_POLL_MS, () => {
        turn.cancelRequested().then(
          (yes) => yes && end({ kind: 'cancelled' }),
          () => undefined,
        );
      });
      onAbort(turn.shutdown, { kind: 'broken', error: 'the service shut down while the task was running' });
      const idle = this.limits.idleTimeoutMs;
      every(Math.min(1_000, Math.max(50, Math.floor(idle / 4))), () => {
        if (this.now() - turn.lastActivityAt() > idle)
          end({ kind: 'broken', error: `no activity from Codex for ${Math.round(idle / 1000)} s (idle timeout)` });
      });
      const maxRun = setTimeout(
        () => end({ kind: 'broken', error: `the run exceeded the maximum run time of ${Math.round(this.limits.maxRunMs / 1000)} s` }),
        this.limits.maxRunMs,
      );
      cleanups.push(() => clearTimeout(maxRun));
      void turn.exited.then((exit) =>
        end({
          kind: 'broken',
          error:
            turn.killedBecause() ??
            `codex app-server exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`}) before the turn completed`,
        }),
      );
    });
  }
}
