import { z } from 'zod';

/**
 * The parts of the `codex app-server` JSON-RPC protocol (Codex CLI 0.169.0) that the service reads.
 * Parsing is tolerant: unknown fields, item types and methods pass through (docs/protocol/codex-cli-notes.md §5).
 */

/** One line from app-server stdout, classified by which of `id` / `method` it has. */
export const rpcResponseSchema = z.looseObject({
  id: z.union([z.number(), z.string()]),
  result: z.unknown().optional(),
  error: z.looseObject({ code: z.number(), message: z.string() }).optional(),
});
export const rpcServerRequestSchema = z.looseObject({
  id: z.union([z.number(), z.string()]),
  method: z.string(),
  params: z.unknown().optional(),
});
export const rpcNotificationSchema = z.looseObject({
  method: z.string(),
  params: z.unknown().optional(),
});
export type RpcResponse = z.infer<typeof rpcResponseSchema>;
export type RpcServerRequest = z.infer<typeof rpcServerRequestSchema>;
export type RpcNotification = z.infer<typeof rpcNotificationSchema>;

export type RpcLine =
  | { kind: 'response'; message: RpcResponse }
  | { kind: 'request'; message: RpcServerRequest }
  | { kind: 'notification'; message: RpcNotification }
  | { kind: 'invalid'; raw: string; reason: string };

/** Classify one stdout line (docs/protocol/codex-cli-notes.md §3). Never throws. */
export function classifyRpcLine(raw: string): RpcLine | null {
  const line = raw.trim();
  if (!line) return null;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: 'invalid', raw: line, reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { kind: 'invalid', raw: line, reason: 'not an object' };
  const hasId = 'id' in value;
  const hasMethod = 'method' in value;
  const parsed =
    hasId && hasMethod
      ? rpcServerRequestSchema.safeParse(value)
      : hasId
        ? rpcResponseSchema.safeParse(value)
        : rpcNotificationSchema.safeParse(value);
  if (!parsed.success) return { kind: 'invalid', raw: line, reason: parsed.error.issues[0]?.message ?? 'bad shape' };
  if (hasId && hasMethod) return { kind: 'request', message: parsed.data as RpcServerRequest };
  if (hasId) return { kind: 'response', message: parsed.data as RpcResponse };
  return { kind: 'notification', message: parsed.data as RpcNotification };
}

// ---- items (docs/protocol/codex-cli-notes.md §5.2) ----

export const codexItemSchema = z.looseObject({
  id: z.string(),
  type: z.string(),
  // agentMessage
  text: z.string().optional(),
  phase: z.string().nullish(),
  // reasoning
  summary: z.array(z.string()).optional(),
  content: z.unknown().optional(),
  // commandExecution
  command: z.string().optional(),
  cwd: z.string().optional(),
  status: z.string().optional(),
  aggregatedOutput: z.string().nullish(),
  exitCode: z.number().nullish(),
  durationMs: z.number().nullish(),
  // fileChange
  changes: z
    .array(
      z.looseObject({
        path: z.string(),
        kind: z.looseObject({ type: z.string(), move_path: z.string().nullish() }),
        diff: z.string().optional(),
      }),
    )
    .optional(),
  // mcpToolCall
  server: z.string().optional(),
  tool: z.string().optional(),
  arguments: z.unknown().optional(),
  result: z.unknown().optional(),
  error: z.looseObject({ message: z.string() }).nullish(),
  // webSearch
  query: z.string().optional(),
  action: z.unknown().optional(),
  // imageView
  path: z.string().optional(),
});
export type CodexItem = z.infer<typeof codexItemSchema>;

export const tokenUsageBreakdownSchema = z.looseObject({
  totalTokens: z.number(),
  inputTokens: z.number(),
  cachedInputTokens: z.number(),
  cacheWriteInputTokens: z.number().optional(),
  outputTokens: z.number(),
  reasoningOutputTokens: z.number(),
});
export type TokenUsageBreakdown = z.infer<typeof tokenUsageBreakdownSchema>;

export const turnSchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  error: z
    .looseObject({ message: z.string(), additionalDetails: z.unknown().optional(), codexErrorInfo: z.unknown().optional() })
    .nullish(),
  durationMs: z.number().nullish(),
});

/** Params of the notifications the service maps, keyed by method. */
export const codexNotificationParams = {
  'thread/started': z.looseObject({ thread: z.looseObject({ id: z.string() }) }),
  'turn/started': z.looseObject({ threadId: z.string(), turn: turnSchema }),
  'turn/completed': z.looseObject({ threadId: z.string(), turn: turnSchema }),
  'item/started': z.looseObject({ threadId: z.string().nullish(), turnId: z.string().nullish(), item: codexItemSchema }),
  'item/completed': z.looseObject({ threadId: z.string().nullish(), turnId: z.string().nullish(), item: codexItemSchema }),
  'item/agentMessage/delta': z.looseObject({
    threadId: z.string().nullish(),
    turnId: z.string().nullish(),
    itemId: z.string(),
    delta: z.string(),
  }),
  'item/reasoning/summaryTextDelta': z.looseObject({
    threadId: z.string().nullish(),
    turnId: z.string().nullish(),
    itemId: z.string(),
    delta: z.string(),
    summaryIndex: z.number().int().nonnegative().nullish(),
  }),
  'turn/plan/updated': z.looseObject({
    threadId: z.string().nullish(),
    turnId: z.string().nullish(),
    explanation: z.string().nullish(),
    plan: z.array(z.looseObject({ step: z.string(), status: z.string() })),
  }),
  'turn/diff/updated': z.looseObject({ threadId: z.string().nullish(), turnId: z.string().nullish(), diff: z.string() }),
  'thread/tokenUsage/updated': z.looseObject({
    threadId: z.string().nullish(),
    turnId: z.string().nullish(),
    tokenUsage: z.looseObject({
      total: tokenUsageBreakdownSchema,
      last: tokenUsageBreakdownSchema.optional(),
      modelContextWindow: z.number().nullish(),
    }),
  }),
  'mcpServer/startupStatus/updated': z.looseObject({
    threadId: z.string().nullish(),
    name: z.string(),
    status: z.string(),
    error: z.unknown().optional(),
  }),
  error: z.looseObject({
    error: z.looseObject({ message: z.string(), additionalDetails: z.unknown().optional(), codexErrorInfo: z.unknown().optional() }),
    willRetry: z.boolean(),
    threadId: z.string().nullish(),
    turnId: z.string().nullish(),
  }),
  warning: z.looseObject({ threadId: z.string().nullish(), message: z.string() }),
} as const;
export type CodexNotificationMethod = keyof typeof codexNotificationParams;
export type CodexNotificationParams<M extends CodexNotificationMethod> = z.infer<(typeof codexNotificationParams)[M]>;

/** Responses of the requests the service sends. */
export const threadResponseSchema = z.looseObject({
  thread: z.looseObject({ id: z.string() }),
  model: z.string().optional(),
  modelProvider: z.string().optional(),
  approvalPolicy: z.unknown().optional(),
  sandbox: z.unknown().optional(),
  cwd: z.string().optional(),
});
export const turnStartResponseSchema = z.looseObject({ turn: turnSchema });
export type ThreadResponse = z.infer<typeof threadResponseSchema>;
