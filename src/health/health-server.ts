// The read-only health endpoint on TCP (default 127.0.0.1:9464): /healthz, /readyz, /status and /metrics for
// monitoring and load balancers. It answers GET and HEAD only and offers no action: actions go through the admin
// socket (admin-server.ts), which needs the token. Routes are a table, so a new page is one entry.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ConfigError } from '../kit/errors.js';
import { createMetrics } from './metrics.js';
import { pidNote, tcpPortOwners } from './port-owner.js';
import type { StatusDocument } from './status-document.js';

export interface HealthAnswer {
  code: number;
  type: string;
  body: string;
  /** Extra response headers (the status page's Content-Security-Policy). */
  headers?: Record<string, string>;
}

export interface HealthRoute {
  path: string;
  answer(): HealthAnswer | Promise<HealthAnswer>;
}

/** What the routes read from the daemon; nothing here changes it. */
export interface HealthApi {
  /** True once the journal is open: before that, /status and /metrics answer 503. */
  started(): boolean;
  /** True once every component has started, until stop begins (/readyz). */
  ready(): boolean;
  status(): StatusDocument;
  /** The daemon's registry (forwarder metrics live there too); /metrics adds the status gauges to it once. */
  registry: Registry;
}

const json = (code: number, body: string): HealthAnswer => ({ code, type: 'application/json', body });
const text = (code: number, body: string): HealthAnswer => ({ code, type: 'text/plain', body });

export function healthRoutes(api: HealthApi): HealthRoute[] {
  const metrics = createMetrics(api.registry, () => api.status());
  return [
    { path: '/healthz', answer: () => json(200, '{"alive":true}\n') },
    {
      path: '/readyz',
      answer: () => (api.ready() ? json(200, '{"ready":true}\n') : json(503, '{"ready":false}\n')),
    },
    {
      path: '/status',
      answer: () =>
        api.started()
          ? json(200, `${JSON.stringify(api.status(), null, 2)}\n`)
          : json(503, '{"status":"starting"}\n'),
    },
    {
      path: '/metrics',
      answer: async () => {
        if (!api.started()) return text(503, 'starting\n');
        try {
          return { code: 200, type: metrics.contentType, body: await metrics.metrics() };
        } catch (err) {
          return text(500, `${String(err)}\n`);
        }
      },
    },
  ];
}

/** "a, b, c or d" */
function listOf(paths: readonly string[]): string {
  return paths.length < 2
    ? (paths[0] ?? '')
    : `${paths.slice(0, -1).join(', ')} or ${paths[paths.length - 1]}`;
}

export interface HealthServerOptions {
  listen: { host: string; port: number };
  routes: readonly HealthRoute[];
  log: Logger;
}

export class HealthServer {
  readonly #opts: HealthServerOptions;
  readonly #routes: Map<string, HealthRoute>;
  #server: Server | undefined;
  #address: { host: string; port: number } | undefined;

  constructor(opts: HealthServerOptions) {
    this.#opts = opts;
    this.#routes = new Map(opts.routes.map((r) => [r.path, r]));
  }

  /** Where it listens (the port the OS picked when `listen.port` is 0); undefined before start. */
  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  /** Listens; a port another process holds is a ConfigError naming that process (exit 78, no restart loop). */
  async start(): Promise<void> {
    const notFound = text(404, `not found: try ${listOf([...this.#routes.keys()])}\n`);
    const server = createServer((req, res) => {
      const send = (a: HealthAnswer) => {
        res.writeHead(a.code, { ...a.headers, 'content-type': a.type, 'cache-control': 'no-store' });
        res.end(a.body);
      };
      const failed = (err: unknown) => {
        this.#opts.log.error({ err }, 'A health request failed.');
        send(text(500, 'internal error\n'));
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(text(405, 'method not allowed\n'));
      const route = this.#routes.get((req.url ?? '/').split('?')[0] ?? '/');
      if (!route) return send(notFound);
      try {
        const a = route.answer();
        if (a instanceof Promise) a.then(send, failed);
        else send(a);
      } catch (err) {
        failed(err);
      }
    });
    const { host, port } = this.#opts.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') {
          reject(
            new ConfigError(
              `${host}:${port} is in use by another process${pidNote(tcpPortOwners(port))}; set health.listen to a free address`,
              { cause: err },
            ),
          );
        } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES') {
          reject(
            new ConfigError(
              `cannot listen on ${host}:${port} (${err.code === 'EACCES' ? 'permission denied' : 'no such local address'}); set health.listen`,
              { cause: err },
            ),
          );
        } else reject(err);
      });
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    this.#address = typeof addr === 'object' && addr ? { host, port: addr.port } : { host, port };
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
