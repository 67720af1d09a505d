import type { HttpRequest, HttpResponse, NextFunction } from './http-types';

interface BodyParserError {
  type: string;
  status?: number;
  message: string;
}

const isBodyParserError = (error: unknown): error is BodyParserError =>
  typeof error === 'object' && error !== null && typeof (error as { type?: unknown }).type === 'string';

/**
 * Answers the JSON body parser's failures in the api's error shape. The parser's own message is
 * never echoed for a parse failure: V8 quotes the start of the body in it, which may hold a key.
 */
export function bodyParserErrors(limitBytes: number) {
  return (error: unknown, _req: HttpRequest, res: HttpResponse, next: NextFunction): void => {
    if (!isBodyParserError(error) || res.headersSent) {
      next(error);
      return;
    }
    switch (error.type) {
      case 'entity.parse.failed':
        res.status(400).json({ error: 'request body is not valid JSON', issues: [] });
        return;
      case 'entity.too.deep':
        res.status(400).json({ error: error.message, issues: [] });
        return;
      case 'entity.too.large':
        res.status(413).json({ error: `request body is larger than ${limitBytes} bytes (MAX_PAYLOAD_BYTES)` });
        return;
      default: {
        const status = error.status && error.status >= 400 && error.status < 500 ? error.status : 400;
        res.status(status).json({ error: `unreadable request body: ${error.message}`, issues: [] });
      }
    }
  };
}
