import type { ArgumentsHost } from '@nestjs/common';
import { loadConfig } from '@wegent-codex/contracts';
import type { Logger } from '@wegent-codex/runtime';
import { EXAMPLE_SECRETS, examplePayload, startApi } from '../../../../test/support/api-harness';
import { ApiExceptionFilter } from './api-exception.filter';

describe('ApiExceptionFilter', () => {
  it('answers an unexpected error with a generic 500 and logs it once, secrets masked', () => {
    const logged: unknown[][] = [];
    const logger = { error: (...args: unknown[]) => logged.push(args) } as unknown as Logger;
    const filter = new ApiExceptionFilter(logger, loadConfig({ API_TOKEN: 'operator-token-123' }));
    const reply: { status?: number; body?: unknown } = {};
    const res = {
      headersSent: false,
      locals: { requestId: 'abcd1234' },
      status(code: number) {
        reply.status = code;
        return this;
      },
      json(body: unknown) {
        reply.body = body;
        return this;
      },
    };
    const req = {
      method: 'POST',
      path: '/api/tasks/execute',
      headers: { authorization: 'Bearer operator-token-123' },
      body: examplePayload(),
    };
    const host = { switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }) } as unknown as ArgumentsHost;

    filter.catch(new Error(`upstream said no to ${EXAMPLE_SECRETS.apiKey} with operator-token-123 and ${EXAMPLE_SECRETS.gitToken}`), host);

    expect(reply).toEqual({ status: 500, body: { error: 'internal error', request_id: 'abcd1234' } });
    expect(logged).toHaveLength(1);
    const line = JSON.stringify(logged[0]);
    expect(line).toContain('upstream said no to ******** with ******** and ********');
    for (const secret of [...Object.values(EXAMPLE_SECRETS), 'operator-token-123']) expect(line).not.toContain(secret);
  });

  it('turns a corrupt event log into a 500 JSON answer, not a crash', async () => {
    const api = await startApi();
    try {
      await api.redis.xadd(`${api.prefix}:events:901:1`, '*', 'seq', '1', 'type', 'chunk', 'ts', 'now', 'body', '{"type":"chunk"}');
      const res = await fetch(`${api.baseUrl}/v1/tasks/901/subtasks/1`, { headers: { 'x-request-id': 'corrupt-1' } });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'internal error', request_id: 'corrupt-1' });
      expect(api.logs.filter((line) => line.includes('"request failed"') && line.includes('corrupt-1'))).toHaveLength(1);
      expect((await fetch(`${api.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      await api.close();
    }
  });
});
