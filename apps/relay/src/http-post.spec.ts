import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpPostError, HttpPoster, type HttpAnswer } from './http-post';

/** One request as the server saw it. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Which connection (1, 2, …) carried it. */
  connection: number;
}

/** A local server answering each request with `answer` (which may never answer). */
class TestServer {
  readonly seen: Seen[] = [];
  /** When each connection the client opened got its end (the client closed it), by connection number. */
  readonly endedAt = new Map<number, number>();
  readonly closedAt = new Map<number, number>();
  private readonly sockets = new Set<Socket>();
  private connections = 0;
  answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('{"status":"ok"}');

  constructor(
    readonly server: NetServer,
    private readonly scheme: 'http' | 'https' = 'http',
  ) {
    server.on('connection', (socket: Socket) => {
      const number = (this.connections += 1);
      (socket as Socket & { number?: number }).number = number;
      this.sockets.add(socket);
      socket.on('end', () => this.endedAt.set(number, Date.now()));
      socket.on('close', () => {
        this.closedAt.set(number, Date.now());
        this.sockets.delete(socket);
      });
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const connection = (req.socket as Socket & { number?: number }).number ?? 0;
        this.seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          connection,
        });
        this.answer(req, res);
      });
    });
  }

  static async start(keepAliveTimeoutMs = 5_000): Promise<TestServer> {
    const server = createServer();
    server.keepAliveTimeout = keepAliveTimeoutMs;
    return new TestServer(server).listen();
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  url(path = '/callback'): string {
    return `${this.scheme}://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Fails the test instead of hanging when `promise` does not settle in time. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const failure = (promise: Promise<unknown>): Promise<HttpPostError> =>
  within(promise, 10_000, 'post').then(
    () => {
      throw new Error('expected the post to fail');
    },
    (error: unknown) => {
      if (!(error instanceof HttpPostError)) throw error;
      return error;
    },
  );

jest.setTimeout(20_000);

describe('HttpPoster', () => {
  let server: TestServer;
  const posters: HttpPoster[] = [];
  const poster = (
    url = server.url(),
    headers: Record<string, string> = { 'Content-Type': 'application/json' },
    maxSockets = 4,
  ): HttpPoster => {
    const made = new HttpPoster(url, maxSockets, headers);
    posters.push(made);
    return made;
  };
  const options = (overrides: { timeoutMs?: number; graceMs?: number; signal?: AbortSignal } = {}) => ({
    timeoutMs: 5_000,
    graceMs: 1_000,
    signal: new AbortController().signal,
    ...overrides,
  });

  beforeEach(async () => {
    server = await TestServer.start();
  });

  afterEach(async () => {
    await Promise.all(posters.splice(0).map((made) => made.close().catch(() => undefined)));
    await server.close();
  });

  it('POSTs the payload with the fixed headers and its own, Host and Content-Length; a success body is not read', async () => {
    server.answer = (_req, res) => res.writeHead(201, { 'Retry-After': '3' }).end('{"status":"created","detail":"not kept"}');
    const payload = '{"text":"héllo ✓"}';

    const answer = await within(
      poster(server.url('/callback?x=1'), { 'Content-Type': 'application/json', Authorization: 'Bearer t' }).post(
        ['Idempotency-Key', 'k-1', 'traceparent', 'tp'],
        payload,
        options(),
      ),
      10_000,
      'post',
    );

    expect(answer).toEqual<HttpAnswer>({ status: 201, text: '', retryAfter: '3' });
    expect(server.seen).toHaveLength(1);
    const [seen] = server.seen;
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/callback?x=1');
    expect(seen.body).toBe(payload);
    expect(seen.headers).toMatchObject({
      host: server.url('').replace('http://', ''),
      'content-type': 'application/json',
      authorization: 'Bearer t',
      'idempotency-key': 'k-1',
      traceparent: 'tp',
      'content-length': String(Buffer.byteLength(payload)),
    });
  });

  it('keeps the first 4,096 characters of a failure, decoded across chunks; passes Retry-After', async () => {
    // 'é' is two bytes: the chunks split characters in half.
    const body = Buffer.from('é'.repeat(5_000));
    server.answer = (_req, res) => {
      res.writeHead(503, { 'Retry-After': '7' });
      for (let at = 0; at < body.length; at += 999) res.write(body.subarray(at, at + 999));
      res.end();
    };

    const answer = await within(poster().post([], '{}', options()), 10_000, 'post');

    expect(answer).toEqual<HttpAnswer>({ status: 503, text: 'é'.repeat(4_096), retryAfter: '7' });
  });

  it('answers a redirect as it is, without following it', async () => {
    server.answer = (req, res) =>
      req.url === '/callback' ? res.writeHead(307, { Location: '/elsewhere' }).end('moved') : res.writeHead(200).end();

    const answer = await within(poster().post([], '{}', options()), 10_000, 'post');

    expect(answer).toEqual<HttpAnswer>({ status: 307, text: 'moved' });
    expect(server.seen.map((seen) => seen.url)).toEqual(['/callback']);
  });

  it('reuses a kept-alive connection for the next request', async () => {
    const client = poster(server.url(), {}, 1);
    for (let i = 0; i < 3; i += 1) await within(client.post([], '{}', options()), 10_000, 'post');

    expect(server.seen.map((seen) => seen.connection)).toEqual([1, 1, 1]);
  });

  it('fails with `timeout` when no answer comes within timeoutMs, and closes that connection', async () => {
    server.answer = () => undefined;
    const started = Date.now();
    const client = poster(server.url(), {}, 1);

    const error = await failure(client.post([], '{}', options({ timeoutMs: 150 })));

    expect(error.kind).toBe('timeout');
    expect(error.detail).toBe('no answer within 150 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    // Closed at once (an idle one would stay open 4 s): a late answer can never be taken for the next request's.
    await until(() => server.closedAt.has(1), 2_000, 'the timed-out connection closed');
    server.answer = (_req, res) => res.end('{}');
    await within(client.post([], '{}', options()), 10_000, 'the next post');
    expect(server.seen.map((seen) => seen.connection)).toEqual([1, 2]);
  });

  it('times out a request still waiting for a connection, and never sends it', async () => {
    server.answer = () => undefined; // the first request holds the only connection
    const client = poster(server.url(), {}, 1);
    const settled: string[] = [];
    const first = client.post([], '{"n":1}', options({ timeoutMs: 3_000 }));
    first.catch(() => settled.push('first'));
    await until(() => server.seen.length === 1, 5_000, 'the first request received');

    const error = await failure(client.post([], '{"n":2}', options({ timeoutMs: 150 })));
    settled.push('second');

    expect(error.kind).toBe('timeout');
    await expect(failure(first)).resolves.toMatchObject({ kind: 'timeout' });
    // Its own timeout ended it, not the connection freed by the first one's.
    expect(settled).toEqual(['second', 'first']);
    // The connection the first one freed was offered to the second: it was aborted before it was written.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.seen.map((seen) => seen.body)).toEqual(['{"n":1}']);
  });

  it('once aborted, still takes an answer that comes within the grace', async () => {
    const abort = new AbortController();
    server.answer = (_req, res) => setTimeout(() => res.end('{}'), 200);
    const posting = poster().post([], '{}', options({ signal: abort.signal, graceMs: 2_000 }));
    await until(() => server.seen.length === 1, 5_000, 'request received');

    abort.abort();

    await expect(within(posting, 10_000, 'post')).resolves.toEqual<HttpAnswer>({ status: 200, text: '' });
  });

  it('once aborted, abandons a request still unanswered after the grace (not before)', async () => {
    const abort = new AbortController();
    server.answer = () => undefined;
    const posting = poster().post([], '{}', options({ signal: abort.signal, graceMs: 300 }));
    await until(() => server.seen.length === 1, 5_000, 'request received');

    const abortedAt = Date.now();
    abort.abort();
    const error = await failure(posting);

    expect(error.kind).toBe('abandoned');
    expect(error.detail).toBe('aborted');
    expect(Date.now() - abortedAt).toBeGreaterThanOrEqual(290);
    await until(() => server.closedAt.has(1), 2_000, 'the abandoned connection closed');
  });

  it('sends a request whose signal is already aborted, with the grace for its answer', async () => {
    const abort = new AbortController();
    abort.abort();

    await expect(within(poster().post([], '{}', options({ signal: abort.signal })), 10_000, 'post')).resolves.toEqual<HttpAnswer>({
      status: 200,
      text: '',
    });
    expect(server.seen).toHaveLength(1);
  });

  it('fails with `network` and the error code when nothing listens', async () => {
    const url = server.url();
    await server.close();

    const error = await failure(poster(url).post([], '{}', options()));

    expect(error.kind).toBe('network');
    expect(error.detail).toBe('ECONNREFUSED');
  });

  it('fails with `network`, never naming the value, when a header value is invalid', async () => {
    const error = await failure(poster(server.url(), { Authorization: 'Basic c2VjcmV0\r\nX-Injected: 1' }).post([], '{}', options()));

    expect(error.kind).toBe('network');
    expect(error.message).not.toContain('c2VjcmV0');
    expect(server.seen).toHaveLength(0);
  });

  it('closes an idle connection 1 s before the keep-alive timeout the server announces', async () => {
    await server.close();
    server = await TestServer.start(2_000); // announces Keep-Alive: timeout=2
    await within(poster().post([], '{}', options()), 10_000, 'post');
    const answeredAt = Date.now();

    await until(() => server.endedAt.has(1), 3_000, 'the client closed the idle connection');

    const idleMs = server.endedAt.get(1)! - answeredAt;
    expect(idleMs).toBeGreaterThanOrEqual(700);
    expect(idleMs).toBeLessThan(1_900);
  });

  it('closes an idle connection after 4 s when the server keeps it longer', async () => {
    await server.close();
    server = await TestServer.start(30_000);
    await within(poster().post([], '{}', options()), 10_000, 'post');
    const answeredAt = Date.now();

    await until(() => server.endedAt.has(1), 7_000, 'the client closed the idle connection');

    const idleMs = server.endedAt.get(1)! - answeredAt;
    expect(idleMs).toBeGreaterThanOrEqual(3_500);
    expect(idleMs).toBeLessThan(5_500);
  });
});

describe('HttpPoster over https', () => {
  let dir: string;
  let server: TestServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'http-post-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore', timeout: 30_000 },
    );
    const tls = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) });
    server = await new TestServer(tls, 'https').listen();
  });

  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('speaks TLS to an https URL and verifies the certificate (a self-signed one is refused)', async () => {
    const url = server.url();
    expect(url.startsWith('https://')).toBe(true);
    const poster = new HttpPoster(url, 1);

    const error = await failure(poster.post([], '{}', { timeoutMs: 5_000, graceMs: 1_000, signal: new AbortController().signal }));
    await poster.close().catch(() => undefined);

    expect(error.kind).toBe('network');
    expect(error.detail).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(server.seen).toHaveLength(0);
  });
});
