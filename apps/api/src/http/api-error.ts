import { HttpException } from '@nestjs/common';
import type { z } from 'zod';

/** One reason a request was refused, e.g. `{path: "bot.0.shell_type", message: "Invalid input: …"}`. */
export interface Issue {
  path: string;
  message: string;
}

/** Most issues one answer lists; a payload that is wrong everywhere needs no 10 000-line reply. */
const MAX_ISSUES = 50;

/**
 * An error answered exactly with `body` (already in the route's wire shape: `{error, issues}` for
 * the service's own errors, `{detail}` for the executor-compatible ones). Anything else thrown
 * from a handler becomes a generic 500 (see ApiExceptionFilter).
 */
export class ApiError extends HttpException {
  constructor(
    status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(body, status);
  }

  static badRequest(error: string, issues: Issue[] = []): ApiError {
    return new ApiError(400, { error, issues: issues.slice(0, MAX_ISSUES) });
  }

  static notFound(error: string): ApiError {
    return new ApiError(404, { error });
  }

  static unavailable(error: string, extra: Record<string, unknown> = {}): ApiError {
    return new ApiError(503, { error, ...extra });
  }
}

/** zod issues as `{path: "a.0.b", message}`. Never the offending value: it may be a secret. */
export function issuesOf(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

/**
 * Resolves like `work`, or rejects with a 503 ApiError once `ms` have passed. The work itself is
 * not cancelled (a Redis command cannot be taken back); the caller only stops waiting.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(ApiError.unavailable(`${what}: Redis did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
