// The admin interface for the operator CLI: HTTP over a Unix socket in the state directory. Two locks guard
// it: the socket file is mode 0600 (only the service user reaches it) and every request must carry the
// bearer token the daemon writes to `admin.token` (mode 0600) at start. Nothing here is reachable over TCP.
//
// Answers are either one JSON document or a stream of newline-delimited JSON. A stream is written with
// back-pressure (stream.pipeline into the socket: a slow reader slows the producer, nothing piles up in memory)
// and always ends with a control line, `{"$end":{"lines":N}}` or `{"$error":{...}}`, so the CLI can tell a
// complete answer (even an empty one) from a cut or failed one.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { ConfigError, PlantgateError } from '../kit/errors.js';

export type AdminHandler = (req: AdminRequest, res: AdminResponse) => Promise<void>;

export interface AdminRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export interface AdminResponse {
  json(status: number, body: unknown): void;
  /**
   * Streams the items as NDJSON with back-pressure and ends the answer with a control line. An error thrown by
   * the source becomes the `$error` line. Resolves when the answer is written (or the client went away).
   */
  stream(items: AsyncIterable<unknown>): Promise<void>;
}

export interface AdminRoute {
  method: 'GET' | 'POST';
  path: string;
  handler: AdminHandler;
}

/** Streamed lines are written in chunks of about this many characters (fewer, larger socket writes). */
const CHUNK_CHARS = 64 * 1024;

/** JSON.stringify that never throws on a bigint (written as its decimal text) anywhere in the value. */
export function safeStringify(value: unknown, space?: number): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), space);
}

function errorBody(err: unknown): { error: string; code: string } {
  return {
    error: err instanceof Error ? err.message : String(err),
    code: err instanceof PlantgateError ? err.code : 'INTERNAL',
  };
}

/**
 * Why `path` cannot be the admin socket, or undefined when it can: it is absent (it will be created) or a socket.
 * Anything else (a regular file, a directory, a symbolic link) is never deleted to make room.
 */
export function adminSocketProblem(path: string): string | undefined {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    return `cannot check the admin socket path ${path}: ${(err as Error).message}`;
  }
  if (st.isSocket()) return undefined;
  const kind = st.isFile()
    ? 'a regular file'
    : st.isDirectory()
      ? 'a directory'
      : st.isSymbolicLink()
        ? 'a symbolic link'
        : 'not a socket';
  return `${path} exists and is ${kind}, not a socket; plantgate does not delete it: move it away or set admin.socket to another path`;
}

/** True when a process accepts connections on the Unix socket `path` (a running daemon), false when stale. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    const done = (v: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    // A listening Unix socket accepts at once; no answer in this time means nobody serves it.
    const timer = setTimeout(() => done(false), 2_000);
    s.once('connect', () => done(true));
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'EACCES' || err.code === 'EPERM'));
  });
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
    const problem = adminSocketProblem(this.socketPath);
    if (problem) throw new ConfigError(`admin.socket: ${problem}`);
    mkdirSync(dirname(this.socketPath), { recursive: true });
    const inUse = () =>
      new ConfigError(
        `admin.socket: ${this.socketPath} is in use by another process (another plantgate daemon on the same state directory?); stop it or set admin.socket to another path`,
      );
    if (lstatExists(this.socketPath)) {
      // A socket left by a killed daemon would make listen fail with EADDRINUSE; a live one is another daemon's.
      if (await socketAnswers(this.socketPath)) throw inUse();
      unlinkSync(this.socketPath);
    }
    writeFileSync(this.tokenPath, `${this.#token}\n`, { mode: 0o600 });
    chmodSync(this.tokenPath, 0o600);
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#log.error({ err, path: req.url }, 'An admin request failed.');
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(safeStringify(errorBody(err)));
        } else {
          // Mid-stream: cut the answer so the client sees no end line and reports it incomplete.
          res.destroy();
        }
      });
    });
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(err.code === 'EADDRINUSE' ? inUse() : err),
        );
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
    const json = (status: number, obj: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(safeStringify(obj));
    };
    if (!this.#authorized(req)) {
      this.unauthorized += 1;
      this.#log.warn({ path: req.url }, 'Refused an admin request without a valid token.');
      return json(401, {
        error: 'unauthorized: the admin token (admin.token in the state directory) is required',
        code: 'ADMIN_UNAUTHORIZED',
      });
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = this.#routes.find((r) => r.method === req.method && r.path === url.pathname);
    if (!route)
      return json(404, { error: `no admin route ${req.method} ${url.pathname}`, code: 'NOT_FOUND' });
    let body: unknown;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > 1_000_000)
          return json(413, { error: 'admin request body is larger than 1 MB', code: 'INVALID_ARGUMENT' });
        chunks.push(c as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        body = text ? JSON.parse(text) : {};
      } catch (err) {
        return json(400, {
          error: `the request body is not JSON: ${(err as Error).message}`,
          code: 'INVALID_ARGUMENT',
        });
      }
    }
    const log = this.#log;
    const out: AdminResponse = {
      json,
      async stream(items) {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        try {
          await pipeline(Readable.from(ndjsonChunks(items, log), { objectMode: false }), res);
        } catch (err) {
          // The client went away (Ctrl-C, `| head`): the source was closed by the pipeline; nothing to answer.
          log.info(
            { path: url.pathname, err: (err as Error).message },
            'An admin client closed a streamed answer before its end.',
          );
        }
      },
    };
    try {
      await route.handler(
        { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body },
        out,
      );
    } catch (err) {
      // A caller's bad argument that only the journal could see is the caller's problem, not a daemon failure.
      if (err instanceof PlantgateError && err.code === 'INVALID_ARGUMENT' && !res.headersSent)
        return json(400, errorBody(err));
      throw err;
    }
  }
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** NDJSON text of `items` in chunks, ended by the `$end` line, or by an `$error` line when the source throws. */
async function* ndjsonChunks(items: AsyncIterable<unknown>, log: Logger): AsyncGenerator<string> {
  let buf = '';
  let lines = 0;
  try {
    for await (const item of items) {
      buf += `${safeStringify(item)}\n`;
      lines += 1;
      if (buf.length >= CHUNK_CHARS) {
        yield buf;
        buf = '';
      }
    }
    buf += `${safeStringify({ $end: { lines } })}\n`;
  } catch (err) {
    log.error({ err, lines }, 'A streamed admin answer failed part way; the client is told.');
    buf += `${safeStringify({ $error: { ...errorBody(err), after_lines: lines } })}\n`;
  }
  yield buf;
}
