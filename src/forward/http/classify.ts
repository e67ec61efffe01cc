// The one place that decides what an HTTP outcome means for a batch: acknowledged, retry later, or
// rejected for good (dead letter). Sinks report; the forwarder acts on this classification only.
import type { WriteOutcome } from '../kit/types.js';

/** What came back from one attempt: a response (status + headers) or an error thrown before one arrived. */
export type HttpAttempt =
  | {
      status: number;
      headers?: Record<string, string | string[] | undefined>;
      /** Start of the response body, for the error message of a failure. */
      body?: string;
      latency_ms?: number;
    }
  | { error: unknown; timedOut?: boolean };

/** Statuses that say "not now" rather than "never": the same request may succeed later. */
const RETRYABLE_4XX = new Set([408, 409, 425, 429]);

/** Network-level error codes (Node and undici) that a retry can outlive. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** TLS verification failures: retried (the server or the CA file may be fixed), but worded for a person. */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/**
 * Parses a Retry-After header (delta seconds or an HTTP date) into milliseconds from `now`.
 * Undefined when absent or unreadable (garbage, a negative number, a fraction); a date in the past gives 0.
 * The value is not bounded here: a huge one (99999999 s, a date in the year 9999) comes back as is, always a
 * finite number, and the forwarder clamps it to `retry.max` (Node's timers cannot wait more than ~24.8 days).
 */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, Number.MAX_SAFE_INTEGER);
  // Only HTTP dates (they contain a day name or a comma), not arbitrary text Date.parse happens to accept.
  if (!/[A-Za-z]{3}/.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function errorCode(err: unknown): string | undefined {
  // undici wraps socket errors; the useful code is often one or two `cause`s down.
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || TLS_CODES.has(code))) return code;
    e = (e as { cause?: unknown }).cause;
  }
  const top = err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  return typeof top === 'string' ? top : undefined;
}

function errorMessage(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e !== undefined && e !== null; depth++) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg && !parts.includes(msg)) parts.push(msg);
    e = typeof e === 'object' ? (e as { cause?: unknown }).cause : undefined;
  }
  return parts.join(': ') || 'unknown error';
}

function bodySnippet(body: string | undefined): string {
  if (!body) return '';
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat ? `: ${flat.length > 200 ? `${flat.slice(0, 200)}...` : flat}` : '';
}

/**
 * Masks what a URL may carry that is secret: user info and the values of query parameters
 * (`https://h/p?api_key=***`). Used for every sink URL shown on /status or written to a log.
 */
export function maskUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL: show no part that could be a secret.
    return url.replace(/\?.*$/s, '?***');
  }
  if (u.username) u.username = '***';
  if (u.password) u.password = '***';
  if (u.search) {
    const names = [...new URLSearchParams(u.search).keys()];
    // Built by hand so the masks stay readable ("***", not "%2A%2A%2A").
    u.search = names.length > 0 ? `?${names.map((n) => `${encodeURIComponent(n)}=***`).join('&')}` : '?***';
  }
  return u.toString();
}

/**
 * Classifies one attempt. 2xx: acknowledged. 408, 409, 425, 429, 5xx except 501, timeouts and network
 * errors: retryable (with the server's Retry-After when given). 3xx: redirects are not followed (a batch
 * must not be re-POSTed somewhere the configuration does not name), but the batch is not the problem either:
 * retryable, flagged as a configuration problem naming the Location. Other statuses (4xx, 501, 1xx):
 * permanent.
 */
export function classifyHttpOutcome(attempt: HttpAttempt, now: number = Date.now()): WriteOutcome {
  if ('error' in attempt) {
    if (attempt.timedOut) {
      return { ok: false, retryable: true, error: `the request timed out (${errorMessage(attempt.error)})` };
    }
    const code = errorCode(attempt.error);
    if (code !== undefined && TLS_CODES.has(code)) {
      return {
        ok: false,
        retryable: true,
        error: `TLS certificate verification failed (${code}): ${errorMessage(attempt.error)}; check tls.ca_file and the server certificate`,
      };
    }
    const timedOut =
      code === 'UND_ERR_CONNECT_TIMEOUT' ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT';
    const what = timedOut ? 'the request timed out' : 'the request failed before a response arrived';
    return {
      ok: false,
      retryable: true,
      error: `${what} (${code ?? 'error'}): ${errorMessage(attempt.error)}`,
    };
  }
  const { status } = attempt;
  if (status >= 200 && status < 300) return { ok: true, status, latency_ms: attempt.latency_ms ?? 0 };
  if (status >= 300 && status < 400) {
    const raw = attempt.headers?.location;
    const location = Array.isArray(raw) ? raw[0] : raw;
    const where = location ? ` to ${maskUrl(location)}` : ' (no Location header)';
    return {
      ok: false,
      retryable: true,
      status,
      problem: 'redirect',
      error: `the receiver redirects${where} (HTTP ${status}); plantgate does not follow redirects: set the sink's url to the new location`,
    };
  }
  const retryable = RETRYABLE_4XX.has(status) || (status >= 500 && status <= 599 && status !== 501);
  const error = `the receiver answered HTTP ${status}${bodySnippet(attempt.body)}`;
  if (!retryable) return { ok: false, retryable: false, status, error };
  const retryAfter = parseRetryAfter(attempt.headers?.['retry-after'], now);
  return retryAfter === undefined
    ? { ok: false, retryable: true, status, error }
    : { ok: false, retryable: true, status, retry_after_ms: retryAfter, error };
}
