// A central API / ERP stand-in for tests, demos and benchmarks: accepts plantgate.batch.v1 batches over real
// HTTP(S), de-duplicates them by batch id and record id, counts every duplicate, and injects faults on command
// (outage, 5xx, 429 + Retry-After, slow answers, connection resets, permanent rejections).
import { once } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { checkBatch, expectedIdempotencyKey, type WireBatch, type WireRecord } from './wire.js';

export interface ReceiverTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /** CA(s) that sign client certificates, for mutual TLS. */
  ca?: string | Buffer;
  /** Ask for a client certificate and refuse clients without a valid one. */
  requestCert?: boolean;
}

export interface ReceiverOptions {
  /** 0 (default) lets the OS pick; read the bound port back from `receiver.port`. */
  port?: number;
  host?: string;
  tls?: ReceiverTlsOptions;
  /** Keep every accepted record (default). False keeps only ids and counts, for benchmarks. */
  keep_records?: boolean;
  /** When set, batch requests without exactly this Authorization header value get 401. */
  require_authorization?: string;
  /** Largest accepted body; bigger gets 413. Default 64 MiB. */
  max_body_bytes?: number;
}

/** A fault command, in-process or as the JSON body of `POST /_recv/faults`. Given keys replace current ones. */
export interface FaultCommand {
  /** Remove all faults first. */
  clear?: boolean;
  /** Answer batch requests with this status instead of accepting them (e.g. 503, 429, 400). */
  status?: number;
  /** ... for the next `count` batch requests ... */
  count?: number;
  /** ... or for this long (ms); until cleared when neither is given. */
  for_ms?: number;
  /** Retry-After header sent with the status fault: seconds, or an HTTP date (any text is sent as given). */
  retry_after?: number | string;
  /** Location header sent with the status fault (for 3xx redirects). */
  location?: string;
  /** Apply the status fault only to the batch with this id (others are accepted). */
  only_batch?: string;
  /** Delay every batch answer by this many ms (0 removes). */
  slow_ms?: number;
  /** Apply slow_ms only to the batch with this id (others are answered at once); null removes. */
  slow_only_batch?: string | null;
  /** Destroy the socket of the next N batch requests (true: all, until cleared; 0/false removes). */
  reset?: number | boolean;
  /** Answer 400 to batches containing any of these record ids. */
  reject_records?: string[];
  /** Answer 400 to batches containing a record with this signal and/or event type. */
  reject_if?: { signal?: string; type?: string };
  /** HTTP control only: go down (close the listener, drop connections) now and come back after this many ms. */
  down_ms?: number;
}

export interface PathStats {
  requests: number;
  batches: number;
  duplicate_batches: number;
  records: number;
  duplicate_records: number;
  rejected: number;
}

export interface ReceiverStats {
  started_at: string;
  up: boolean;
  /** Batch POSTs received, whatever their outcome. */
  requests: number;
  /** Distinct batches accepted. */
  batches: number;
  /** Accepted requests whose batch_id had been accepted before (answered 200, records not stored again). */
  duplicate_batches: number;
  /** Distinct record ids accepted. */
  records: number;
  /** Records of new batches whose id had already arrived in an earlier batch. */
  duplicate_records: number;
  /** 400 for a body or header that breaks the wire contract. */
  invalid: number;
  /** 400 by reject_records / reject_if. */
  rejected: number;
  /** 401 for a missing or wrong Authorization header. */
  unauthorized: number;
  /** Injected faults that fired. */
  faults_fired: { status: number; reset: number };
  /** Batch requests being handled now, and the most at once so far. */
  concurrent: number;
  max_concurrent: number;
  /** Answers by HTTP status. */
  responses: Record<string, number>;
  paths: Record<string, PathStats>;
  last_batch_at?: string;
  /** The last contract violation, in words. */
  last_problem?: string;
  /** CPU time (user + system) of the receiver's process so far, for benchmarks. */
  process_cpu_ms: number;
}

export interface ReceivedBatch {
  batch_id: string;
  path: string;
  records: number;
  duplicate: boolean;
  at: number;
}

/** A record whose id had already arrived in an earlier accepted batch (or earlier in the same batch). */
export interface DuplicateRecord {
  id: string;
  path: string;
  /** The batch that carried it again, and the batch that carried it first. */
  batch_id: string;
  first_batch_id: string;
  at: number;
  /** The record as it came the second time (kept even with keep_records false: duplicates are few). */
  record: WireRecord;
}

/** One batch request and how it was answered (status 0: the connection was reset on purpose). */
export interface RequestLogEntry {
  at: number;
  path: string;
  status: number;
  batch_id?: string;
}

export interface ActiveFaults {
  status?: {
    code: number;
    remaining?: number;
    until?: number;
    retry_after?: string;
    location?: string;
    only_batch?: string;
  };
  slow_ms?: number;
  slow_only_batch?: string;
  reset?: { remaining?: number };
  reject_records?: string[];
  reject_if?: { signal?: string; type?: string };
}

export interface Receiver {
  readonly url: string;
  readonly port: number;
  stats(): ReceiverStats;
  /** Accepted records (arrival order) of one path, or of all paths. Empty with keep_records false. */
  records(path?: string): WireRecord[];
  /** Every accepted batch request (including duplicates), in arrival order. */
  batches(path?: string): ReceivedBatch[];
  /** Records that arrived again under a new batch id, in order (the first 1,000), to find out why. */
  duplicates(path?: string): DuplicateRecord[];
  /** Every batch request with its answer, in order (the last 10,000). */
  requests(path?: string): RequestLogEntry[];
  /** Headers of the last batch request on a path (for auth checks in tests; not exposed over HTTP). */
  lastHeaders(path?: string): http.IncomingHttpHeaders | undefined;
  faults(): ActiveFaults;
  setFaults(f: FaultCommand): void;
  /** Forgets all received data and counters (faults stay). */
  resetData(): void;
  /** Closes the listener and drops open connections; the port stays reserved for comeUp() by convention. */
  goDown(): Promise<void>;
  /** Listens again on the same port. */
  comeUp(): Promise<void>;
  close(): Promise<void>;
}

interface PathState {
  stats: PathStats;
  batchIds: Set<string>;
  /** Record id -> the batch id that brought it first. */
  ids: Map<string, string>;
  records: WireRecord[];
}

function emptyPathStats(): PathStats {
  return { requests: 0, batches: 0, duplicate_batches: 0, records: 0, duplicate_records: 0, rejected: 0 };
}

class ReceiverImpl implements Receiver {
  readonly #opts: ReceiverOptions;
  readonly #server: http.Server | https.Server;
  readonly #host: string;
  #port = 0;
  #up = false;
  #closed = false;
  #downTimer: NodeJS.Timeout | undefined;
  readonly #keep: boolean;
  readonly #maxBody: number;
  #paths = new Map<string, PathState>();
  #batches: ReceivedBatch[] = [];
  #requestLog: RequestLogEntry[] = [];
  #duplicates: DuplicateRecord[] = [];
  #lastHeaders = new Map<string, http.IncomingHttpHeaders>();
  #faults: ActiveFaults = {};
  #stats!: ReceiverStats;

  constructor(opts: ReceiverOptions) {
    this.#opts = opts;
    this.#host = opts.host ?? '127.0.0.1';
    this.#keep = opts.keep_records ?? true;
    this.#maxBody = opts.max_body_bytes ?? 64 * 1024 * 1024;
    this.#resetStats();
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

  #resetStats(): void {
    this.#stats = {
      started_at: new Date().toISOString(),
      up: this.#up,
      requests: 0,
      batches: 0,
      duplicate_batches: 0,
      records: 0,
      duplicate_records: 0,
      invalid: 0,
      rejected: 0,
      unauthorized: 0,
      faults_fired: { status: 0, reset: 0 },
      concurrent: 0,
      max_concurrent: 0,
      responses: {},
      paths: {},
      process_cpu_ms: 0,
    };
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
    const paths: Record<string, PathStats> = {};
    for (const [p, s] of this.#paths) paths[p] = { ...s.stats };
    const cpu = process.cpuUsage();
    return {
      ...this.#stats,
      process_cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
      up: this.#up,
      faults_fired: { ...this.#stats.faults_fired },
      responses: { ...this.#stats.responses },
      paths,
    };
  }

  records(path?: string): WireRecord[] {
    if (path !== undefined) return [...(this.#paths.get(path)?.records ?? [])];
    return [...this.#paths.values()].flatMap((p) => p.records);
  }

  batches(path?: string): ReceivedBatch[] {
    return this.#batches.filter((b) => path === undefined || b.path === path);
  }

  duplicates(path?: string): DuplicateRecord[] {
    return this.#duplicates.filter((d) => path === undefined || d.path === path);
  }

  requests(path?: string): RequestLogEntry[] {
    return this.#requestLog.filter((b) => path === undefined || b.path === path);
  }

  #logRequest(path: string, status: number, batchId?: string): void {
    if (this.#requestLog.length >= 10_000) this.#requestLog.shift();
    const e: RequestLogEntry = { at: Date.now(), path, status };
    if (batchId !== undefined) e.batch_id = batchId;
    this.#requestLog.push(e);
  }

  lastHeaders(path?: string): http.IncomingHttpHeaders | undefined {
    if (path !== undefined) return this.#lastHeaders.get(path);
    return [...this.#lastHeaders.values()].at(-1);
  }

  faults(): ActiveFaults {
    return structuredClone(this.#faults);
  }

  setFaults(f: FaultCommand): void {
    if (f.clear) this.#faults = {};
    if (f.status !== undefined) {
      if (!Number.isInteger(f.status) || f.status < 100 || f.status > 599)
        throw new Error('status must be an HTTP status code');
      const s: NonNullable<ActiveFaults['status']> = { code: f.status };
      if (f.count !== undefined) s.remaining = f.count;
      if (f.for_ms !== undefined) s.until = Date.now() + f.for_ms;
      if (f.retry_after !== undefined) s.retry_after = String(f.retry_after);
      if (f.location !== undefined) s.location = f.location;
      if (f.only_batch !== undefined) s.only_batch = f.only_batch;
      this.#faults.status = s;
    }
    if (f.slow_ms !== undefined) {
      if (f.slow_ms > 0) this.#faults.slow_ms = f.slow_ms;
      else delete this.#faults.slow_ms;
    }
    if (f.slow_only_batch !== undefined) {
      if (f.slow_only_batch === null) delete this.#faults.slow_only_batch;
      else this.#faults.slow_only_batch = f.slow_only_batch;
    }
    if (f.reset !== undefined) {
      if (f.reset === true) this.#faults.reset = {};
      else if (typeof f.reset === 'number' && f.reset > 0) this.#faults.reset = { remaining: f.reset };
      else delete this.#faults.reset;
    }
    if (f.reject_records !== undefined) this.#faults.reject_records = [...f.reject_records];
    if (f.reject_if !== undefined) this.#faults.reject_if = { ...f.reject_if };
  }

  resetData(): void {
    this.#paths.clear();
    this.#batches = [];
    this.#requestLog = [];
    this.#duplicates = [];
    this.#lastHeaders.clear();
    this.#resetStats();
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
    this.#stats.responses[status] = (this.#stats.responses[status] ?? 0) + 1;
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

  #path(name: string): PathState {
    let p = this.#paths.get(name);
    if (!p) {
      p = { stats: emptyPathStats(), batchIds: new Set(), ids: new Map(), records: [] };
      this.#paths.set(name, p);
    }
    return p;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://receiver');
    if (url.pathname.startsWith('/_recv/')) return this.#control(req, res, url);
    if (req.method !== 'POST') {
      req.resume();
      return this.#reply(res, 405, { error: 'batches are POSTed' }, { allow: 'POST' });
    }
    const pathName = url.pathname;
    this.#stats.concurrent += 1;
    this.#stats.max_concurrent = Math.max(this.#stats.max_concurrent, this.#stats.concurrent);
    let batchId: string | undefined;
    res.once('finish', () => this.#logRequest(pathName, res.statusCode, batchId));
    try {
      batchId = await this.#handleBatch(req, res, pathName);
    } finally {
      this.#stats.concurrent -= 1;
    }
  }

  /** Handles one batch POST; returns the batch id when the body had one (for the request log). */
  async #handleBatch(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathName: string,
  ): Promise<string | undefined> {
    const ps = this.#path(pathName);
    this.#stats.requests += 1;
    ps.stats.requests += 1;
    this.#lastHeaders.set(pathName, req.headers);

    const reset = this.#faults.reset;
    if (reset) {
      if (reset.remaining !== undefined && --reset.remaining <= 0) delete this.#faults.reset;
      this.#stats.faults_fired.reset += 1;
      this.#logRequest(pathName, 0);
      req.socket.destroy();
      return undefined;
    }

    const raw = await this.#readBody(req);
    if (raw !== undefined && this.#faults.slow_ms && this.#slowFor(raw)) {
      await new Promise((r) => setTimeout(r, this.#faults.slow_ms));
    }
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

    const sf = this.#faults.status;
    if (sf && sf.until !== undefined && Date.now() >= sf.until) delete this.#faults.status;
    else if (sf && (sf.only_batch === undefined || sf.only_batch === batchId)) {
      if (sf.remaining !== undefined && --sf.remaining <= 0) delete this.#faults.status;
      this.#stats.faults_fired.status += 1;
      const headers: Record<string, string> = {};
      if (sf.retry_after !== undefined) headers['retry-after'] = sf.retry_after;
      if (sf.location !== undefined) headers.location = sf.location;
      this.#reply(res, sf.code, { error: `injected fault: HTTP ${sf.code}` }, headers);
      return batchId;
    }

    if (
      this.#opts.require_authorization !== undefined &&
      req.headers.authorization !== this.#opts.require_authorization
    ) {
      this.#stats.unauthorized += 1;
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

    const rejected = this.#rejectedBy(batch);
    if (rejected !== undefined) {
      this.#stats.rejected += 1;
      ps.stats.rejected += 1;
      this.#reply(res, 400, { error: `rejected: ${rejected}` });
      return batchId;
    }

    const now = Date.now();
    this.#stats.last_batch_at = new Date(now).toISOString();
    if (ps.batchIds.has(batch.batch_id)) {
      this.#stats.duplicate_batches += 1;
      ps.stats.duplicate_batches += 1;
      this.#batches.push({
        batch_id: batch.batch_id,
        path: pathName,
        records: batch.records.length,
        duplicate: true,
        at: now,
      });
      this.#reply(res, 200, { status: 'duplicate', batch_id: batch.batch_id });
      return batchId;
    }
    ps.batchIds.add(batch.batch_id);
    this.#stats.batches += 1;
    ps.stats.batches += 1;
    let fresh = 0;
    for (const r of batch.records) {
      const first = ps.ids.get(r.id);
      if (first !== undefined) {
        this.#stats.duplicate_records += 1;
        ps.stats.duplicate_records += 1;
        if (this.#duplicates.length < 1000) {
          this.#duplicates.push({
            id: r.id,
            path: pathName,
            batch_id: batch.batch_id,
            first_batch_id: first,
            at: now,
            record: r,
          });
        }
        continue;
      }
      ps.ids.set(r.id, batch.batch_id);
      fresh += 1;
      if (this.#keep) ps.records.push(r);
    }
    this.#stats.records += fresh;
    ps.stats.records += fresh;
    this.#batches.push({
      batch_id: batch.batch_id,
      path: pathName,
      records: batch.records.length,
      duplicate: false,
      at: now,
    });
    this.#reply(res, 200, { status: 'accepted', batch_id: batch.batch_id, records: fresh });
    return batchId;
  }

  /** Whether the slow fault applies to this body (all batches, or only the one named by slow_only_batch). */
  #slowFor(raw: Buffer): boolean {
    const only = this.#faults.slow_only_batch;
    if (only === undefined) return true;
    // The batch id sits near the start of a contract body; a cheap search is enough for a fault filter.
    return raw.subarray(0, 4096).includes(`"batch_id":${JSON.stringify(only)}`);
  }

  #invalid(res: http.ServerResponse, problem: string, batchId: string | undefined): string | undefined {
    this.#stats.invalid += 1;
    this.#stats.last_problem = problem;
    this.#reply(res, 400, { error: problem });
    return batchId;
  }

  #rejectedBy(batch: WireBatch): string | undefined {
    const ids = this.#faults.reject_records;
    const cond = this.#faults.reject_if;
    if (!ids && !cond) return undefined;
    const idSet = ids ? new Set(ids) : undefined;
    for (const r of batch.records) {
      if (idSet?.has(r.id)) return `record ${r.id} is refused`;
      if (cond && (cond.signal !== undefined || cond.type !== undefined)) {
        const sigOk = cond.signal === undefined || r.signal === cond.signal;
        const typeOk = cond.type === undefined || r.type === cond.type;
        if (sigOk && typeOk) return `record ${r.id} matches reject_if`;
      }
    }
    return undefined;
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
