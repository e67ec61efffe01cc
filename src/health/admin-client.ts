// The CLI side of the admin interface: finds the daemon's socket and token, sends one request, and returns
// JSON or streams NDJSON progress lines.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

export interface AdminTarget {
  socketPath: string;
  tokenPath: string;
}

export class AdminClientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export function adminCall(
  target: AdminTarget,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  onLine?: (obj: unknown) => void,
): Promise<unknown> {
  let token: string;
  try {
    token = readFileSync(target.tokenPath, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return Promise.reject(
      new AdminClientError(
        code === 'EACCES'
          ? `cannot read ${target.tokenPath}: permission denied; run as the service user (e.g. sudo -u plantgate plantgate ...)`
          : `cannot read ${target.tokenPath}: is the daemon running with this configuration?`,
      ),
    );
  }
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
      (res) => {
        const ndjson = (res.headers['content-type'] ?? '').includes('ndjson');
        let buf = '';
        let last: unknown;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          if (!ndjson) return;
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim()) {
              last = JSON.parse(line);
              onLine?.(last);
            }
            nl = buf.indexOf('\n');
          }
        });
        res.on('end', () => {
          if (ndjson) return resolve(last);
          let parsed: unknown;
          try {
            parsed = buf ? JSON.parse(buf) : undefined;
          } catch {
            parsed = buf;
          }
          if ((res.statusCode ?? 500) >= 400) {
            const msg = (parsed as { error?: string } | undefined)?.error ?? `HTTP ${res.statusCode}`;
            reject(new AdminClientError(msg, res.statusCode));
          } else resolve(parsed);
        });
        res.on('error', reject);
      },
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
