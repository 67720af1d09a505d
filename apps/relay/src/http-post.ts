import { StringDecoder } from 'node:string_decoder';
import { Pool, type Dispatcher } from 'undici';

/** What executor_manager answered. */
export interface HttpAnswer {
  status: number;
  /** The start of the response body when not a 2xx (enough for a log line; the rest, and a 2xx's body, drained unread). */
  text: string;
  retryAfter?: string;
}

/** Why no answer came: `timeout` (the attempt's own), `abandoned` (aborted and past the grace) or `network`. */
export class HttpPostError extends Error {
  constructor(
    readonly kind: 'timeout' | 'abandoned' | 'network',
    readonly detail: string,
  ) {
    super(`${kind}: ${detail}`);
  }
}

export interface PostOptions {
  timeoutMs: number;
  /** Once aborted, a request already sent still gets `graceMs` for its answer, then is abandoned. */
  signal: AbortSignal;
  graceMs: number;
}

/** Response text kept: enough to diagnose a 4xx, never a whole echoed body. */
const KEPT_RESPONSE_CHARS = 4_096;

/**
 * POSTs to one URL over keep-alive connections: an undici `Pool` of up to `maxSockets`, driven
 * through `dispatch` with a handler of our own (no response stream, no Request object). A warm
 * relay spent ~15 % less CPU per callback than on node:http's ClientRequest (docs/benchmarks-notes.md,
 * eighth round); a cold one spends about the same, which is why an earlier round that measured
 * from the relay's start saw no gain. Redirects are never followed: a 3xx comes back as an answer.
 * TLS certificates are verified (Node's defaults).
 */
export class HttpPoster {
  private readonly pool: Pool;
  /** Path and query of the URL, taken apart once. */
  private readonly path: string;
  /** The headers every request carries, as name, value, … (undici adds Host and Content-Length). */
  private readonly fixedHeaders: string[];

  /** `headers`: sent with every request (name → value). */
  constructor(url: string, maxSockets: number, headers: Record<string, string> = {}) {
    const parsed = new URL(url);
    this.pool = new Pool(parsed.origin, {
      connections: maxSockets,
      // An idle connection is closed after 4 s, or 1 s before the keep-alive the server announces
      // (uvicorn: 5 s), so a request is not sent on a connection the server is closing.
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 4_000,
      keepAliveTimeoutThreshold: 1_000,
      // The attempt's own timeout (`timeoutMs`) is the only one.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.path = `${parsed.pathname}${parsed.search}`;
    this.fixedHeaders = Object.entries(headers).flat();
  }

  /** `headers`: this request's own, as name, value, … (besides the fixed ones). */
  post(headers: readonly string[], payload: string, options: PostOptions): Promise<HttpAnswer> {
    const { signal, timeoutMs, graceMs } = options;
    return new Promise<HttpAnswer>((resolve, reject) => {
      let settled = false;
      let stopped: HttpPostError | undefined;
      let request: Dispatcher.DispatchController | undefined;
      let grace: NodeJS.Timeout | undefined;
      let status = 0;
      let retryAfter: string | undefined;
      let text = '';
      let decoder: StringDecoder | undefined;

      // On a socket: abort it (its answer, or the abort, settles the post). Still waiting for a
      // connection: settle now, so the wait is bounded by `timeoutMs` whatever the pool does; when a
      // connection comes, onRequestStart aborts the request before a byte of it is written.
      const stop = (error: HttpPostError): void => {
        stopped ??= error;
        if (request) request.abort(error);
        else fail(error);
      };
      const timeout = setTimeout(() => stop(new HttpPostError('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs);
      const giveUp = (): void => {
        grace = setTimeout(() => stop(new HttpPostError('abandoned', 'aborted')), graceMs);
      };
      const finish = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        clearTimeout(grace);
        signal.removeEventListener('abort', giveUp);
        outcome();
      };
      const fail = (error: unknown): void =>
        finish(() => reject(stopped ?? (error instanceof HttpPostError ? error : new HttpPostError('network', networkError(error)))));
      if (signal.aborted) giveUp();
      else signal.addEventListener('abort', giveUp, { once: true });

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(controller) {
          request = controller;
          if (stopped) controller.abort(stopped);
        },
        onResponseStart(_controller, statusCode, responseHeaders) {
          if (statusCode < 200) return; // an informational answer: the real one follows
          status = statusCode;
          const header = responseHeaders['retry-after'];
          retryAfter = Array.isArray(header) ? header[0] : header;
          // Only a failure's text is kept; a success's body is read (the connection stays usable) and dropped.
          if (status < 200 || status >= 300) decoder = new StringDecoder('utf8');
        },
        onResponseData(_controller, chunk) {
          if (decoder && text.length < KEPT_RESPONSE_CHARS) text += decoder.write(chunk).slice(0, KEPT_RESPONSE_CHARS - text.length);
        },
        onResponseEnd() {
          finish(() => resolve({ status, text, ...(retryAfter !== undefined && { retryAfter }) }));
        },
        onResponseError(_controller, error) {
          // An invalid header value lands here too, as undici's own error (its code, never the value).
          fail(error);
        },
      };
      try {
        this.pool.dispatch({ path: this.path, method: 'POST', headers: [...this.fixedHeaders, ...headers], body: payload }, handler);
      } catch (error) {
        fail(error);
      }
    });
  }

  /** Closes the pool's connections (requests still in flight fail). */
  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/** The interesting part of a socket error ("ECONNREFUSED …"). */
function networkError(error: unknown): string {
  const { code, cause } = error as { code?: string; cause?: { code?: string } };
  if (code) return code;
  if (cause?.code) return cause.code;
  return error instanceof Error ? error.message : String(error);
}
