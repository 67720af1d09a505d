import type { Config } from '@wegent-codex/contracts';
import type { PlannedCallback } from '@wegent-codex/event-log';
import { createLogger } from '@wegent-codex/runtime';
import { FakeExecutorManager } from '../../../test/fixtures/fake-executor-manager';
import { testConfig } from '../../../test/support/test-config';
import { CallbackSender, idempotencyKey, type SendOutcome } from './callback-sender';
import { RelayCounters } from './relay-metrics';

const callback: PlannedCallback = {
  eventId: '1700000000000-3',
  seq: 3,
  kind: 'step',
  body: {
    task_id: 305,
    subtask_id: 812,
    task_title: 'Fix login bug',
    subtask_title: 'Fix login bug - Assistant',
    executor_name: 'codex-test',
    progress: 75,
    status: 'RUNNING',
    error_message: 'Thinking: thinking.assistant_message_received',
    result: { thinking: [{ title: 'thinking.assistant_message_received', next_action: 'continue' }] },
    task_type: 'online',
  },
};

/** Fails the test instead of hanging when `promise` does not settle in time. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

jest.setTimeout(20_000);

describe('CallbackSender', () => {
  let em: FakeExecutorManager;
  let metrics: RelayCounters;
  let abort: AbortController;

  const sender = (env: Record<string, string> = {}): CallbackSender => {
    const config: Config = testConfig('relay-sender', {
      CALLBACK_URL: em.url,
      CALLBACK_TIMEOUT_MS: '2000',
      CALLBACK_RETRY_BASE_MS: '5',
      CALLBACK_RETRY_MAX_MS: '20',
      ...env,
    });
    return new CallbackSender(config, createLogger(config), metrics);
  };

  beforeEach(async () => {
    em = await FakeExecutorManager.start();
    metrics = new RelayCounters();
    abort = new AbortController();
  });

  afterEach(async () => {
    abort.abort();
    await em.close();
  });

  it('POSTs the body as JSON with a stable Idempotency-Key', async () => {
    const outcome = await sender().send(callback, abort.signal);

    expect(outcome).toEqual({ result: 'delivered', status: 200, attempts: 1 });
    expect(em.requests).toHaveLength(1);
    const [request] = em.requests;
    expect(request.body).toEqual(callback.body);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['idempotency-key']).toBe('wegent-codex:305:812:1700000000000-3');
    expect(idempotencyKey(callback)).toBe('wegent-codex:305:812:1700000000000-3');
  });

  it('sends the W3C traceparent of the run as a header, and never a malformed one', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await sender().send({ ...callback, traceparent }, abort.signal);
    await sender().send({ ...callback, traceparent: 'not-a-trace\r\nX-Injected: 1' }, abort.signal);
    await sender().send({ ...callback, traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }, abort.signal);

    expect(em.requests.map((r) => r.headers.traceparent)).toEqual([traceparent, undefined, undefined]);
    expect(em.requests[1].headers).not.toHaveProperty('x-injected');
  });

  it('sends user:password of CALLBACK_URL as Basic auth, never in the request line', async () => {
    const url = em.url.replace('http://', 'http://relay:s%3Acret@');

    const outcome = await sender({ CALLBACK_URL: url }).send(callback, abort.signal);

    expect(outcome.result).toBe('delivered');
    expect(em.requests[0].headers.authorization).toBe(`Basic ${Buffer.from('relay:s:cret').toString('base64')}`);
  });

  it.each([503, 500, 502, 408, 429])('retries %d with the same key until it is accepted', async (status) => {
    em.failNext(3, status);

    const outcome = await sender().send(callback, abort.signal);

    expect(outcome).toEqual({ result: 'delivered', status: 200, attempts: 4 });
    expect(new Set(em.requests.map((r) => r.idempotencyKey))).toEqual(new Set([idempotencyKey(callback)]));
    expect(metrics.retriesTotal).toBe(3);
  });

  it.each([301, 302, 400, 401, 404, 422])('does not retry or follow %d: logs it and gives up on that callback', async (status) => {
    em.failNext(1, status);

    const outcome = await sender().send(callback, abort.signal);

    expect(outcome).toEqual({ result: 'rejected', status, attempts: 1 });
    expect(em.requests).toHaveLength(1);
    expect(metrics.rejectedTotal).toBe(1);
  });

  it('retries through a refused connection until executor_manager is back', async () => {
    await em.goDown();
    const sending = sender().send(callback, abort.signal);
    // Some attempts fail against the closed port before it listens again.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await em.comeBack();

    const outcome = await within(sending, 10_000, 'send');

    expect(outcome.result).toBe('delivered');
    expect(outcome.attempts).toBeGreaterThan(1);
    expect(em.delivered()).toHaveLength(1);
  });

  it('times an attempt out after CALLBACK_TIMEOUT_MS and resends', async () => {
    em.stall(5_000);
    const sending = sender({ CALLBACK_TIMEOUT_MS: '200' }).send(callback, abort.signal);
    await em.waitFor((fake) => fake.requests.length >= 1, 5_000, 'first attempt');
    em.stall(0);

    const outcome = await within(sending, 10_000, 'send');

    expect(outcome.result).toBe('delivered');
    expect(outcome.attempts).toBeGreaterThanOrEqual(2);
    expect(em.requests[0].status).toBe(0); // never answered: the client gave up first
  });

  it('gives up after CALLBACK_RETRY_FOR_MS of failures', async () => {
    em.failNext(Number.MAX_SAFE_INTEGER, 503);

    const outcome: SendOutcome = await within(
      sender({ CALLBACK_RETRY_FOR_MS: '1000', CALLBACK_RETRY_BASE_MS: '50', CALLBACK_RETRY_MAX_MS: '100' }).send(callback, abort.signal),
      10_000,
      'send',
    );

    expect(outcome.result).toBe('expired');
    expect(metrics.expiredTotal).toBe(1);
  });

  it('stops waiting for the next retry as soon as it is aborted', async () => {
    em.failNext(Number.MAX_SAFE_INTEGER, 503);
    const sending = sender({ CALLBACK_RETRY_BASE_MS: '600000', CALLBACK_RETRY_MAX_MS: '600000' }).send(callback, abort.signal);
    await em.waitFor((fake) => fake.requests.some((r) => r.status === 503), 5_000, 'first failure');

    abort.abort();

    await expect(within(sending, 5_000, 'aborted send')).resolves.toMatchObject({ result: 'aborted' });
  });

  it('lets a request in flight get its answer when aborted: what EM took counts as delivered (not sent again)', async () => {
    em.stall(300);
    const sending = sender().send(callback, abort.signal);
    await em.waitFor((fake) => fake.requests.length === 1, 5_000, 'request');

    abort.abort();

    await expect(within(sending, 5_000, 'aborted send')).resolves.toMatchObject({ result: 'delivered', attempts: 1 });
    expect(em.requests).toHaveLength(1);
  });

  it('abandons a request in flight when aborted and EM does not answer within the grace', async () => {
    em.stall(60_000);
    const sending = sender().send(callback, abort.signal);
    await em.waitFor((fake) => fake.requests.length === 1, 5_000, 'request');

    abort.abort();

    await expect(within(sending, 5_000, 'aborted send')).resolves.toMatchObject({ result: 'aborted' });
  });
});
