// The admin interface for the operator CLI: HTTP over a Unix socket in the state directory. Two locks guard
// it: the socket file is mode 0600 (only the service user reaches it) and every request must carry the
// bearer token the daemon writes to `admin.token` (mode 0600) at start. Nothing here is reachable over TCP.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

export type AdminHandler = (req: AdminRequest, res: AdminResponse) => Promise<void>;

export interface AdminRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export interface AdminResponse {
  json(status: number, body: unknown): void;
  /** Streams newline-delimited JSON (progress of long operations). */
  line(obj: unknown): void;
  end(): void;
}

export interface AdminRoute {
  method: 'GET' | 'POST';
  path: string;
  handler: AdminHandler;
}

export class AdminServer {
  readonly socketPath: string;
  readonly tokenPath: string;
  readonly #token: string;
  readonly #routes: AdminRoute[];
  readonly #log: Logger;
  #server: Server | undefined;
  unauthorized = 0;

  constructor(opts: { socketPath: string; tokenPath: string; routes: AdminRoute[]; log: Logger }) {
    this.socketPath = opts.socketPath;
    this.tokenPath = opts.tokenPath;
    this.#routes = opts.routes;
    this.#log = opts.log;
    this.#token = randomBytes(32).toString('hex');
  }

  async start(): Promise<void> {
    mkdirSync(dirname(this.socketPath), { recursive: true });
    // A socket left by a killed daemon would make listen fail with EADDRINUSE.
    if (existsSync(this.socketPath)) unlinkSync(this.socketPath);
    writeFileSync(this.tokenPath, `${this.#token}\n`, { mode: 0o600 });
    chmodSync(this.tokenPath, 0o600);
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#log.error({ err }, 'An admin request failed.');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
      });
    });
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => resolve());
      });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(this.socketPath, 0o600);
    this.#server = server;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    try {
      unlinkSync(this.tokenPath);
    } catch {
      // already gone
    }
  }

  #authorized(req: IncomingMessage): boolean {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/.exec(h);
    if (!m?.[1]) return false;
    const a = Buffer.from(m[1]);
    const b = Buffer.from(this.#token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#authorized(req)) {
      this.unauthorized += 1;
      this.#log.warn({ path: req.url }, 'Refused an admin request without a valid token.');
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: 'unauthorized: the admin token (admin.token in the state directory) is required',
        }),
      );
      return;
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = this.#routes.find((r) => r.method === req.method && r.path === url.pathname);
    if (!route) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `no admin route ${req.method} ${url.pathname}` }));
      return;
    }
    let body: unknown;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > 1_000_000) throw new Error('admin request body is larger than 1 MB');
        chunks.push(c as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      body = text ? JSON.parse(text) : {};
    }
    let streaming = false;
    const out: AdminResponse = {
      json(status, obj) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      },
      line(obj) {
        if (!streaming) {
          res.writeHead(200, { 'content-type': 'application/x-ndjson' });
          streaming = true;
        }
        res.write(`${JSON.stringify(obj)}\n`);
      },
      end() {
        res.end();
      },
    };
    await route.handler(
      { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body },
      out,
    );
  }
}
