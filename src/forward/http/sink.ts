// The `http` sink: POSTs one batch in the plantgate.batch.v1 wire format over a keep-alive undici pool and
// classifies the answer. It never retries by itself (the forwarder does) and never logs a credential. Its secrets
// come resolved by the config loader (src/config/secrets.ts), which applies the one set of secret rules.
import type { Logger } from 'pino';
import { Pool } from 'undici';
import { Secret } from '../../config/kit/primitives.js';
import { readPem } from '../../config/kit/tls.js';
import { ConfigError } from '../../kit/errors.js';
import { linkedSignal } from '../kit/abort.js';
import { traceparentFor } from '../kit/trace.js';
import type { Batch, Sink, WriteOutcome } from '../kit/types.js';
import { buildBatchBody } from '../kit/wire.js';
import { classifyHttpOutcome } from './classify.js';
import type { HttpSinkConfig } from './config.js';

/** Redaction paths for the sink's logger, in case a header object is ever logged by mistake. */
export const SINK_REDACT_PATHS = [
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'authorization',
  'Authorization',
];

/** A secret as the config loader hands it over (a Secret, or a plain string in tests). */
type SecretLike = Secret | string;

/**
 * `auth` as the sink receives it: the schema's references, and next to each the secret the config loader
 * resolved from it (`bearer_env: X` gives `bearer: Secret`).
 */
export interface HttpSinkAuthInput {
  bearer?: SecretLike;
  password?: SecretLike;
  username?: string;
  bearer_env?: string;
  bearer_file?: string;
  password_env?: string;
  password_file?: string;
}

export type HttpSinkSettings = Omit<HttpSinkConfig, 'auth'> & { auth?: HttpSinkAuthInput | undefined };

export interface HttpSinkOptions {
  config: HttpSinkSettings;
  gatewayId: string;
  site: string;
  /** pino child {component:'sink', kind:'http', id}; the sink adds redaction of auth headers. */
  log: Logger;
  /** The running configuration's fingerprint, sent as `Plantgate-Config` (docs/wire-contract.md). */
  configFingerprint?: (() => string | undefined) | undefined;
}

function isSecret(v: unknown): v is Secret {
  return (
    v instanceof Secret || (typeof v === 'object' && v !== null && typeof (v as Secret).reveal === 'function')
  );
}

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The credential the config loader resolved from `<what>_env` or `<what>_file`. The sink reads no variable or
 * file itself (a second reader would apply other rules); a reference left unresolved means the configuration did
 * not come through the loader: CONFIG_SECRET_MISSING, naming the reference but never a value.
 */
function loaderSecret(
  what: string,
  resolved: SecretLike | undefined,
  envRef: string | undefined,
  fileRef: string | undefined,
): Secret | undefined {
  if (resolved !== undefined) return isSecret(resolved) ? resolved : new Secret(resolved, `${what} (inline)`);
  if (envRef === undefined && fileRef === undefined) return undefined;
  // A reference that is not a variable name may be the secret pasted in by mistake: it is not echoed.
  const ref =
    envRef !== undefined
      ? `${what}_env${ENV_NAME_RE.test(envRef) ? ` (${envRef})` : ''}`
      : `${what}_file (${fileRef})`;
  throw new ConfigError(
    `The secret named by ${ref} was not resolved: sink configurations must come through the config loader.`,
    { code: 'CONFIG_SECRET_MISSING' },
  );
}

/** A structured-field string (RFC 8941): quoted, with `\` and `"` escaped. */
export function sfString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * Reads the start of an error response body for the failure message and consumes the rest, so the connection can
 * be reused; an absurdly large error body is cut off (which closes that connection).
 */
async function readSnippet(
  body: AsyncIterable<Buffer>,
  limit = 2048,
  drainLimit = 1024 * 1024,
): Promise<string> {
  let text = '';
  let seen = 0;
  for await (const chunk of body) {
    seen += chunk.length;
    if (text.length < limit) text += chunk.toString('utf8');
    if (seen > drainLimit) break;
  }
  return text.slice(0, limit);
}

export class HttpSink implements Sink {
  readonly id: string;
  readonly #cfg: HttpSinkSettings;
  readonly #gateway: { id: string; site: string };
  readonly #log: Logger;
  readonly #url: URL;
  readonly #path: string;
  #pool: Pool | undefined;
  #authHeader: (() => string) | undefined;
  #staticHeaders: Record<string, string> = {};
  readonly #configFingerprint: (() => string | undefined) | undefined;

  constructor(opts: HttpSinkOptions) {
    this.id = opts.config.id;
    this.#cfg = opts.config;
    this.#gateway = { id: opts.gatewayId, site: opts.site };
    this.#log = opts.log.child({}, { redact: { paths: SINK_REDACT_PATHS, censor: '[redacted]' } });
    this.#url = new URL(opts.config.url);
    this.#path = `${this.#url.pathname}${this.#url.search}`;
    this.#configFingerprint = opts.configFingerprint;
  }

  /** Reads credentials and TLS files and opens the connection pool. ConfigError when a file or secret is missing. */
  async start(): Promise<void> {
    if (this.#pool) return;
    const cfg = this.#cfg;
    const auth = cfg.auth;
    if (auth) {
      const bearer = loaderSecret('bearer', auth.bearer, auth.bearer_env, auth.bearer_file);
      if (bearer) {
        // The secret is revealed only here, when a header is built for a request.
        this.#authHeader = () => `Bearer ${bearer.reveal()}`;
      } else if (auth.username !== undefined) {
        const password = loaderSecret('password', auth.password, auth.password_env, auth.password_file);
        if (!password) {
          throw new ConfigError(
            `Sink ${this.id}: basic authentication needs password_env or password_file.`,
            {
              code: 'CONFIG_SECRET_MISSING',
            },
          );
        }
        const user = auth.username;
        this.#authHeader = () => `Basic ${Buffer.from(`${user}:${password.reveal()}`).toString('base64')}`;
      }
    }
    this.#staticHeaders = { ...(cfg.headers ?? {}) };

    const connect: Record<string, unknown> = {};
    if (this.#url.protocol === 'https:') {
      const tls = cfg.tls;
      if (tls?.ca_file) connect.ca = readPem(tls.ca_file, 'CA');
      if (tls?.cert_file) connect.cert = readPem(tls.cert_file, 'client certificate');
      if (tls?.key_file) connect.key = readPem(tls.key_file, 'client key');
      connect.rejectUnauthorized = !(tls?.insecure_skip_verify ?? false);
      if (tls?.insecure_skip_verify) {
        this.#log.warn(
          { url: this.#url.origin },
          'TLS certificate verification is OFF for this sink (tls.insecure_skip_verify); anyone on the path can read and alter the batches. Use tls.ca_file instead.',
        );
      }
    }
    this.#pool = new Pool(this.#url.origin, {
      connections: cfg.max_in_flight,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: cfg.timeout,
      bodyTimeout: cfg.timeout,
      connect: { timeout: Math.min(cfg.timeout, 30_000), ...connect },
    });
  }

  async write(batch: Batch, signal: AbortSignal): Promise<WriteOutcome> {
    const pool = this.#pool;
    if (!pool) return { ok: false, retryable: true, error: 'the sink is not started' };
    const body = buildBatchBody(batch, this.#gateway, new Date().toISOString());
    const headers: Record<string, string> = {
      ...this.#staticHeaders,
      'content-type': 'application/json',
      'idempotency-key': sfString(batch.batch_id),
    };
    if (this.#authHeader) headers.authorization = this.#authHeader();
    // Which configuration is running as the batch is sent; read per request, so a reload shows at once.
    const fingerprint = this.#configFingerprint?.();
    if (fingerprint !== undefined) headers['plantgate-config'] = fingerprint;
    // One trace per batch (its id derived from the batch id), one span per attempt: see kit/trace.ts.
    headers.traceparent = traceparentFor(batch.batch_id);
    const attempt = linkedSignal(signal, this.#cfg.timeout);
    const t0 = performance.now();
    try {
      const res = await pool.request({
        path: this.#path,
        method: 'POST',
        headers,
        body,
        signal: attempt.signal,
      });
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const text = ok ? '' : await readSnippet(res.body);
      if (ok) await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      return classifyHttpOutcome({
        status: res.statusCode,
        headers: res.headers,
        body: text,
        latency_ms: performance.now() - t0,
      });
    } catch (error) {
      if (signal.aborted)
        return { ok: false, retryable: true, error: 'the request was aborted (the forwarder is stopping)' };
      return classifyHttpOutcome({ error, timedOut: attempt.timedOut() });
    } finally {
      attempt.dispose();
    }
  }

  async stop(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (!pool) return;
    // close() waits for running requests; the forwarder aborts them first, so this is quick. Destroy as a backstop.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      pool.close(),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          pool.destroy().then(resolve, resolve);
        }, 5000);
      }),
    ]);
    if (timer) clearTimeout(timer);
  }
}
