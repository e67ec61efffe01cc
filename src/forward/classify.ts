// The one place that decides what an HTTP outcome means for a batch: acknowledged, retry later, or
// rejected for good (dead letter). Sinks report; the forwarder acts on this classification only.
import type { WriteOutcome } from './types.js';

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
 * Undefined when absent or unreadable; a date in the past gives 0.
 */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
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
 * Classifies one attempt. 2xx: acknowledged. 408, 409, 425, 429, 5xx except 501, timeouts and network
 * errors: retryable (with the server's Retry-After when given). Other statuses (4xx, 501, and anything a
 * sink cannot interpret such as 1xx/3xx): permanent.
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
  const retryable = RETRYABLE_4XX.has(status) || (status >= 500 && status <= 599 && status !== 501);
  const error = `the receiver answered HTTP ${status}${bodySnippet(attempt.body)}`;
  if (!retryable) return { ok: false, retryable: false, status, error };
  const retryAfter = parseRetryAfter(attempt.headers?.['retry-after'], now);
  return retryAfter === undefined
    ? { ok: false, retryable: true, status, error }
    : { ok: false, retryable: true, status, retry_after_ms: retryAfter, error };
}
