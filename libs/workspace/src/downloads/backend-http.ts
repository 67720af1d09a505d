import { attachmentError } from '../prompt';

/**
 * GETs against Wegent's backend (TASK_API_DOMAIN) for skills and attachments
 * (docs/protocol/wegent-protocol.md §11.8, §11.9), with the original's failure vocabulary.
 */

/** The logging surface the downloaders need; a pino logger fits. */
export interface DownloadLogger {
  debug(details: object, message: string): void;
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export type TransferFailure = 'http' | 'timeout' | 'cancelled' | 'request' | 'too-large' | 'io';

/** A failed transfer; `message` is the text reported for it (§11.9's per-file error texts). */
export class TransferError extends Error {
  constructor(
    readonly kind: TransferFailure,
    message: string,
  ) {
    super(message);
    this.name = 'TransferError';
  }
}

export const transferError = {
  http: (status: number) => new TransferError('http', attachmentError.http(status)),
  timeout: () => new TransferError('timeout', attachmentError.timeout),
  cancelled: () => new TransferError('cancelled', 'Download cancelled'),
  request: (cause: unknown) => new TransferError('request', attachmentError.request(errorText(cause))),
  tooLarge: (maxBytes: number) => new TransferError('too-large', `File too large: more than ${maxBytes} bytes`),
  io: (cause: unknown) => new TransferError('io', attachmentError.io(errorText(cause))),
} as const;

/**
 * A readable message for any thrown value. undici hides the useful part in `cause`
 * (`fetch failed` → `connect ECONNREFUSED 127.0.0.1:9`), so the chain is joined. Duck-typed:
 * errors from another realm (Node's own fetch seen from a Jest sandbox) fail `instanceof Error`.
 */
export function errorText(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const { message, name, cause, errors } = error as { message?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof message === 'string' && message !== '' ? message : '';
  if (!own && Array.isArray(errors) && errors.length > 0) return errors.map(errorText).join('; ');
  const text = own || (typeof name === 'string' && name) || String(error);
  const inner = cause === undefined || cause === null ? '' : errorText(cause);
  return inner && inner !== text ? `${text}: ${inner}` : text;
}

/** Where the backend is when nothing names it (the backend's service name in Wegent's compose file). */
export const DEFAULT_BACKEND_URL = 'http://wegent-backend:8000';

/**
 * The backend for skill and attachment downloads (docs/protocol/wegent-protocol-2026.md §1.2, hop EX → BE): the
 * operator's TASK_API_DOMAIN, else the task's `metadata.backend_url` (2026 bodies only), else the default.
 */
export function backendBaseUrl(configured: string | undefined, fromTask: string | null | undefined): string {
  if (configured) return configured;
  const task = fromTask?.trim();
  return task && /^https?:\/\//i.test(task) ? task : DEFAULT_BACKEND_URL;
}

/** `<apiDomain><path>`, whatever trailing slashes the configured domain has. */
export function backendUrl(apiDomain: string, path: string): string {
  return `${apiDomain.replace(/\/+$/, '')}${path}`;
}

/**
 * Aborts when no progress was made for `ms`: connecting, waiting for the headers, or between two
 * body chunks. That is the `timeout` of Python `requests` the original uses, so a large file on a
 * slow but live connection is not cut off.
 */
class IdleDeadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout;
  expired = false;
  readonly signal: AbortSignal;

  constructor(
    private readonly ms: number,
    outer?: AbortSignal,
  ) {
    this.signal = outer ? AbortSignal.any([this.controller.signal, outer]) : this.controller.signal;
    this.timer = this.arm();
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = this.arm();
  }

  dispose(): void {
    clearTimeout(this.timer);
  }

  private arm(): NodeJS.Timeout {
    return setTimeout(() => {
      this.expired = true;
      this.controller.abort();
    }, this.ms);
  }
}

export interface BackendGetOptions {
  /** Sent as `Authorization: Bearer <authToken>`; never logged. */
  authToken: string;
  /** Idle timeout (see IdleDeadline). */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * GETs `url` and hands a 200 answer to `consume` with its body as chunks. Failures of the
 * transfer itself are thrown as TransferError (`HTTP <status>`, `Download timeout`,
 * `Request error: …`, `Download cancelled`); errors thrown by `consume` pass through unchanged.
 */
export async function backendGet<T>(
  url: string,
  options: BackendGetOptions,
  consume: (body: AsyncIterable<Uint8Array>, response: Response) => Promise<T>,
): Promise<T> {
  if (options.signal?.aborted) throw transferError.cancelled();
  const deadline = new IdleDeadline(options.timeoutMs, options.signal);
  const classify = (error: unknown): TransferError => {
    if (deadline.expired) return transferError.timeout();
    if (options.signal?.aborted) return transferError.cancelled();
    return transferError.request(error);
  };
  try {
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { Authorization: `Bearer ${options.authToken}` },
        signal: deadline.signal,
        redirect: 'follow',
      });
    } catch (error) {
      throw classify(error);
    }
    deadline.touch();
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw transferError.http(response.status);
    }
    try {
      return await consume(bodyChunks(response, deadline, classify), response);
    } catch (error) {
      // Refused before reading (declared size): the unread body still holds the connection.
      await response.body?.cancel().catch(() => undefined);
      throw error;
    }
  } finally {
    deadline.dispose();
  }
}

async function* bodyChunks(
  response: Response,
  deadline: IdleDeadline,
  classify: (error: unknown) => TransferError,
): AsyncGenerator<Uint8Array> {
  if (!response.body) return;
  const reader = response.body.getReader();
  let finished = false;
  try {
    for (;;) {
      const step = await reader.read().catch((error: unknown) => {
        finished = true;
        throw classify(error);
      });
      if (step.done) {
        finished = true;
        return;
      }
      deadline.touch();
      yield step.value;
    }
  } finally {
    // The consumer stopped early (size cap, disk error): free the connection.
    if (!finished) await reader.cancel().catch(() => undefined);
  }
}

/** The whole body, refused as soon as it grows past `maxBytes` (declared or actual). */
export async function readCapped(body: AsyncIterable<Uint8Array>, response: Response, maxBytes: number): Promise<Buffer> {
  if (declaredLength(response) > maxBytes) throw transferError.tooLarge(maxBytes);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw transferError.tooLarge(maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** `Content-Length` as a number; 0 when absent or unusable. */
export function declaredLength(response: Response): number {
  const value = Number(response.headers.get('content-length'));
  return Number.isFinite(value) && value > 0 ? value : 0;
}
