import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/**
 * A listener that serves only `GET /metrics`, for processes without the HTTP API (worker- or
 * relay-only pods): Prometheus scrapes each process directly, no push gateway.
 */
export class MetricsServer {
  private server?: Server;

  constructor(private readonly registry: Registry) {}

  /** Listens on host:port (0: any free port); resolves with the port once it listens. */
  async start(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res
          .writeHead(404, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ error: `no route for ${req.method} ${path}; this listener serves GET /metrics` }));
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
        () => res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: 'collecting metrics failed' })),
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
