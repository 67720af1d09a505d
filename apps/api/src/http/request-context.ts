import { randomBytes } from 'node:crypto';
import type { Logger } from '@wegent-codex/runtime';
import type { HttpRequest, HttpResponse, NextFunction } from './http-types';

/** An incoming X-Request-ID is echoed only when it is a plain token (it lands in headers and logs). */
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Polled paths (probes, Prometheus, Bull Board's own refresh): logged at debug, not info. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);
const isPolling = (method: string | undefined, path: string): boolean =>
  PROBES.has(path) || (method === 'GET' && (path === '/admin/queues' || path.startsWith('/admin/queues/')));

export function requestIdOf(res: HttpResponse): string {
  return String(res.locals.requestId ?? '');
}

/**
 * Gives every request an id — the caller's `X-Request-ID` or a fresh 8-character one, echoed in
 * the response header like the Wegent executor does — and logs one line when it ends: ids,
 * method, path (never the query or the body), status, duration.
 */
export function requestContext(logger: Logger) {
  return (req: HttpRequest, res: HttpResponse, next: NextFunction): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && ACCEPTED_REQUEST_ID.test(given) ? given : randomBytes(4).toString('hex');
    res.locals.requestId = id;
    res.setHeader('X-Request-ID', id);

    const started = process.hrtime.bigint();
    res.once('close', () => {
      const path = req.path;
      const line = {
        request_id: id,
        method: req.method,
        path,
        status: res.statusCode,
        ms: Number((process.hrtime.bigint() - started) / 1_000_000n),
        ...(res.writableFinished ? {} : { aborted: true }),
      };
      if (isPolling(req.method, path)) logger.debug(line, 'http request');
      else logger.info(line, 'http request');
    });
    next();
  };
}
