// The http sink schema: defaults, durations and sizes, and the mistakes it must catch with a useful message.
import { describe, expect, it } from 'vitest';
import { httpSinkSchema } from './config.js';

const base = { id: 'central', type: 'http', url: 'https://ingest.example.com/v1/batches' } as const;

function issues(input: unknown): string[] {
  const r = httpSinkSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('httpSinkSchema', () => {
  it('fills the documented defaults', () => {
    expect(httpSinkSchema.parse(base)).toEqual({
      ...base,
      select: {},
      batch: { max_records: 1000, max_bytes: 1024 * 1024, max_wait: 1000 },
      max_in_flight: 2,
      timeout: 30_000,
      retry: { initial: 500, max: 60_000 },
    });
  });

  it('parses durations, sizes, selection, auth by reference and TLS files', () => {
    const c = httpSinkSchema.parse({
      ...base,
      select: { kinds: ['event'], types: ['production.count'] },
      batch: { max_records: 500, max_bytes: '256KiB', max_wait: '250ms' },
      retry: { initial: '1s', max: '5m' },
      timeout: '10s',
      auth: { bearer_env: 'CENTRAL_TOKEN' },
      tls: { ca_file: '/etc/plantgate/ca.pem', cert_file: '/c.pem', key_file: '/k.pem' },
      headers: { 'X-Plant': 'lyon' },
    });
    expect(c.batch).toEqual({ max_records: 500, max_bytes: 256 * 1024, max_wait: 250 });
    expect(c.retry).toEqual({ initial: 1000, max: 300_000 });
    expect(c.timeout).toBe(10_000);
    expect(c.tls?.insecure_skip_verify).toBe(false);
    expect(c.auth).toEqual({ bearer_env: 'CENTRAL_TOKEN' });
  });

  it('refuses clear-text secrets, half-given credentials and mixed auth', () => {
    expect(issues({ ...base, auth: { token: 'abc' } }).join()).toMatch(/token/);
    expect(issues({ ...base, auth: { username: 'edge', password: 'x' } }).join()).toMatch(/password/);
    expect(issues({ ...base, auth: { username: 'edge' } }).join()).toMatch(
      /needs password_env or password_file/,
    );
    expect(issues({ ...base, auth: { password_env: 'P' } }).join()).toMatch(/need a username/);
    expect(issues({ ...base, auth: { bearer_env: 'A', bearer_file: '/f' } }).join()).toMatch(/not both/);
    expect(issues({ ...base, auth: { bearer_env: 'A', username: 'u', password_env: 'P' } }).join()).toMatch(
      /either a bearer token/,
    );
    expect(issues({ ...base, auth: {} }).join()).toMatch(/auth needs/);
    expect(issues({ ...base, auth: { username: 'edge', password_file: '/etc/p' } })).toEqual([]);
  });

  it('refuses credentials embedded in the URL and points to auth', () => {
    for (const url of ['https://edge:s3cr3t@ingest.example.com/v1', 'https://token@ingest.example.com/v1']) {
      const found = issues({ ...base, url }).join();
      expect(found).toMatch(/^url: put no credentials in the URL: use auth/);
      expect(found).not.toContain('s3cr3t');
    }
    // A query parameter is allowed (some APIs want one); it is masked wherever the URL is shown.
    expect(issues({ ...base, url: 'https://ingest.example.com/v1?api_key=abc' })).toEqual([]);
  });

  it('takes an optional probe interval', () => {
    expect(httpSinkSchema.parse({ ...base, retry: { probe_interval: '2s' } }).retry).toEqual({
      initial: 500,
      max: 60_000,
      probe_interval: 2000,
    });
  });

  it('catches wrong URLs, unknown keys, bad limits and headers the sink owns', () => {
    expect(issues({ ...base, url: 'ftp://x/y' }).join()).toMatch(/^url: expected an http/);
    expect(issues({ ...base, url: 'not a url' }).join()).toMatch(/^url:/);
    expect(issues({ ...base, batch: { max_records: 0 } }).join()).toMatch(/batch\.max_records/);
    expect(issues({ ...base, batch: { max_wait: 'soon' } }).join()).toMatch(
      /batch\.max_wait: expected a duration/,
    );
    expect(issues({ ...base, batch: { max_record: 10 } }).join()).toMatch(/max_record/);
    expect(issues({ ...base, max_in_flight: 0 }).join()).toMatch(/max_in_flight/);
    expect(issues({ ...base, select: { kinds: ['reading', 'sample'] } }).join()).toMatch(/select\.kinds\.1/);
    expect(issues({ ...base, headers: { Authorization: 'Bearer x' } }).join()).toMatch(
      /headers\.Authorization: .*use auth/,
    );
    expect(issues({ ...base, headers: { 'bad header': 'x' } }).join()).toMatch(/header name/);
    expect(issues({ ...base, url: 'http://x/y', tls: { ca_file: '/a' } }).join()).toMatch(
      /^tls: tls settings need an https/,
    );
    expect(issues({ ...base, tls: { cert_file: '/a' } }).join()).toMatch(
      /tls\.key_file: cert_file and key_file go together/,
    );
  });
});
