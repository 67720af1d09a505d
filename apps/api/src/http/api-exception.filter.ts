import { Catch, HttpException, Inject, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Config } from '@wegent-codex/contracts';
import { CONFIG, LOGGER, type Logger } from '@wegent-codex/runtime';
import { ApiError } from './api-error';
import type { HttpRequest, HttpResponse } from './http-types';
import { requestIdOf } from './request-context';
import { requestMasker } from './secret-mask';

/**
 * Every error a route throws ends here, answered as JSON:
 * - ApiError: its status and body as built by the route;
 * - Nest's own HttpExceptions (an unknown route is a NotFoundException): `{error}`;
 * - anything else: 500 `{error: "internal error", request_id}`, logged once, with every secret
 *   the request carried masked out of the message and stack.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<HttpRequest>();
    const res = http.getResponse<HttpResponse>();
    const requestId = requestIdOf(res);

    if (exception instanceof ApiError) {
      this.reply(res, exception.getStatus(), exception.body);
      return;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      // Nest's message for an unknown route quotes the whole URL; the query may carry anything.
      const error = status === 404 ? `no route for ${req.method} ${req.path}` : exception.message;
      this.reply(res, status, { error });
      return;
    }

    const mask = requestMasker(req, this.config);
    const err = exception instanceof Error ? exception : new Error(String(exception));
    this.logger.error(
      {
        request_id: requestId,
        method: req.method,
        path: req.path,
        err: { type: err.name, message: mask.maskText(err.message), stack: mask.maskText(err.stack ?? '') },
      },
      'request failed',
    );
    this.reply(res, 500, { error: 'internal error', request_id: requestId });
  }

  private reply(res: HttpResponse, status: number, body: Record<string, unknown>): void {
    // An SSE stream that already started cannot carry a JSON error; closing it is the answer.
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status).json(body);
  }
}
