import { z } from 'zod';
import { ApiError, issuesOf } from './http/api-error';

/** A decimal id as it appears in a path or query: digits only (no sign, exponent, blanks). */
const idParam = z
  .string({ error: (issue) => (issue.input === undefined ? 'required' : 'must be a non-negative integer') })
  .regex(/^\d{1,15}$/, 'must be a non-negative integer')
  .transform(Number);

/** A Redis stream id ("1718000000000-0"), a bare millisecond time, or "0" for the start. */
const streamIdParam = z.string().regex(/^\d{1,20}(-\d{1,20})?$/, 'must be an event id such as "1718000000000-0", or "0"');

export const subtaskParamsSchema = z.object({ task_id: idParam, subtask_id: idParam });
export const taskParamsSchema = z.object({ task_id: idParam });
export const cancelParamsSchema = z.object({ task_id: idParam, subtask_id: idParam.optional() });
export const eventsQuerySchema = z.object({
  after: streamIdParam.optional(),
  limit: z
    .string()
    .regex(/^\d{1,5}$/, 'must be an integer from 1 to 10000')
    .transform(Number)
    .pipe(z.number().min(1, 'must be an integer from 1 to 10000').max(10_000, 'must be an integer from 1 to 10000'))
    .optional(),
});
export const lastEventIdSchema = z.object({ 'Last-Event-ID': streamIdParam });

/** Parses path/query values or throws a 400 `{error, issues}` naming each bad parameter. */
export function parseParams<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw ApiError.badRequest(`invalid ${what}`, issuesOf(parsed.error));
  return parsed.data;
}
