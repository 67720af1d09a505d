import { Inject, Injectable } from '@nestjs/common';
import { isTraceparent, jobIdFor, type Config } from '@wegent-codex/contracts';
import type { AnyPlannedCallback } from '@wegent-codex/event-log';
import { CONFIG, LOGGER, type Logger } from '@wegent-codex/runtime';
import { fullJitterDelay, sleep } from './backoff';
import { callbackJson } from './callback-json';
import { HttpPostError, HttpPoster } from './http-post';
import { RELAY_METRICS, type RelayMetrics } from './relay-metrics';
import { relayTimings } from './relay-timings';

/** How one callback ended. Never an exception: the caller moves on or stops accordingly. */
export type SendOutcome =
  | { result: 'delivered'; status: number; attempts: number }
  /** A 4xx (other than 408/429) or 3xx: retrying cannot help. Logged as an error. */
  | { result: 'rejected'; status: number; attempts: number }
  /** Still failing after CALLBACK_RETRY_FOR_MS. Logged as an error. */
  | { result: 'expired'; attempts: number; lastFailure: string }
  /** The signal aborted (shutdown or lost lock): unknown whether EM got it; it will be resent. */
  | { result: 'aborted'; attempts: number };

type Attempt =
  { ok: true; status: number } | { ok: false; retry: boolean; reason: string; status?: number; detail?: string; retryAfterMs?: number };

/** Response text kept in logs: enough to diagnose a 4xx, never a whole echoed body. */
const LOGGED_RESPONSE_CHARS = 200;
const RETRYABLE_STATUS = new Set([408, 429]);
/**
 * How long a request already on the wire may still take once the relay stops or loses its lock:
 * enough for EM's answer to arrive (so a 2026 delta it took is not sent again), short enough for
 * a prompt shutdown when EM hangs.
 */
export const IN_FLIGHT_GRACE_MS = 2_000;

/** Built from the event (and the part of it); merged 2026 deltas name the first and last event they carry. */
export const idempotencyKey = (callback: AnyPlannedCallback): string =>
  `wegent-codex:${callback.body.task_id}:${callback.body.subtask_id}:${callback.firstEventId ? `${callback.firstEventId}..` : ''}${callback.eventId}${callback.part ? `:${callback.part}` : ''}`;

/**
 * POSTs one callback to CALLBACK_URL until executor_manager takes it (docs/protocol/wegent-protocol.md §4.1).
 * Each attempt has its own timeout; 5xx, 408, 429, timeouts and network errors are retried with
 * full-jitter exponential back-off for up to CALLBACK_RETRY_FOR_MS, so an EM outage of minutes
 * loses nothing. The `Idempotency-Key` is the same on every attempt and in every relay; the
 * run's W3C `traceparent` (from the task's submission) goes with every callback of the subtask.
 */
@Injectable()
export class CallbackSender {
  private readonly poster?: HttpPoster;
  private readonly logger: Logger;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
    @Inject(RELAY_METRICS) private readonly metrics: RelayMetrics,
  ) {
    if (config.CALLBACK_URL) {
      const { url, authorization } = splitCredentials(config.CALLBACK_URL);
      const fixed: Record<string, string> = { 'Content-Type': 'application/json', ...(authorization && { Authorization: authorization }) };
      // One connection per subtask delivered at once: a callback never waits for a free socket.
      this.poster = new HttpPoster(url, relayTimings(config).maxInFlight, fixed);
    }
    this.logger = logger.child({ component: 'relay' });
  }

  /**
   * Closes the connections to executor_manager (the relay calls it once its passes are done): an
   * idle keep-alive connection would otherwise stay open on EM's side for up to 4 s after the relay
   * stopped. A send after it fails as a network error.
   */
  async close(): Promise<void> {
    await this.poster?.close();
  }

  async send(callback: AnyPlannedCallback, signal: AbortSignal): Promise<SendOutcome> {
    const poster = this.poster;
    if (!poster) throw new Error('CallbackSender.send needs CALLBACK_URL');
    const { CALLBACK_RETRY_BASE_MS: base, CALLBACK_RETRY_MAX_MS: max, CALLBACK_RETRY_FOR_MS: retryFor } = this.config;
    const payload = callbackJson(callback.body);
    // Content-Type and Authorization are the poster's own, on every request.
    const headers = isTraceparent(callback.traceparent)
      ? ['Idempotency-Key', idempotencyKey(callback), 'traceparent', callback.traceparent]
      : ['Idempotency-Key', idempotencyKey(callback)];
    const deadline = Date.now() + retryFor;
    // Made only when a line is written: a child logger per callback was a measurable part of the relay's CPU.
    let child: Logger | undefined;
    const log = () =>
      (child ??= this.logger.child({
        task_id: callback.body.task_id,
        subtask_id: callback.body.subtask_id,
        job_id: jobIdFor(callback.body.task_id, callback.body.subtask_id),
        event_id: callback.eventId,
        kind: callback.kind,
        ...('event_type' in callback.body
          ? { event_type: callback.body.event_type }
          : { progress: callback.body.progress, status: callback.body.status }),
      }));

    for (let attempts = 1; ; attempts += 1) {
      if (signal.aborted) return { result: 'aborted', attempts: attempts - 1 };
      // A request already on the wire gets IN_FLIGHT_GRACE_MS to finish after an abort: its answer
      // moves the cursor, so a 2026 delta EM took is not sent again by the next relay.
      const attempt = await this.attempt(poster, headers, payload, signal);
      if (signal.aborted && !attempt.ok) return { result: 'aborted', attempts };
      if (attempt.ok) {
        if (this.logger.isLevelEnabled('debug')) log().debug({ attempts, http_status: attempt.status }, 'callback delivered');
        return { result: 'delivered', status: attempt.status, attempts };
      }
      if (!attempt.retry) {
        this.metrics.failed('rejected');
        log().error(
          { attempts, http_status: attempt.status, response: attempt.detail },
          `callback rejected with ${attempt.reason}; not retried, moving on to the next one`,
        );
        return { result: 'rejected', status: attempt.status ?? 0, attempts };
      }
      const delay = Math.min(max, Math.max(fullJitterDelay(attempts - 1, base, max), attempt.retryAfterMs ?? 0));
      if (Date.now() + delay > deadline) {
        this.metrics.failed('expired');
        log().error(
          { attempts, last_failure: attempt.reason, retry_for_ms: retryFor },
          'callback still failing after CALLBACK_RETRY_FOR_MS; given up, moving on to the next one',
        );
        return { result: 'expired', attempts, lastFailure: attempt.reason };
      }
      this.metrics.retried(attempt.status !== undefined ? String(attempt.status) : attempt.reason);
      // The first failure and every tenth are worth a line; an outage would flood the log otherwise.
      const level = attempts === 1 || attempts % 10 === 0 ? 'warn' : 'debug';
      log()[level]({ attempts, failure: attempt.reason, response: attempt.detail, retry_in_ms: delay }, 'callback failed; retrying');
      if (!(await sleep(delay, signal))) return { result: 'aborted', attempts };
    }
  }

  private async attempt(poster: HttpPoster, headers: readonly string[], payload: string, signal: AbortSignal): Promise<Attempt> {
    try {
      const {
        status,
        text,
        retryAfter: retryAfterHeader,
      } = await poster.post(headers, payload, {
        timeoutMs: this.config.CALLBACK_TIMEOUT_MS,
        signal,
        graceMs: IN_FLIGHT_GRACE_MS,
      });
      if (status >= 200 && status < 300) return { ok: true, status };
      const detail = truncate(text);
      const retry = status >= 500 || RETRYABLE_STATUS.has(status);
      return { ok: false, retry, reason: `HTTP ${status}`, status, detail, retryAfterMs: retryAfter(retryAfterHeader ?? null) };
    } catch (error) {
      if (error instanceof HttpPostError && error.kind === 'timeout') return { ok: false, retry: true, reason: 'timeout' };
      return { ok: false, retry: true, reason: 'network', detail: error instanceof HttpPostError ? error.detail : String(error) };
    }
  }
}

/**
 * Credentials in CALLBACK_URL (user:password@) are not sent from the URL:
 * they become a Basic Authorization header.
 */
export function splitCredentials(raw: string): { url: string; authorization?: string } {
  const url = new URL(raw);
  if (!url.username && !url.password) return { url: raw };
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = '';
  url.password = '';
  return { url: url.toString(), authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}

function truncate(text: string): string | undefined {
  if (text === '') return undefined;
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > LOGGED_RESPONSE_CHARS ? `${flat.slice(0, LOGGED_RESPONSE_CHARS)}…` : flat;
}

/** Retry-After in seconds (HTTP dates are rare from EM and ignored). */
function retryAfter(header: string | null): number | undefined {
  const seconds = header === null ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}
