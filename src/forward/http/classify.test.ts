// The HTTP outcome table of the wire contract: which answers acknowledge, which are retried, which dead-letter.
import { describe, expect, it } from 'vitest';
import { classifyHttpOutcome, maskUrl, parseRetryAfter } from './classify.js';

function errorWithCode(code: string, message = code, nested = false): Error {
  const inner = Object.assign(new Error(message), { code });
  return nested
    ? Object.assign(new Error('fetch failed', { cause: inner }), { code: 'UND_ERR_SOCKET' })
    : inner;
}

describe('classifyHttpOutcome', () => {
  it.each([200, 201, 202, 204, 299])('treats %i as acknowledged', (status) => {
    expect(classifyHttpOutcome({ status, latency_ms: 12 })).toEqual({ ok: true, status, latency_ms: 12 });
  });

  it.each([408, 409, 425, 429, 500, 502, 503, 504, 507, 599])('retries %i', (status) => {
    const o = classifyHttpOutcome({ status });
    expect(o).toMatchObject({ ok: false, retryable: true, status });
  });

  it.each([400, 401, 403, 404, 405, 410, 411, 413, 415, 422, 451, 501, 100])('gives up on %i', (status) => {
    const o = classifyHttpOutcome({ status, body: '{"error":"bad record"}' });
    expect(o).toMatchObject({ ok: false, retryable: false, status });
    expect(!o.ok && o.error).toContain(`HTTP ${status}`);
  });

  it.each([301, 302, 303, 307, 308])(
    'retries a %i redirect as a configuration problem naming the Location (masked)',
    (status) => {
      const o = classifyHttpOutcome({
        status,
        headers: { location: 'https://new.example.com/ingest?api_key=s3cr3t&x=1' },
      });
      expect(o).toMatchObject({ ok: false, retryable: true, status, problem: 'redirect' });
      expect(!o.ok && o.error).toContain('redirects to https://new.example.com/ingest?api_key=***&x=***');
      expect(!o.ok && o.error).toMatch(/does not follow redirects/);
      expect(!o.ok && o.error).not.toContain('s3cr3t');
    },
  );

  it('says so when a redirect has no Location', () => {
    const o = classifyHttpOutcome({ status: 302 });
    expect(o).toMatchObject({ ok: false, retryable: true, problem: 'redirect' });
    expect(!o.ok && o.error).toMatch(/no Location header/);
  });

  it('puts the start of the error body into the message, cut to a bound', () => {
    const o = classifyHttpOutcome({ status: 400, body: `{"error":"${'x'.repeat(1000)}"}` });
    expect(!o.ok && o.error.length).toBeLessThan(260);
    expect(!o.ok && o.error).toContain('{"error":"xxx');
  });

  it('carries Retry-After of a retryable status, in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-11-27T10:00:00Z');
    expect(classifyHttpOutcome({ status: 429, headers: { 'retry-after': '7' } }, now)).toMatchObject({
      retry_after_ms: 7000,
    });
    expect(
      classifyHttpOutcome({ status: 503, headers: { 'retry-after': 'Fri, 27 Nov 2026 10:00:30 GMT' } }, now),
    ).toMatchObject({ retry_after_ms: 30_000 });
    expect(classifyHttpOutcome({ status: 503 }, now)).not.toHaveProperty('retry_after_ms');
  });

  it.each([
    'ECONNREFUSED',
    'ECONNRESET',
    'EPIPE',
    'ETIMEDOUT',
    'UND_ERR_SOCKET',
    'UND_ERR_CLOSED',
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
  ])('retries the network error %s', (code) => {
    const o = classifyHttpOutcome({ error: errorWithCode(code) });
    expect(o).toMatchObject({ ok: false, retryable: true });
    expect(!o.ok && o.error).toContain(code);
  });

  it('finds the network code under undici wrappers', () => {
    const o = classifyHttpOutcome({
      error: errorWithCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1', true),
    });
    expect(!o.ok && o.error).toMatch(/ECONNREFUSED.*connect ECONNREFUSED/);
  });

  it('retries a timeout and says so', () => {
    const o = classifyHttpOutcome({ error: new Error('This operation was aborted'), timedOut: true });
    expect(o).toMatchObject({ ok: false, retryable: true });
    expect(!o.ok && o.error).toMatch(/timed out/);
  });

  it('retries a TLS verification failure but words it for a person', () => {
    const o = classifyHttpOutcome({
      error: errorWithCode('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
    });
    expect(o).toMatchObject({ ok: false, retryable: true });
    expect(!o.ok && o.error).toMatch(/certificate verification failed.*tls\.ca_file/);
  });

  it('retries an unknown error rather than dead-lettering data for a local fault', () => {
    expect(classifyHttpOutcome({ error: 'weird' })).toMatchObject({ ok: false, retryable: true });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-27T10:00:00Z');
  it('reads delta seconds and HTTP dates, and ignores garbage', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter(['5', '9'], now)).toBe(5000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 10:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  it('returns huge values as finite numbers (the forwarder clamps them to retry.max)', () => {
    expect(parseRetryAfter('99999999', now)).toBe(99_999_999_000);
    expect(parseRetryAfter('9'.repeat(400), now)).toBe(Number.MAX_SAFE_INTEGER);
    const farDate = parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', now);
    expect(farDate).toBeGreaterThan(2 ** 31);
    expect(Number.isFinite(farDate)).toBe(true);
  });
});

describe('maskUrl', () => {
  it('masks query values and user info, and keeps the rest readable', () => {
    expect(maskUrl('https://ingest.example.com/v1/batches?api_key=abc123&tenant=lyon')).toBe(
      'https://ingest.example.com/v1/batches?api_key=***&tenant=***',
    );
    expect(maskUrl('https://u:p@ingest.example.com/v1')).toBe('https://***:***@ingest.example.com/v1');
    expect(maskUrl('https://ingest.example.com/v1/batches')).toBe('https://ingest.example.com/v1/batches');
    expect(maskUrl('/relative/path?token=abc')).toBe('/relative/path?***');
  });
});
