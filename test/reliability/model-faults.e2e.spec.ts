import { closeEarly, exec, hang, httpError, message, turn } from '../fixtures/fake-responses';
import { expectSingleTerminalLast, startServiceApp, taskPayload, type ServiceApp, type ThinkingStep } from '../support/service-app';
import { eventually } from '../support/test-config';
import { processesUnder } from './reliability-scene';

/**
 * Codex crashing or stalling because of its model: 500s, a stream closed early, a stream that
 * hangs (with a command still running). Each ends with the expected single terminal callback, and
 * nothing Codex started is left running.
 */
describe('faults on the model side', () => {
  let svc: ServiceApp;

  beforeAll(async () => {
    svc = await startServiceApp('model-faults', {
      env: { CODEX_IDLE_TIMEOUT_MS: '4000', CODEX_STREAM_IDLE_TIMEOUT_MS: '120000', CANCEL_GRACE_MS: '1000' },
    });
  }, 60_000);
  afterAll(async () => {
    await svc?.close();
  }, 60_000);

  const run = async (taskId: number) => {
    const res = await svc.execute(taskPayload(svc, taskId, 1, 'go', { apiKey: 'sk-model-faults-key-123456' }));
    expect(res.status).toBe(200);
    await svc.waitTerminal(taskId, 1, 60_000);
    const callbacks = await expectSingleTerminalLast(svc, taskId, 1);
    await eventually(async () => (await processesUnder(`${svc.workspaceRoot}/${taskId}`)).length === 0, 15_000);
    return callbacks;
  };

  it('the model answers 500 (no retries): FAILED with the provider error', async () => {
    svc.router.script(9501, httpError(500, { error: { message: 'upstream exploded', type: 'server_error' } }));
    const terminal = (await run(9501)).at(-1)!;
    expect(terminal).toMatchObject({ status: 'FAILED', progress: 100 });
    expect(terminal.error_message).toMatch(/500|high demand|upstream exploded/);
    expect((terminal.result as Record<string, any>).workbench.status).toBe('failed');
  }, 90_000);

  it('the stream closes before response.completed: FAILED, the turn is over', async () => {
    svc.router.script(9502, closeEarly([message('Half an ans', { phase: 'final_answer' })]));
    const terminal = (await run(9502)).at(-1)!;
    expect(terminal).toMatchObject({ status: 'FAILED', progress: 100 });
    expect(terminal.error_message).toMatch(/stream/i);
  }, 90_000);

  it('the stream hangs while a command runs: the idle watchdog fails the run and kills the command', async () => {
    svc.router.script(9503, turn([exec('sleep 300', { yieldTimeMs: 600_000 })]), hang());
    const callbacks = await run(9503);
    const terminal = callbacks.at(-1)!;
    expect(terminal.status).toBe('FAILED');
    expect(terminal.error_message).toMatch(/^Error processing response: .*idle timeout/);
    const steps = (terminal.result as Record<string, any>).thinking as ThinkingStep[];
    expect(steps.at(-1)?.title).toBe('thinking.response_processing_error');
  }, 90_000);

  it('a model that recovers serves the next task normally (the service stays healthy)', async () => {
    svc.router.script(9504, turn([message('Back to normal.', { phase: 'final_answer' })]));
    const terminal = (await run(9504)).at(-1)!;
    expect(terminal).toMatchObject({ status: 'COMPLETED', error_message: 'Back to normal.' });
  }, 90_000);
});
