import { answerServerRequest, METHOD_NOT_SUPPORTED } from './server-requests';

describe('answerServerRequest', () => {
  it.each([
    ['item/commandExecution/requestApproval', { decision: 'accept' }],
    ['item/fileChange/requestApproval', { decision: 'accept' }],
    ['item/permissions/requestApproval', { permissions: {}, scope: 'turn' }],
    ['item/tool/requestUserInput', { answers: {} }],
    ['mcpServer/elicitation/request', { action: 'decline', content: null, _meta: null }],
    ['item/tool/call', { contentItems: [], success: false }],
    ['execCommandApproval', { decision: 'approved' }],
    ['applyPatchApproval', { decision: 'approved' }],
  ])('answers %s', (method, result) => {
    expect(answerServerRequest(method)).toEqual({ result });
  });

  it.each(['account/chatgptAuthTokens/refresh', 'attestation/generate', 'something/new'])('refuses %s', (method) => {
    expect(answerServerRequest(method)).toEqual({ error: { code: METHOD_NOT_SUPPORTED, message: expect.stringContaining(method) } });
  });
});
