import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The parts of Express's request and response the api uses. The project has no @types/express;
 * these name only what Express 5 really provides.
 */
export interface HttpRequest extends IncomingMessage {
  body?: unknown;
  /** URL path without the query string. */
  path: string;
  query: Record<string, unknown>;
}

export interface HttpResponse extends ServerResponse {
  locals: Record<string, unknown>;
  status(code: number): this;
  json(body: unknown): this;
}

export type NextFunction = (error?: unknown) => void;
