import { randomBytes } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  Agent as HttpAgent,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { LOGGER, type Logger } from '@wegent-codex/runtime';

/** One run's way to the model: a base URL for its Codex config, closed when the run ends. */
export interface ModelKeyLease {
  /** `http://127.0.0.1:<port>/r/<run token>`: stands in for the upstream base URL. */
  baseUrl: string;
  close(): void;
}

interface LeaseEntry {
  upstream: URL;
  apiKey: string;
}

/** Hop-by-hop and credential headers never forwarded as they came. */
const DROPPED_REQUEST_HEADERS = new Set([
  'host',
  'authorization',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'upgrade',
]);
const DROPPED_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding']);
const LEASE_PATH = /^\/r\/([0-9a-f]{64})(\/[^?#]*)?(\?.*)?$/;
/** No byte in either direction for this long ends the exchange (Codex's own stream timeout is shorter). */
const IDLE_MS = 10 * 60_000;

/**
 * Keeps the service's default model key out of every sandbox. A run on the default model gets a
 * base URL on this loopback listener with a random per-run token in its path instead of the key;
 * the worker adds the key on the way out. A task can reach the model through it while its run
 * lasts (as it can through Codex anyway) but can never read the key, and the token dies with the
 * run. A bot's own key is its task's own and goes straight to Codex as before.
 */
@Injectable()
export class ModelKeyProxy implements OnModuleDestroy {
  private readonly leases = new Map<string, LeaseEntry>();
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true });
  private server?: Promise<{ server: Server; port: number }>;

  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  /** A lease ends when closed, or after `ttlMs` at the latest (a run that never got to close it). */
  async open(upstreamBaseUrl: string, apiKey: string, ttlMs: number): Promise<ModelKeyLease> {
    const { port } = await this.listening();
    const token = randomBytes(32).toString('hex');
    this.leases.set(token, { upstream: new URL(upstreamBaseUrl.replace(/\/+$/, '')), apiKey });
    const expiry = setTimeout(() => this.leases.delete(token), ttlMs);
    expiry.unref();
    return {
      baseUrl: `http://127.0.0.1:${port}/r/${token}`,
      close: () => {
        clearTimeout(expiry);
        this.leases.delete(token);
      },
    };
  }

  /** Leases open now (tests, metrics). */
  get openLeases(): number {
    return this.leases.size;
  }

  async onModuleDestroy(): Promise<void> {
    this.leases.clear();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    const started = await this.server?.catch(() => undefined);
    if (!started) return;
    started.server.closeAllConnections();
    await new Promise<void>((resolve) => started.server.close(() => resolve()));
  }

  private listening(): Promise<{ server: Server; port: number }> {
    this.server ??= new Promise((resolve, reject) => {
      const server = createServer((req, res) => this.forward(req, res));
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port }));
    });
    return this.server;
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const match = LEASE_PATH.exec(req.url ?? '');
    const lease = match ? this.leases.get(match[1]!) : undefined;
    if (!match || !lease) {
      req.resume();
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { message: 'no model lease for this path (the run has ended)' } }));
      return;
    }
    const target = new URL(lease.upstream.href);
    target.pathname = `${lease.upstream.pathname}${match[2] ?? ''}`;
    target.search = match[3] ?? '';
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined && !DROPPED_REQUEST_HEADERS.has(name)) headers[name] = value;
    headers.authorization = `Bearer ${lease.apiKey}`;
    const https = target.protocol === 'https:';
    const upstream = (https ? httpsRequest : httpRequest)(
      target,
      { method: req.method, headers, agent: https ? this.httpsAgent : this.httpAgent },
      (answer) => {
        const out: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headers))
          if (value !== undefined && !DROPPED_RESPONSE_HEADERS.has(name)) out[name] = value;
        res.writeHead(answer.statusCode ?? 502, out);
        answer.pipe(res);
      },
    );
    upstream.setTimeout(IDLE_MS, () => upstream.destroy(new Error(`no answer from the model endpoint for ${IDLE_MS / 1000} s`)));
    upstream.on('error', (error) => {
      // The message names the endpoint's host at most, never the key (it is only in a header).
      this.logger.warn({ host: target.host, err: error.message }, 'model request through the key proxy failed');
      if (!res.headersSent)
        res
          .writeHead(502, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { message: `model endpoint unreachable: ${error.message}` } }));
      else res.destroy();
    });
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }
}
