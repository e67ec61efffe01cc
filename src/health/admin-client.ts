// The CLI side of the admin interface: finds the daemon's socket and token, sends one request, and returns
// the JSON answer, or follows a streamed NDJSON answer to its control line. A streamed answer without its
// `$end` line (the daemon stopped, the connection broke) or with an `$error` line is an error, never a short
// success: an export is complete or the command fails.
import { readFileSync } from 'node:fs';
import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';

export interface AdminTarget {
  socketPath: string;
  tokenPath: string;
}

export class AdminClientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** The daemon's stable error code (INVALID_ARGUMENT, ADMIN_UNAUTHORIZED, ...) when it sent one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'AdminClientError';
  }
}

interface EndLine {
  $end?: { lines: number };
  $error?: { error: string; code?: string; after_lines?: number };
}

function readToken(target: AdminTarget): string {
  try {
    return readFileSync(target.tokenPath, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AdminClientError(
      code === 'EACCES'
        ? `cannot read ${target.tokenPath}: permission denied; run as the service user (e.g. sudo -u plantgate plantgate ...)`
        : `cannot read ${target.tokenPath}: is the daemon running with this configuration?`,
    );
  }
}

/** Sends the request; resolves with the response head, rejects with a readable error when nobody answers. */
function send(
  target: AdminTarget,
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  const token = readToken(target);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: target.socketPath,
        path,
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => resolve({ req, res }),
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new AdminClientError(`the daemon is not running (no admin socket at ${target.socketPath})`));
      } else if (err.code === 'EACCES') {
        reject(new AdminClientError(`permission denied on ${target.socketPath}; run as the service user`));
      } else reject(err);
    });
    if (payload) req.write(payload);
    req.end();
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let buf = '';
  for await (const c of res) buf += c as string;
  return buf;
}

function httpError(res: IncomingMessage, text: string): AdminClientError {
  let parsed: { error?: string; code?: string } | undefined;
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  return new AdminClientError(
    parsed?.error ?? (text.trim() || `HTTP ${res.statusCode}`),
    res.statusCode,
    parsed?.code,
  );
}

function cut(): AdminClientError {
  return new AdminClientError(
    'the answer ended before its end line (the daemon stopped or the connection broke); the output is incomplete',
  );
}

function streamError(e: NonNullable<EndLine['$error']>): AdminClientError {
  return new AdminClientError(
    `the daemon failed part way${e.after_lines !== undefined ? ` (after ${e.after_lines} lines)` : ''}: ${e.error}; the output is incomplete`,
    500,
    e.code,
  );
}

/**
 * One request. A JSON answer resolves with the parsed document; a streamed answer calls `onLine` for every data
 * line and resolves with the last one. HTTP errors, `$error` lines and cut streams reject.
 */
export async function adminCall(
  target: AdminTarget,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  onLine?: (obj: unknown) => void,
): Promise<unknown> {
  const { res } = await send(target, method, path, body);
  const ndjson = (res.headers['content-type'] ?? '').includes('ndjson');
  if (!ndjson) {
    const text = await readAll(res);
    if ((res.statusCode ?? 500) >= 400) throw httpError(res, text);
    try {
      return text ? JSON.parse(text) : undefined;
    } catch {
      throw new AdminClientError(`the daemon's answer is not JSON: ${text.slice(0, 200)}`);
    }
  }
  res.setEncoding('utf8');
  let buf = '';
  let last: unknown;
  let end: EndLine | undefined;
  try {
    for await (const chunk of res) {
      buf += chunk as string;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (!line.trim() || end) continue;
        const obj = JSON.parse(line) as EndLine;
        if (obj.$end || obj.$error) end = obj;
        else {
          last = obj;
          onLine?.(obj);
        }
      }
    }
  } catch (err) {
    if (err instanceof SyntaxError)
      throw new AdminClientError(`the daemon sent a line that is not JSON: ${err.message}`);
    throw cut();
  }
  if (end?.$error) throw streamError(end.$error);
  if (!end?.$end) throw cut();
  return last;
}

/**
 * A streamed answer copied to `out` line for line (the daemon's NDJSON as sent), with back-pressure: a slow
 * `out` slows the daemon. `out` is not ended. Resolves with the number of lines; rejects on an HTTP error, an
 * `$error` line or a cut stream, and with the write error itself (e.g. EPIPE) when `out` fails.
 */
export async function adminExport(
  target: AdminTarget,
  path: string,
  out: Writable,
): Promise<{ lines: number }> {
  const { req, res } = await send(target, 'GET', path, undefined);
  if ((res.statusCode ?? 500) >= 400) throw httpError(res, await readAll(res));
  if (!(res.headers['content-type'] ?? '').includes('ndjson'))
    throw new AdminClientError(`expected a streamed answer from ${path}, got ${res.headers['content-type']}`);
  const decoder = new StringDecoder('utf8');
  let tail = '';
  let end: EndLine | undefined;
  const split = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (end) return cb();
      const s = tail + decoder.write(chunk);
      const lastNl = s.lastIndexOf('\n');
      if (lastNl < 0) {
        tail = s;
        return cb();
      }
      tail = s.slice(lastNl + 1);
      let complete = s.slice(0, lastNl + 1);
      // Control lines come only last; data lines are objects whose first key never starts with `$`.
      const at = complete.startsWith('{"$') ? 0 : complete.indexOf('\n{"$') + 1;
      if (at > 0 || complete.startsWith('{"$')) {
        const control = complete.slice(at).split('\n')[0] as string;
        complete = complete.slice(0, at);
        try {
          end = JSON.parse(control) as EndLine;
        } catch (err) {
          return cb(new AdminClientError(`the daemon sent a bad end line: ${(err as Error).message}`));
        }
      }
      cb(null, complete);
    },
  });
  try {
    await pipeline(res, split, out, { end: false });
  } catch (err) {
    req.destroy();
    if ((err as NodeJS.ErrnoException).code === 'EPIPE' || err instanceof AdminClientError) throw err;
    throw cut();
  }
  if (end?.$error) throw streamError(end.$error);
  if (!end?.$end) throw cut();
  return { lines: end.$end.lines };
}
