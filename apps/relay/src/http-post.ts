import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { StringDecoder } from 'node:string_decoder';

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
 * POSTs to one URL over keep-alive connections (node:http, one pool of up to `maxSockets`). The
 * relay's callbacks were a third of its CPU with fetch (web streams, a Request and two composed
 * AbortSignals per attempt); a plain request on a pooled socket costs a fraction of it. Redirects
 * are never followed: a 3xx comes back as an answer.
 */
export class HttpPoster {
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;
  /** The URL taken apart once, not on every request. */
  private readonly target: RequestOptions;
  /** Host and the headers every request carries, as name, value, …: node:http writes them without re-validating an object's keys. */
  private readonly fixedHeaders: string[];

  /** `headers`: sent with every request (name → value). */
  constructor(url: string, maxSockets: number, headers: Record<string, string> = {}) {
    const parsed = new URL(url);
    const https = parsed.protocol === 'https:';
    // An idle connection is closed after 4 s, or 1 s before the keep-alive the server announces (uvicorn: 5 s),
    // so a request is not sent on a connection the server is closing.
    const options = { keepAlive: true, maxSockets, timeout: 4_000 };
    this.agent = https ? new HttpsAgent(options) : new HttpAgent(options);
    this.send = https ? httpsRequest : httpRequest;
    this.target = {
      protocol: parsed.protocol,
      hostname: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: parsed.port || undefined,
      path: `${parsed.pathname}${parsed.search}`,
    };
    // As node:http writes Host (an array of headers is sent as given): the URL's host, its port only when not the default.
    this.fixedHeaders = ['Host', parsed.host, ...Object.entries(headers).flat()];
  }

  /** `headers`: this request's own, as name, value, … (besides the fixed ones and Content-Length). */
  post(headers: readonly string[], payload: string, options: PostOptions): Promise<HttpAnswer> {
    const { signal, timeoutMs, graceMs } = options;
    return new Promise<HttpAnswer>((resolve, reject) => {
      let settled = false;
      let stopped: HttpPostError | undefined;
      let grace: NodeJS.Timeout | undefined;
      let req: ClientRequest;
      try {
        req = this.send({
          ...this.target,
          method: 'POST',
          agent: this.agent,
          headers: [...this.fixedHeaders, ...headers, 'Content-Length', String(Buffer.byteLength(payload))],
        });
      } catch (error) {
        // An invalid header value (node:http validates them here): its code, never the value.
        reject(new HttpPostError('network', networkError(error)));
        return;
      }
      const stop = (error: HttpPostError): void => {
        stopped ??= error;
        req.destroy(error);
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

      req.on('error', fail);
      req.on('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        // Always read to the end: that frees the keep-alive connection. The text of a success is never used.
        let text = '';
        if (status >= 200 && status < 300) res.resume();
        else {
          const decoder = new StringDecoder('utf8');
          res.on('data', (chunk: Buffer) => {
            if (text.length < KEPT_RESPONSE_CHARS) text += decoder.write(chunk).slice(0, KEPT_RESPONSE_CHARS - text.length);
          });
        }
        res.on('end', () => {
          const retryAfter = res.headers['retry-after'];
          finish(() => resolve({ status, text, ...(retryAfter !== undefined && { retryAfter }) }));
        });
        res.on('error', fail);
        res.on('close', () => {
          if (!settled) fail(new HttpPostError('network', 'connection closed before the answer was complete'));
        });
      });
      req.end(payload);
    });
  }

  /** Closes the pool's connections (requests still in flight fail). */
  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }
}

/** The interesting part of a socket error ("ECONNREFUSED …"). */
function networkError(error: unknown): string {
  const { code, cause } = error as { code?: string; cause?: { code?: string } };
  if (code) return code;
  if (cause?.code) return cause.code;
  return error instanceof Error ? error.message : String(error);
}
