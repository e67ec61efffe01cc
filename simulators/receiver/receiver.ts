// A central API / ERP stand-in for tests, demos and benchmarks: accepts plantgate.batch.v1 batches over real
// HTTP(S), de-duplicates them by batch id and record id, counts every duplicate, and injects faults on command
// (outage, 5xx, 429 + Retry-After, slow answers, connection resets, permanent rejections). This file is the
// HTTP(S) server, the batch request's order of checks and the control endpoints; the fault state is in
// faults.ts, what was received in received.ts, the public types in types.ts.
import { once } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { FaultState } from './faults.js';
import { ReceivedData } from './received.js';
import type { Reconciliation } from './reconcile.js';
import type {
  ActiveFaults,
  DuplicateRecord,
  FaultCommand,
  ReceivedBatch,
  Receiver,
  ReceiverOptions,
  ReceiverStats,
  RequestLogEntry,
} from './types.js';
import { checkBatch, expectedIdempotencyKey, type WireRecord } from './wire.js';

export type {
  ActiveFaults,
  DuplicateRecord,
  FaultCommand,
  PathStats,
  ReceivedBatch,
  Receiver,
  ReceiverOptions,
  ReceiverStats,
  ReceiverTlsOptions,
  RequestLogEntry,
} from './types.js';

class ReceiverImpl implements Receiver {
  readonly #opts: ReceiverOptions;
  readonly #server: http.Server | https.Server;
  readonly #host: string;
  #port = 0;
  #up = false;
  #closed = false;
  #downTimer: NodeJS.Timeout | undefined;
  readonly #maxBody: number;
  readonly #data: ReceivedData;
  readonly #faults = new FaultState();

  constructor(opts: ReceiverOptions) {
    this.#opts = opts;
    this.#host = opts.host ?? '127.0.0.1';
    this.#data = new ReceivedData(opts.keep_records ?? true);
    this.#maxBody = opts.max_body_bytes ?? 64 * 1024 * 1024;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent)
          this.#reply(res, 500, { error: err instanceof Error ? err.message : String(err) });
        else res.destroy();
      });
    };
    if (opts.tls) {
      const t = opts.tls;
      this.#server = https.createServer(
        {
          cert: t.cert,
          key: t.key,
          ...(t.ca !== undefined ? { ca: t.ca } : {}),
          requestCert: t.requestCert ?? false,
          rejectUnauthorized: t.requestCert ?? false,
        },
        handler,
      );
    } else {
      this.#server = http.createServer(handler);
    }
    this.#server.keepAliveTimeout = 30_000;
    // A TLS handshake failure (the client refused our certificate) is the client's business, not a crash.
    this.#server.on('tlsClientError', () => undefined);
    this.#server.on('clientError', (_err, socket) => socket.destroy());
  }

  get url(): string {
    return `${this.#opts.tls ? 'https' : 'http'}://${this.#host}:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  async listen(port: number): Promise<void> {
    this.#server.listen(port, this.#host);
    await once(this.#server, 'listening');
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#up = true;
  }

  stats(): ReceiverStats {
    return this.#data.stats(this.#up);
  }

  records(path?: string): WireRecord[] {
    return this.#data.records(path);
  }

  batches(path?: string): ReceivedBatch[] {
    return this.#data.batches(path);
  }

  duplicates(path?: string): DuplicateRecord[] {
    return this.#data.duplicates(path);
  }

  reconciliations(path?: string): Reconciliation[] {
    return this.#data.reconciliations(path);
  }

  loseRecord(id: string, path?: string): boolean {
    return this.#data.loseRecord(id, path);
  }

  requests(path?: string): RequestLogEntry[] {
    return this.#data.requests(path);
  }

  lastHeaders(path?: string): http.IncomingHttpHeaders | undefined {
    return this.#data.lastHeaders(path);
  }

  faults(): ActiveFaults {
    return this.#faults.snapshot();
  }

  setFaults(f: FaultCommand): void {
    this.#faults.set(f);
  }

  resetData(): void {
    this.#data.reset();
  }

  async goDown(): Promise<void> {
    if (!this.#up) return;
    this.#up = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // Keep-alive connections would otherwise keep serving; an outage drops them.
    this.#server.closeAllConnections();
    await closed;
  }

  async comeUp(): Promise<void> {
    if (this.#up || this.#closed) return;
    if (this.#downTimer) clearTimeout(this.#downTimer);
    this.#downTimer = undefined;
    await this.listen(this.#port);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#downTimer) clearTimeout(this.#downTimer);
    await this.goDown();
  }

  #reply(
    res: http.ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const responses = this.#data.counters.responses;
    responses[status] = (responses[status] ?? 0) + 1;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  #replyControl(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async #readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > this.#maxBody) return undefined;
      chunks.push(chunk as Buffer);
    }
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://receiver');
    if (url.pathname.startsWith('/_recv/')) return this.#control(req, res, url);
    if (req.method !== 'POST') {
      req.resume();
      return this.#reply(res, 405, { error: 'batches are POSTed' }, { allow: 'POST' });
    }
    const pathName = url.pathname;
    this.#data.counters.concurrent += 1;
    this.#data.counters.max_concurrent = Math.max(
      this.#data.counters.max_concurrent,
      this.#data.counters.concurrent,
    );
    let batchId: string | undefined;
    res.once('finish', () => this.#data.logRequest(pathName, res.statusCode, batchId));
    try {
      batchId = await this.#handleBatch(req, res, pathName);
    } finally {
      this.#data.counters.concurrent -= 1;
    }
  }

  /** Handles one batch POST; returns the batch id when the body had one (for the request log). */
  async #handleBatch(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathName: string,
  ): Promise<string | undefined> {
    const ps = this.#data.path(pathName);
    this.#data.counters.requests += 1;
    ps.stats.requests += 1;
    this.#data.setLastHeaders(pathName, req.headers);

    if (this.#faults.takeReset()) {
      this.#data.counters.faults_fired.reset += 1;
      this.#data.logRequest(pathName, 0);
      req.socket.destroy();
      return undefined;
    }

    const raw = await this.#readBody(req);
    const slowMs = raw === undefined ? 0 : this.#faults.slowMsFor(raw);
    if (slowMs > 0) await new Promise((r) => setTimeout(r, slowMs));
    if (raw === undefined) {
      this.#reply(res, 413, { error: 'body too large' }, { connection: 'close' });
      return undefined;
    }
    let parsed: unknown;
    let parseError = false;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      parseError = true;
    }
    const rawId = (parsed as { batch_id?: unknown } | undefined)?.batch_id;
    const batchId = typeof rawId === 'string' ? rawId : undefined;

    const injected = this.#faults.takeStatus(batchId);
    if (injected) {
      this.#data.counters.faults_fired.status += 1;
      this.#reply(res, injected.code, { error: `injected fault: HTTP ${injected.code}` }, injected.headers);
      return batchId;
    }

    if (
      this.#opts.require_authorization !== undefined &&
      req.headers.authorization !== this.#opts.require_authorization
    ) {
      this.#data.counters.unauthorized += 1;
      this.#reply(res, 401, { error: 'missing or wrong Authorization header' });
      return batchId;
    }

    const ctype = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(ctype))
      return this.#invalid(res, 'Content-Type must be application/json', batchId);
    if (parseError) return this.#invalid(res, 'body is not valid JSON', batchId);
    const checked = checkBatch(parsed);
    if (!checked.ok) return this.#invalid(res, checked.problem, batchId);
    const batch = checked.batch;
    const key = req.headers['idempotency-key'];
    if (key !== expectedIdempotencyKey(batch.batch_id)) {
      return this.#invalid(res, `Idempotency-Key must be ${expectedIdempotencyKey(batch.batch_id)}`, batchId);
    }

    const rejected = this.#faults.rejectedBy(batch);
    if (rejected !== undefined) {
      this.#data.counters.rejected += 1;
      ps.stats.rejected += 1;
      this.#reply(res, 400, { error: `rejected: ${rejected}` });
      return batchId;
    }

    this.#reply(res, 200, this.#data.accept(ps, pathName, batch));
    return batchId;
  }

  #invalid(res: http.ServerResponse, problem: string, batchId: string | undefined): string | undefined {
    this.#data.counters.invalid += 1;
    this.#data.counters.last_problem = problem;
    this.#reply(res, 400, { error: problem });
    return batchId;
  }

  async #control(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /_recv/stats') return this.#replyControl(res, 200, this.stats());
    if (route === 'GET /_recv/records') {
      return this.#replyControl(res, 200, this.records(url.searchParams.get('path') ?? undefined));
    }
    if (route === 'GET /_recv/batches') {
      return this.#replyControl(res, 200, this.batches(url.searchParams.get('path') ?? undefined));
    }
    if (route === 'GET /_recv/reconciliation') {
      return this.#replyControl(res, 200, this.reconciliations(url.searchParams.get('path') ?? undefined));
    }
    if (route === 'GET /_recv/duplicates') {
      return this.#replyControl(res, 200, this.duplicates(url.searchParams.get('path') ?? undefined));
    }
    if (route === 'GET /_recv/faults') return this.#replyControl(res, 200, this.faults());
    if (route === 'POST /_recv/reset') {
      req.resume();
      this.resetData();
      return this.#replyControl(res, 200, { status: 'reset' });
    }
    if (route === 'POST /_recv/faults') {
      const raw = await this.#readBody(req);
      let cmd: FaultCommand;
      try {
        cmd = JSON.parse(raw?.toString('utf8') || '{}') as FaultCommand;
        this.setFaults(cmd);
      } catch (err) {
        return this.#replyControl(res, 400, { error: err instanceof Error ? err.message : String(err) });
      }
      if (cmd.down_ms !== undefined && cmd.down_ms > 0) {
        const ms = cmd.down_ms;
        this.#replyControl(res, 200, { status: 'going down', for_ms: ms });
        // Answer first, then drop the listener; the timer brings it back on the same port.
        res.once('finish', () => {
          this.goDown().then(
            () => {
              if (this.#closed) return;
              this.#downTimer = setTimeout(() => {
                this.comeUp().catch(() => undefined);
              }, ms);
            },
            () => undefined,
          );
        });
        return;
      }
      return this.#replyControl(res, 200, this.faults());
    }
    req.resume();
    return this.#replyControl(res, 404, { error: `no control endpoint ${route}` });
  }
}

/** Starts a receiver; resolves once it listens. */
export async function startReceiver(opts: ReceiverOptions = {}): Promise<Receiver> {
  const r = new ReceiverImpl(opts);
  await r.listen(opts.port ?? 0);
  return r;
}
