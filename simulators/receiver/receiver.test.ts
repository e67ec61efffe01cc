// Tests of the receiver simulator over real sockets: the contract checks, de-duplication, every fault, outages,
// TLS and mutual TLS, the control endpoints and the standalone process.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/kit/testing/wait.js';
import { type Receiver, startReceiver } from './receiver.js';
import { createTestPki, type TestPki } from './test-certs.js';

function reading(id: string, signal = 'lyon.press1.pressure') {
  return {
    id,
    kind: 'reading',
    signal,
    value: 1,
    unit: 'bar',
    ts: '2026-11-27T10:00:00.000Z',
    ingest_ts: '2026-11-27T10:00:00.001Z',
    quality: 'good',
    source: { id: 's', type: 'generator', address: 'a' },
  };
}

function batch(first: number, last: number, ids: string[], records = ids.map((id) => reading(id))) {
  return {
    schema: 'plantgate.batch.v1',
    batch_id: `gw:central:${first}-${last}`,
    gateway: { id: 'gw', site: 'lyon' },
    sent_at: '2026-11-27T10:00:00.123Z',
    records,
  };
}

async function post(
  r: { url: string },
  body: unknown,
  opts: {
    path?: string;
    key?: string | null;
    ctype?: string;
    dispatcher?: Agent;
    headers?: Record<string, string>;
  } = {},
) {
  const b = body as { batch_id?: string };
  const headers: Record<string, string> = {
    'content-type': opts.ctype ?? 'application/json',
    ...(opts.headers ?? {}),
  };
  const key = opts.key === undefined ? `"${b.batch_id}"` : opts.key;
  if (key !== null) headers['idempotency-key'] = key;
  const res = await request(`${r.url}${opts.path ?? '/v1/batches'}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

describe('receiver', () => {
  let r: Receiver;
  afterEach(async () => {
    await r?.close();
  });

  it('lists each record that arrived again, with the batch that brought it first', async () => {
    r = await startReceiver({ keep_records: false });
    await post(r, batch(1, 2, ['a', 'b']));
    await post(r, batch(3, 5, ['c', 'b', 'c']));
    expect(r.stats().duplicate_records).toBe(2);
    expect(r.duplicates().map((d) => [d.id, d.batch_id, d.first_batch_id])).toEqual([
      ['b', 'gw:central:3-5', 'gw:central:1-2'],
      ['c', 'gw:central:3-5', 'gw:central:3-5'],
    ]);
    expect(r.duplicates()[0]?.record.signal).toBe('lyon.press1.pressure');
    const res = await request(`${r.url}/_recv/duplicates?path=/v1/batches`);
    expect(((await res.body.json()) as unknown[]).length).toBe(2);
    r.resetData();
    expect(r.duplicates()).toEqual([]);
  });

  it('slows only the named batch, and sends Location and any Retry-After text with a status fault', async () => {
    r = await startReceiver();
    r.setFaults({ slow_ms: 600, slow_only_batch: 'gw:central:1-1' });
    const t0 = Date.now();
    const [slow, fast] = await Promise.all([
      post(r, batch(1, 1, ['a'])).then((x) => ({ ...x, ms: Date.now() - t0 })),
      post(r, batch(2, 2, ['b'])).then((x) => ({ ...x, ms: Date.now() - t0 })),
    ]);
    expect(slow.status).toBe(200);
    expect(fast.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(550);
    expect(fast.ms).toBeLessThan(slow.ms);
    r.setFaults({
      clear: true,
      status: 307,
      location: 'https://new.example.com/in',
      retry_after: '99999999',
    });
    const moved = await post(r, batch(3, 3, ['c']));
    expect(moved.status).toBe(307);
    expect(moved.headers.location).toBe('https://new.example.com/in');
    expect(moved.headers['retry-after']).toBe('99999999');
  });

  it('accepts a valid batch, de-duplicates batch ids and record ids per path, and reports it', async () => {
    r = await startReceiver();
    expect(r.port).toBeGreaterThan(0);
    expect((await post(r, batch(1, 2, ['a', 'b']))).status).toBe(200);
    // Same batch again: accepted (idempotent) but counted as a duplicate, records not stored twice.
    const again = await post(r, batch(1, 2, ['a', 'b']));
    expect(again.status).toBe(200);
    expect(again.json.status).toBe('duplicate');
    // A new batch repeating record b: b is a duplicate record, c is new.
    expect((await post(r, batch(2, 3, ['b', 'c']))).status).toBe(200);
    // The same records on another path are that path's own.
    expect((await post(r, batch(1, 2, ['a', 'b']), { path: '/erp' })).status).toBe(200);
    const s = r.stats();
    expect(s).toMatchObject({
      requests: 4,
      batches: 3,
      duplicate_batches: 1,
      records: 5,
      duplicate_records: 1,
    });
    expect(s.paths['/v1/batches']).toMatchObject({
      requests: 3,
      batches: 2,
      duplicate_batches: 1,
      records: 3,
      duplicate_records: 1,
    });
    expect(s.paths['/erp']).toMatchObject({ batches: 1, records: 2 });
    expect(r.records('/v1/batches').map((x) => x.id)).toEqual(['a', 'b', 'c']);
    expect(r.records().length).toBe(5);
    expect(r.batches('/v1/batches').map((b) => [b.batch_id, b.duplicate])).toEqual([
      ['gw:central:1-2', false],
      ['gw:central:1-2', true],
      ['gw:central:2-3', false],
    ]);
    // The control endpoints say the same over HTTP.
    const stats = (await (await fetch(`${r.url}/_recv/stats`)).json()) as { records: number };
    expect(stats.records).toBe(5);
    const recs = (await (await fetch(`${r.url}/_recv/records?path=/erp`)).json()) as Array<{ id: string }>;
    expect(recs.map((x) => x.id)).toEqual(['a', 'b']);
  });

  it('refuses bodies and headers that break the wire contract with 400', async () => {
    r = await startReceiver();
    expect((await post(r, batch(1, 1, ['a']), { key: 'gw:central:1-1' })).status).toBe(400);
    expect((await post(r, batch(1, 1, ['a']), { key: null })).status).toBe(400);
    expect((await post(r, batch(1, 1, ['a']), { key: '"gw:central:1-2"' })).status).toBe(400);
    expect((await post(r, { ...batch(1, 1, ['a']), schema: 'other' })).status).toBe(400);
    expect(
      (await post(r, { ...batch(1, 1, ['a']), batch_id: 'nonsense' }, { key: '"nonsense"' })).status,
    ).toBe(400);
    expect((await post(r, batch(1, 1, ['a'], [{ id: 'a', kind: 'thing' }] as never))).status).toBe(400);
    expect((await post(r, batch(1, 1, ['a']), { ctype: 'text/plain' })).status).toBe(400);
    const bad = await post(r, batch(1, 1, []));
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/records/);
    expect(r.stats()).toMatchObject({ invalid: 8, batches: 0, records: 0 });
    expect(r.stats().last_problem).toMatch(/records must not be empty/);
  });

  it('injects a status fault for the next N requests, with Retry-After, then accepts again', async () => {
    r = await startReceiver();
    r.setFaults({ status: 429, count: 2, retry_after: 3 });
    const a = await post(r, batch(1, 1, ['a']));
    expect(a.status).toBe(429);
    expect(a.headers['retry-after']).toBe('3');
    expect((await post(r, batch(1, 1, ['a']))).status).toBe(429);
    expect((await post(r, batch(1, 1, ['a']))).status).toBe(200);
    expect(r.stats()).toMatchObject({
      faults_fired: { status: 2 },
      batches: 1,
      responses: { '429': 2, '200': 1 },
    });
    // A status fault aimed at one batch leaves the others alone.
    r.setFaults({ status: 503, only_batch: 'gw:central:3-3' });
    expect((await post(r, batch(2, 2, ['b']))).status).toBe(200);
    expect((await post(r, batch(3, 3, ['c']))).status).toBe(503);
    expect(r.requests().map((q) => [q.batch_id, q.status])).toEqual([
      ['gw:central:1-1', 429],
      ['gw:central:1-1', 429],
      ['gw:central:1-1', 200],
      ['gw:central:2-2', 200],
      ['gw:central:3-3', 503],
    ]);
    expect(r.stats()).toMatchObject({ concurrent: 0, max_concurrent: 1 });
  });

  it('injects a status fault for a duration, set over HTTP', async () => {
    r = await startReceiver();
    const res = await fetch(`${r.url}/_recv/faults`, {
      method: 'POST',
      body: JSON.stringify({ status: 503, for_ms: 300 }),
    });
    expect(res.status).toBe(200);
    const t0 = Date.now();
    expect((await post(r, batch(1, 1, ['a']))).status).toBe(503);
    await waitFor('the 503 window to end', async () => (await post(r, batch(1, 1, ['a']))).status === 200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(r.faults().status).toBeUndefined();
  });

  it('resets connections, answers slowly, and rejects chosen records until cleared', async () => {
    r = await startReceiver();
    r.setFaults({ reset: 1 });
    await expect(post(r, batch(1, 1, ['a']))).rejects.toThrow();
    expect(r.requests()[0]?.status).toBe(0);
    expect((await post(r, batch(1, 1, ['a']))).status).toBe(200);
    expect(r.stats().faults_fired.reset).toBe(1);

    r.setFaults({ slow_ms: 200 });
    const t0 = Date.now();
    expect((await post(r, batch(2, 2, ['b']))).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);

    r.setFaults({ clear: true, reject_records: ['x'], reject_if: { signal: 'lyon.bad.signal' } });
    expect((await post(r, batch(3, 4, ['c', 'x']))).status).toBe(400);
    expect((await post(r, batch(5, 5, ['d'], [reading('d', 'lyon.bad.signal')]))).status).toBe(400);
    expect((await post(r, batch(6, 6, ['e']))).status).toBe(200);
    r.setFaults({ clear: true });
    expect((await post(r, batch(3, 4, ['c', 'x']))).status).toBe(200);
    expect(r.stats()).toMatchObject({ rejected: 2, records: 5 });
  });

  it('goes down and comes back on the same port, in-process and over HTTP', async () => {
    r = await startReceiver();
    const port = r.port;
    await r.goDown();
    expect(r.stats().up).toBe(false);
    await expect(post(r, batch(1, 1, ['a']))).rejects.toThrow(/ECONNREFUSED|connect/);
    await r.comeUp();
    expect(r.port).toBe(port);
    expect((await post(r, batch(1, 1, ['a']))).status).toBe(200);

    const res = await fetch(`${r.url}/_recv/faults`, {
      method: 'POST',
      body: JSON.stringify({ down_ms: 300 }),
    });
    expect(res.status).toBe(200);
    await waitFor('the receiver to go down', () => !r.stats().up);
    await waitFor('the receiver to come back', () => r.stats().up);
    expect(r.port).toBe(port);
    expect((await post(r, batch(2, 2, ['b']))).status).toBe(200);
  });

  it('keeps only ids and counts with keep_records false', async () => {
    r = await startReceiver({ keep_records: false });
    await post(r, batch(1, 2, ['a', 'b']));
    await post(r, batch(3, 3, ['b']));
    expect(r.records()).toEqual([]);
    expect(r.stats()).toMatchObject({ records: 2, duplicate_records: 1, batches: 2 });
  });

  it('demands an exact Authorization header when configured', async () => {
    r = await startReceiver({ require_authorization: 'Bearer t0k' });
    expect((await post(r, batch(1, 1, ['a']))).status).toBe(401);
    expect((await post(r, batch(1, 1, ['a']), { headers: { authorization: 'Bearer t0k' } })).status).toBe(
      200,
    );
    expect(r.lastHeaders('/v1/batches')?.authorization).toBe('Bearer t0k');
    expect(r.stats().unauthorized).toBe(1);
  });
});

describe('receiver over TLS', () => {
  let pki: TestPki;
  let r: Receiver | undefined;
  const agents: Agent[] = [];
  beforeAll(() => {
    pki = createTestPki();
  });
  afterEach(async () => {
    await r?.close();
    r = undefined;
    await Promise.all(agents.splice(0).map((a) => a.close()));
  });
  afterAll(() => pki.cleanup());

  it('serves https with its certificate; a client trusting the CA gets through, others are refused', async () => {
    r = await startReceiver({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    expect(r.url.startsWith('https://127.0.0.1:')).toBe(true);
    const trusting = new Agent({ connect: { ca: pki.ca } });
    const plain = new Agent();
    agents.push(trusting, plain);
    expect((await post(r, batch(1, 1, ['a']), { dispatcher: trusting })).status).toBe(200);
    await expect(post(r, batch(2, 2, ['b']), { dispatcher: plain })).rejects.toThrow(/certificate/i);
  });

  it('requires a client certificate signed by its CA with requestCert', async () => {
    r = await startReceiver({
      tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert: true },
    });
    const withCert = new Agent({ connect: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } });
    const without = new Agent({ connect: { ca: pki.ca } });
    agents.push(withCert, without);
    expect((await post(r, batch(1, 1, ['a']), { dispatcher: withCert })).status).toBe(200);
    await expect(post(r, batch(2, 2, ['b']), { dispatcher: without })).rejects.toThrow();
    expect(r.stats().records).toBe(1);
  });
});

describe('receiver standalone', () => {
  it('runs as its own process, prints its URL, and exits 0 on SIGTERM', async () => {
    const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', cli, '--port', '0', '--keep-records', 'false'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      await waitFor('the receiver to print its URL', () => /listening on (http:\/\/\S+)/.test(out), {
        timeoutMs: 20_000,
      });
      const url = (/listening on (http:\/\/\S+)/.exec(out) as RegExpExecArray)[1] as string;
      expect((await post({ url }, batch(1, 1, ['a']))).status).toBe(200);
      const stats = (await (await fetch(`${url}/_recv/stats`)).json()) as { records: number };
      expect(stats.records).toBe(1);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
