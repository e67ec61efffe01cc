// The http sink against the real receiver simulator: the wire format, headers, credentials, TLS verification,
// client certificates, timeouts, and that no credential ever reaches a log line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../../../simulators/receiver/receiver.js';
import { createTestPki, type TestPki } from '../../../simulators/receiver/test-certs.js';
import { Secret } from '../../config/kit/primitives.js';
import { resolveReferences } from '../../config/secrets.js';
import { PlantgateError } from '../../kit/errors.js';
import type { Reading } from '../../model/records.js';
import type { Batch } from '../kit/types.js';
import { buildBatchBody } from '../kit/wire.js';
import { captureLogger, makeReading } from '../test-support.js';
import { httpSinkSchema } from './config.js';
import { HttpSink, type HttpSinkSettings, sfString } from './sink.js';

const TOKEN = 'tok-3f9c2a7e-very-secret';

function settings(url: string, extra: Record<string, unknown> = {}): HttpSinkSettings {
  return httpSinkSchema.parse({ id: 'central', type: 'http', url, ...extra }) as HttpSinkSettings;
}

/** Resolves the secret references of a sink section as the config loader does (in place), failing on any issue. */
async function resolved(config: HttpSinkSettings, env: NodeJS.ProcessEnv = {}): Promise<HttpSinkSettings> {
  const issues = await resolveReferences(config, { env, baseDir: tmpdir() });
  expect(issues).toEqual([]);
  return config;
}

function batchOf(first: number, n: number): Batch {
  const records = Array.from({ length: n }, (_, i) => makeReading(first + i));
  return {
    batch_id: `lyon-edge-01:central:${first}-${first + n - 1}`,
    first_seq: first,
    last_seq: first + n - 1,
    entries: records.map((record) => ({ record })),
  };
}

describe('buildBatchBody', () => {
  it('builds wire contract v1 with its fields in order, from records or from their stored JSON', () => {
    const b = batchOf(1, 3);
    const records = b.entries.map((e) => e.record);
    // Non-ASCII text takes more bytes than characters: the buffer must be sized in bytes.
    records[1] = {
      ...(records[1] as Reading),
      attrs: { note: 'Öl-Temperatur über 80 °C 🔥', lot: 'Ж-7' },
    };
    const body = buildBatchBody(
      { ...b, entries: records.map((record) => ({ record })) },
      { id: 'lyon-edge-01', site: 'lyon' },
      '2026-11-27T10:00:00.123Z',
    );
    const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['schema', 'batch_id', 'gateway', 'sent_at', 'records']);
    expect(parsed).toEqual({
      schema: 'plantgate.batch.v1',
      batch_id: 'lyon-edge-01:central:1-3',
      gateway: { id: 'lyon-edge-01', site: 'lyon' },
      sent_at: '2026-11-27T10:00:00.123Z',
      records,
    });
    const fromJson = buildBatchBody(
      { ...b, entries: records.map((record) => ({ record, json: JSON.stringify(record) })) },
      { id: 'lyon-edge-01', site: 'lyon' },
      '2026-11-27T10:00:00.123Z',
    );
    expect(fromJson.equals(body)).toBe(true);
    const empty = buildBatchBody({ ...b, entries: [] }, { id: 'g', site: 's' }, 't');
    expect(JSON.parse(empty.toString('utf8'))).toMatchObject({ records: [] });
  });

  it('quotes the idempotency key as a structured-field string', () => {
    expect(sfString('gw:central:1-3')).toBe('"gw:central:1-3"');
    expect(sfString('a"b\\c')).toBe('"a\\"b\\\\c"');
  });
});

describe('HttpSink', () => {
  let receiver: Receiver | undefined;
  let sink: HttpSink | undefined;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'plantgate-sink-'));
  });
  afterEach(async () => {
    await sink?.stop();
    sink = undefined;
    await receiver?.close();
    receiver = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('POSTs a batch the receiver accepts, with the idempotency key and content type', async () => {
    receiver = await startReceiver();
    const { log } = captureLogger();
    sink = new HttpSink({
      config: settings(`${receiver.url}/v1/batches?src=edge`),
      gatewayId: 'lyon-edge-01',
      site: 'lyon',
      log,
    });
    await sink.start();
    const b = batchOf(10, 5);
    const o = await sink.write(b, new AbortController().signal);
    expect(o).toMatchObject({ ok: true, status: 200 });
    expect(o.ok && o.latency_ms).toBeGreaterThan(0);
    expect(receiver.records('/v1/batches')).toEqual(b.entries.map((e) => e.record));
    const h = receiver.lastHeaders('/v1/batches');
    expect(h?.['idempotency-key']).toBe('"lyon-edge-01:central:10-14"');
    expect(h?.['content-type']).toBe('application/json');
    expect(h?.authorization).toBeUndefined();
  });

  it('classifies the receiver answers: 503 and 429 retryable with Retry-After, 400 permanent', async () => {
    receiver = await startReceiver();
    sink = new HttpSink({
      config: settings(receiver.url),
      gatewayId: 'gw',
      site: 'lyon',
      log: captureLogger().log,
    });
    await sink.start();
    const signal = new AbortController().signal;
    receiver.setFaults({ status: 503, count: 1 });
    expect(await sink.write(batchOf(1, 2), signal)).toMatchObject({
      ok: false,
      retryable: true,
      status: 503,
    });
    receiver.setFaults({ status: 429, count: 1, retry_after: 2 });
    expect(await sink.write(batchOf(1, 2), signal)).toMatchObject({
      ok: false,
      retryable: true,
      status: 429,
      retry_after_ms: 2000,
    });
    receiver.setFaults({ reject_records: [batchOf(1, 2).entries[1]?.record.id as string] });
    const o = await sink.write(batchOf(1, 2), signal);
    expect(o).toMatchObject({ ok: false, retryable: false, status: 400 });
    expect(!o.ok && o.error).toMatch(/HTTP 400.*rejected/);
    receiver.setFaults({ clear: true, reset: 1 });
    expect(await sink.write(batchOf(1, 2), signal)).toMatchObject({ ok: false, retryable: true });
    expect(await sink.write(batchOf(1, 2), signal)).toMatchObject({ ok: true });
  });

  it('gives up on a request after the timeout, as a retryable failure', async () => {
    receiver = await startReceiver();
    receiver.setFaults({ slow_ms: 2000 });
    sink = new HttpSink({
      config: settings(receiver.url, { timeout: '200ms' }),
      gatewayId: 'gw',
      site: 'lyon',
      log: captureLogger().log,
    });
    await sink.start();
    const t0 = Date.now();
    const o = await sink.write(batchOf(1, 1), new AbortController().signal);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(o).toMatchObject({ ok: false, retryable: true });
    expect(!o.ok && o.error).toMatch(/timed out/);
  });

  it('sends a bearer token from an env var, a file, or a resolved Secret, and never logs it', async () => {
    receiver = await startReceiver({ require_authorization: `Bearer ${TOKEN}` });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const cap = captureLogger('trace');
    // The env var and the file are resolved by the config loader, as in the daemon; the sink reads only the Secret.
    const variants: HttpSinkSettings[] = [
      await resolved(settings(receiver.url, { auth: { bearer_env: 'PG_TEST_TOKEN' } }), {
        PG_TEST_TOKEN: TOKEN,
      }),
      await resolved(settings(receiver.url, { auth: { bearer_file: tokenFile } })),
      {
        ...settings(receiver.url, { auth: { bearer_env: 'UNUSED' } }),
        auth: { bearer: new Secret(TOKEN, 'env:X') },
      },
    ];
    for (const config of variants) {
      const s = new HttpSink({
        config,
        gatewayId: 'gw',
        site: 'lyon',
        log: cap.log,
      });
      await s.start();
      expect(await s.write(batchOf(1, 1), new AbortController().signal)).toMatchObject({ ok: true });
      await s.stop();
    }
    expect(receiver.stats().unauthorized).toBe(0);
    // A wrong token is refused (401, permanent) and the failure text carries no credential either.
    const wrong = new HttpSink({
      config: { ...settings(receiver.url), auth: { bearer: 'nope' } },
      gatewayId: 'gw',
      site: 'lyon',
      log: cap.log,
    });
    await wrong.start();
    const o = await wrong.write(batchOf(2, 1), new AbortController().signal);
    await wrong.stop();
    expect(o).toMatchObject({ ok: false, retryable: false, status: 401 });
    expect(JSON.stringify(o)).not.toContain(TOKEN);
    expect(cap.text()).not.toContain(TOKEN);
  });

  it('sends basic authentication from a password file', async () => {
    const pwFile = join(dir, 'pw');
    writeFileSync(pwFile, 's3cret-pw\n');
    receiver = await startReceiver({
      require_authorization: `Basic ${Buffer.from('edge:s3cret-pw').toString('base64')}`,
    });
    sink = new HttpSink({
      config: await resolved(settings(receiver.url, { auth: { username: 'edge', password_file: pwFile } })),
      gatewayId: 'gw',
      site: 'lyon',
      log: captureLogger().log,
    });
    await sink.start();
    expect(await sink.write(batchOf(1, 1), new AbortController().signal)).toMatchObject({ ok: true });
  });

  it('fails to start with CONFIG_SECRET_MISSING when the secret is not there', async () => {
    // A reference the loader did not resolve (the configuration did not come through it): the sink reads no
    // environment variable itself.
    const s = new HttpSink({
      config: settings('http://127.0.0.1:9/x', { auth: { bearer_env: 'PG_TEST_NOT_SET' } }),
      gatewayId: 'gw',
      site: 'lyon',
      log: captureLogger().log,
    });
    const err = await s.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PlantgateError);
    expect((err as PlantgateError).code).toBe('CONFIG_SECRET_MISSING');
    expect((err as Error).message).toMatch(/PG_TEST_NOT_SET/);
  });

  it('reads its TLS files through readPem: a key file gone since the load fails start naming it, not its bytes', async () => {
    const keyFile = join(dir, 'client.key');
    writeFileSync(keyFile, '');
    const s = new HttpSink({
      config: settings('https://127.0.0.1:9/x', {
        tls: { ca_file: join(dir, 'gone-ca.pem'), cert_file: keyFile, key_file: keyFile },
      }),
      gatewayId: 'gw',
      site: 'lyon',
      log: captureLogger().log,
    });
    const err = await s.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PlantgateError);
    expect((err as PlantgateError).code).toMatch(/^CONFIG/);
    expect((err as Error).message).toContain(`the CA file "${join(dir, 'gone-ca.pem')}"`);
    expect((err as Error).message).toMatch(/does not exist/);
  });

  describe('over TLS', () => {
    let pki: TestPki;
    beforeAll(() => {
      pki = createTestPki();
    });
    afterAll(() => pki.cleanup());

    it('verifies the server with ca_file', async () => {
      receiver = await startReceiver({ tls: { cert: pki.serverCert, key: pki.serverKey } });
      sink = new HttpSink({
        config: settings(receiver.url, { tls: { ca_file: pki.caFile } }),
        gatewayId: 'gw',
        site: 'lyon',
        log: captureLogger().log,
      });
      await sink.start();
      expect(await sink.write(batchOf(1, 3), new AbortController().signal)).toMatchObject({ ok: true });
      expect(receiver.stats().records).toBe(3);
    });

    it('refuses a server it cannot verify, saying so, and retries rather than dead-lettering', async () => {
      receiver = await startReceiver({ tls: { cert: pki.serverCert, key: pki.serverKey } });
      sink = new HttpSink({
        config: settings(receiver.url),
        gatewayId: 'gw',
        site: 'lyon',
        log: captureLogger().log,
      });
      await sink.start();
      const o = await sink.write(batchOf(1, 1), new AbortController().signal);
      expect(o).toMatchObject({ ok: false, retryable: true });
      expect(!o.ok && o.error).toMatch(/certificate verification failed/);
      expect(receiver.stats().requests).toBe(0);
    });

    it('skips verification only with insecure_skip_verify, and warns loudly', async () => {
      receiver = await startReceiver({ tls: { cert: pki.serverCert, key: pki.serverKey } });
      const cap = captureLogger();
      sink = new HttpSink({
        config: settings(receiver.url, { tls: { insecure_skip_verify: true } }),
        gatewayId: 'gw',
        site: 'lyon',
        log: cap.log,
      });
      await sink.start();
      expect(await sink.write(batchOf(1, 1), new AbortController().signal)).toMatchObject({ ok: true });
      expect(cap.lines().some((l) => l.level === 40 && /verification is OFF/.test(String(l.msg)))).toBe(true);
    });

    it('presents a client certificate for mutual TLS', async () => {
      receiver = await startReceiver({
        tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert: true },
      });
      const noCert = new HttpSink({
        config: settings(receiver.url, { tls: { ca_file: pki.caFile } }),
        gatewayId: 'gw',
        site: 'lyon',
        log: captureLogger().log,
      });
      await noCert.start();
      expect(await noCert.write(batchOf(1, 1), new AbortController().signal)).toMatchObject({
        ok: false,
        retryable: true,
      });
      await noCert.stop();
      sink = new HttpSink({
        config: settings(receiver.url, {
          tls: { ca_file: pki.caFile, cert_file: pki.clientCertFile, key_file: pki.clientKeyFile },
        }),
        gatewayId: 'gw',
        site: 'lyon',
        log: captureLogger().log,
      });
      await sink.start();
      expect(await sink.write(batchOf(1, 1), new AbortController().signal)).toMatchObject({ ok: true });
    });
  });
});
