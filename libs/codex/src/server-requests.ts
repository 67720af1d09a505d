/**
 * Answers to the requests `codex app-server` sends to its client (docs/protocol/codex-cli-notes.md §6). A Wegent
 * run has nobody to ask, and an unanswered request blocks the turn, so every request gets an
 * answer at once: approvals are accepted (the service runs `danger-full-access` + `never` anyway),
 * questions and elicitations are declined, anything else is "not supported".
 */

export type ServerRequestAnswer = { result: unknown } | { error: { code: number; message: string } };

export const METHOD_NOT_SUPPORTED = -32601;

const ANSWERS: Readonly<Record<string, unknown>> = {
  'item/commandExecution/requestApproval': { decision: 'accept' },
  'item/fileChange/requestApproval': { decision: 'accept' },
  'item/permissions/requestApproval': { permissions: {}, scope: 'turn' },
  'item/tool/requestUserInput': { answers: {} },
  'mcpServer/elicitation/request': { action: 'decline', content: null, _meta: null },
  'item/tool/call': { contentItems: [], success: false },
  execCommandApproval: { decision: 'approved' },
  applyPatchApproval: { decision: 'approved' },
};

export function answerServerRequest(method: string): ServerRequestAnswer {
  const result = ANSWERS[method];
  if (result !== undefined) return { result: structuredClone(result) };
  return { error: { code: METHOD_NOT_SUPPORTED, message: `${method} is not supported by wegent_codex` } };
}
