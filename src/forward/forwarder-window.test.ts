// The forwarder end to end against the real receiver simulator and the real LevelDB journal in a temp dir: the
// max_in_flight window and in-order cursor commits, restarts that resend the same batch, graceful stop, journal
// read failures, selection, TLS and credentials that never reach the logs.
import { afterEach, describe, expect, it } from 'vitest';
import { createTestPki } from '../../simulators/receiver/test-certs.js';
import { resolveReferences } from '../config/secrets.js';
import { type EventRecord, eventId } from '../model/records.js';
import {
  appendReadings,
  bid,
  cleanUp,
  forwarderFor,
  GW,
  harness,
  onCleanUp,
  openJournal,
  TOKEN,
  until,
} from './forwarder-test-harness.js';
import { httpSinkSchema } from './http/config.js';
import type { HttpSinkSettings } from './http/sink.js';
import { makeReading } from './test-support.js';

afterEach(cleanUp);

describe('Forwarder', () => {
  it('sends up to max_in_flight batches at once but commits cursors strictly in order', async () => {
    const h = await harness({
      sink: { batch: { max_records: 10, max_wait: '30ms' }, max_in_flight: 3 },
    });
    const a = await appendReadings(h.journal, 0, 30);
    const first = bid(a.first, a.first + 9);
    // Batch 1 is slow; 2 and 3 are accepted meanwhile.
    h.receiver.setFaults({ slow_ms: 1500, slow_only_batch: first });
    const acks: Array<{ seq: number; at: number }> = [];
    const realAck = h.journal.ack.bind(h.journal);
    h.journal.ack = (sink, seq, delivered) => {
      acks.push({ seq, at: Date.now() });
      return realAck(sink, seq, delivered);
    };
    const f = forwarderFor(h);
    await f.start();
    await until(h, () => h.receiver.batches().length === 2, 'batches 2 and 3 while 1 is slow');
    expect(
      h.receiver
        .batches()
        .map((b) => b.batch_id)
        .sort(),
    ).toEqual([bid(a.first + 10, a.first + 19), bid(a.first + 20, a.last)]);
    // Batch 1 is still in flight: nothing may be committed yet.
    expect(h.journal.cursor('central')).toBe(a.first - 1);
    expect(acks).toEqual([]);
    await until(h, () => h.journal.cursor('central') === a.last, 'the cursor after batch 1');
    const firstAt = h.receiver.batches().find((b) => b.batch_id === first)?.at;
    expect(firstAt).toBeDefined();
    expect(acks.length).toBeGreaterThan(0);
    expect(acks[0]?.at).toBeGreaterThanOrEqual(firstAt ?? Number.POSITIVE_INFINITY);
    expect(acks[0]?.seq).toBeGreaterThanOrEqual(a.first + 9);
    for (let i = 1; i < acks.length; i++) expect(acks[i]?.seq).toBeGreaterThan(acks[i - 1]?.seq ?? 0);
    expect(h.receiver.stats().max_concurrent).toBeGreaterThanOrEqual(2);
    expect(h.receiver.stats().max_concurrent).toBeLessThanOrEqual(3);
    expect(h.receiver.stats().records).toBe(30);
  });

  it('keeps at most max_in_flight batches past the cursor: acknowledged ones hold their place until it moves', async () => {
    // Before: a batch left the window when acknowledged, so behind one slow (or failing) batch the other slot kept
    // delivering later batches while the cursor stood still, and a crash then resent all of them.
    const h = await harness({
      sink: { batch: { max_records: 10, max_wait: '30ms' }, max_in_flight: 2 },
    });
    const a = await appendReadings(h.journal, 0, 200);
    const first = bid(a.first, a.first + 9);
    h.receiver.setFaults({ slow_ms: 2000, slow_only_batch: first });
    const f = forwarderFor(h);
    await f.start();
    await until(h, () => h.receiver.batches().length >= 1, 'the batch next to the slow one');
    // Wait until the slow batch is answered, watching how far the others got meanwhile.
    let maxPast = 0;
    await until(
      h,
      () => {
        const accepted = h.receiver.batches().filter((b) => b.batch_id !== first).length;
        const cursorMoved = h.journal.cursor('central') >= a.first + 9;
        if (!cursorMoved) maxPast = Math.max(maxPast, accepted);
        return cursorMoved;
      },
      'the slow batch',
    );
    // A crash during those 2 s would have resent the slow batch and the one other in the window, no more.
    expect(maxPast).toBe(1);
    await until(h, () => h.journal.cursor('central') === a.last, 'the rest');
    expect(h.receiver.stats().records).toBe(200);
    expect(h.receiver.stats().duplicate_records).toBe(0);
  });

  it('reads the next batch while the window is full, and sends it only when a slot is free', async () => {
    const h = await harness({
      sink: { batch: { max_records: 10, max_wait: '30ms' }, max_in_flight: 1 },
    });
    const a = await appendReadings(h.journal, 0, 30);
    h.receiver.setFaults({ slow_ms: 1500, slow_only_batch: bid(a.first, a.first + 9) });
    const reads: number[] = [];
    const realRead = h.journal.read.bind(h.journal);
    h.journal.read = (sink, after, max, bytes) => {
      reads.push(after);
      return realRead(sink, after, max, bytes);
    };
    const f = forwarderFor(h);
    await f.start();
    // While the first batch is at the slow receiver, the second is already read from the journal, not sent.
    await until(h, () => h.receiver.stats().concurrent === 1, 'the first batch at the receiver');
    await until(h, () => reads.includes(a.first + 9), 'the read of the second batch');
    expect(h.receiver.stats()).toMatchObject({ concurrent: 1, max_concurrent: 1, batches: 0 });
    expect(h.journal.cursor('central')).toBe(a.first - 1);
    await until(h, () => h.journal.cursor('central') === a.last, 'the rest');
    expect(h.receiver.requests().map((r) => r.batch_id)).toEqual([
      bid(a.first, a.first + 9),
      bid(a.first + 10, a.first + 19),
      bid(a.first + 20, a.last),
    ]);
    expect(h.receiver.stats().max_concurrent).toBe(1);
  });

  it('never has more than max_in_flight batches in flight', async () => {
    const h = await harness({
      sink: { batch: { max_records: 50, max_wait: '30ms' }, max_in_flight: 2 },
      receiver: { keep_records: false },
    });
    h.receiver.setFaults({ slow_ms: 100 });
    await appendReadings(h.journal, 0, 500);
    const f = forwarderFor(h);
    await f.start();
    let maxSeen = 0;
    await until(
      h,
      () => {
        maxSeen = Math.max(maxSeen, f.health().batches_in_flight);
        return h.receiver.stats().records === 500;
      },
      'delivery',
    );
    expect(h.receiver.stats().max_concurrent).toBe(2);
    expect(maxSeen).toBeLessThanOrEqual(2);
  });

  it('after a restart resends the batch that was in flight with the same batch id, not a bigger one', async () => {
    const h = await harness({ sink: { batch: { max_records: 100, max_wait: '20ms' } } });
    h.receiver.setFaults({ slow_ms: 1500 });
    const a = await appendReadings(h.journal, 0, 5);
    const f1 = forwarderFor(h);
    await f1.start();
    await until(h, () => h.receiver.stats().concurrent === 1, 'the request to be in flight');
    await f1.stop(50);
    expect(f1.health().state).toBe('stopped');
    expect(h.journal.cursor('central')).toBe(a.first - 1);
    // More records arrive before the restart; the journal is closed and opened again (as after a crash or reboot).
    const b = await appendReadings(h.journal, 5, 5);
    await h.journal.close();
    h.journal = await openJournal(h.dir, h.config);
    h.receiver.setFaults({ clear: true });
    const f2 = forwarderFor(h);
    await f2.start();
    await until(
      h,
      () => h.receiver.stats().records === 10 && h.receiver.stats().duplicate_batches === 1,
      'the resend and the new batch',
    );
    const ids = h.receiver.requests().map((r) => r.batch_id);
    expect(new Set(ids)).toEqual(new Set([bid(a.first, a.last), bid(b.first, b.last)]));
    expect(h.receiver.stats()).toMatchObject({ batches: 2, duplicate_batches: 1, duplicate_records: 0 });
    await until(h, () => h.journal.cursor('central') === b.last, 'the cursor');
  });

  it('re-cuts full batches identically after a restart', async () => {
    const h = await harness({ sink: { batch: { max_records: 40, max_wait: '20ms' }, max_in_flight: 2 } });
    h.receiver.setFaults({ slow_ms: 1000 });
    const a = await appendReadings(h.journal, 0, 120);
    const f1 = forwarderFor(h);
    await f1.start();
    await until(h, () => h.receiver.stats().concurrent === 2, 'two requests in flight');
    await f1.stop(0);
    await h.journal.close();
    h.journal = await openJournal(h.dir, h.config);
    h.receiver.setFaults({ clear: true });
    const f2 = forwarderFor(h);
    await f2.start();
    await until(
      h,
      () => h.receiver.stats().records === 120 && h.receiver.stats().duplicate_batches === 2,
      'delivery',
    );
    expect(new Set(h.receiver.requests().map((r) => r.batch_id))).toEqual(
      new Set([bid(a.first, a.first + 39), bid(a.first + 40, a.first + 79), bid(a.first + 80, a.last)]),
    );
    expect(h.receiver.stats().duplicate_records).toBe(0);
  });

  it('stops within its deadline while the receiver is down, and the records go out after the restart', async () => {
    const h = await harness();
    await h.receiver.goDown();
    await appendReadings(h.journal, 0, 15);
    const f1 = forwarderFor(h);
    await f1.start();
    await until(h, () => f1.health().consecutive_failures >= 2, 'failures');
    const t0 = Date.now();
    await f1.stop(200);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(f1.health().state).toBe('stopped');
    expect(h.logLines().some((l) => /stop deadline passed/.test(String(l.msg)))).toBe(true);
    await h.receiver.comeUp();
    const f2 = forwarderFor(h);
    await f2.start();
    await until(h, () => h.receiver.stats().records === 15, 'delivery after restart');
  });

  it('retries a failing journal read instead of giving up on the sink', async () => {
    const h = await harness();
    const a = await appendReadings(h.journal, 0, 10);
    const realRead = h.journal.read.bind(h.journal);
    let failures = 2;
    h.journal.read = (...args) =>
      failures-- > 0 ? Promise.reject(new Error('disk hiccup')) : realRead(...args);
    const f = forwarderFor(h, { random: () => 0 });
    await f.start();
    await until(h, () => h.journal.cursor('central') === a.last, 'delivery after read errors');
    expect(h.receiver.stats().records).toBe(10);
    expect(f.health().past_error?.error).toMatch(/reading the journal failed: disk hiccup/);
    expect(h.logLines().filter((l) => /Reading the journal/.test(String(l.msg))).length).toBe(1);
  });

  it('forwards only the records its selection takes', async () => {
    const h = await harness({ sink: { select: { kinds: ['event'], types: ['production.count'] } } });
    const f = forwarderFor(h);
    await f.start();
    const ev = (n: number, type: string): EventRecord => ({
      id: eventId(GW, type, 'lyon.packer3', String(n)),
      kind: 'event',
      type,
      ts: new Date(Date.parse('2026-11-27T10:00:00Z') + n * 60_000).toISOString(),
      subject: 'lyon.packer3',
      data: { count: n },
    });
    await appendReadings(h.journal, 0, 50);
    await h.journal.append([ev(1, 'production.count'), ev(1, 'machine.downtime'), ev(2, 'production.count')]);
    await appendReadings(h.journal, 50, 50);
    await until(h, () => h.receiver.stats().records === 2, 'the two events');
    expect(h.receiver.records().map((r) => [r.kind, r.type])).toEqual([
      ['event', 'production.count'],
      ['event', 'production.count'],
    ]);
    await until(h, () => h.journal.stats().sinks.central?.queued === 0, 'nothing queued');
  });

  it('verifies TLS with ca_file and, without it, retries with a certificate error instead of dead-lettering', async () => {
    const pki = createTestPki();
    onCleanUp(() => pki.cleanup());
    const mk = (tls: Record<string, unknown> | undefined) => (url: string) =>
      httpSinkSchema.parse({
        id: 'central',
        type: 'http',
        url: `${url}/v1/batches`,
        batch: { max_records: 100, max_wait: '20ms' },
        retry: { initial: '20ms', max: '100ms' },
        ...(tls ? { tls } : {}),
      }) as HttpSinkSettings;
    const h = await harness({
      receiver: { tls: { cert: pki.serverCert, key: pki.serverKey } },
      config: mk(undefined),
    });
    await appendReadings(h.journal, 0, 10);
    const f1 = forwarderFor(h);
    await f1.start();
    await until(h, () => f1.health().consecutive_failures >= 2, 'TLS failures');
    expect(f1.health().last_error).toMatch(/certificate verification failed/);
    expect(f1.health().dead_lettered_batches).toBe(0);
    expect(h.receiver.stats().requests).toBe(0);
    await f1.stop(0);
    h.config = mk({ ca_file: pki.caFile })(h.receiver.url);
    const f2 = forwarderFor(h);
    await f2.start();
    await until(h, () => h.receiver.stats().records === 10, 'delivery over verified TLS');
  });

  it('sends the bearer token and never writes it to the logs, whatever fails', async () => {
    const h = await harness({
      receiver: { require_authorization: `Bearer ${TOKEN}` },
      sink: { auth: { bearer_env: 'PG_FWD_TOKEN' }, batch: { max_records: 10, max_wait: '20ms' } },
    });
    const a = await appendReadings(h.journal, 0, 30);
    h.receiver.setFaults({ status: 503, count: 2 });
    // Resolved as the config loader does in the daemon; the sink reads only the resolved Secret.
    expect(await resolveReferences(h.config, { env: { PG_FWD_TOKEN: TOKEN }, baseDir: h.dir })).toEqual([]);
    const f = forwarderFor(h);
    await f.start();
    await until(h, () => h.receiver.stats().records === 30, 'delivery');
    expect(a.ids.length).toBe(30);
    // The next batch meets a reset, then a permanent rejection (an alarm logged with the error text).
    const next = makeReading(30).id;
    h.receiver.setFaults({ reset: 1, reject_records: [next] });
    const b = await appendReadings(h.journal, 30, 10);
    expect(b.ids[0]).toBe(next);
    await until(h, () => f.health().dead_lettered_batches === 1, 'a dead letter');
    h.receiver.setFaults({ clear: true });
    const c = await appendReadings(h.journal, 40, 10);
    await until(
      h,
      () => h.journal.cursor('central') === c.last && h.receiver.stats().records === 40,
      'the cursor',
    );
    expect(h.receiver.lastHeaders('/v1/batches')?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(h.receiver.stats().unauthorized).toBe(0);
    const logs = h.logText();
    expect(logs.length).toBeGreaterThan(0);
    expect(h.logLines().some((l) => l.level === 40)).toBe(true);
    expect(h.logLines().some((l) => l.level === 50)).toBe(true);
    expect(logs).not.toContain(TOKEN);
    expect(JSON.stringify(f.health())).not.toContain(TOKEN);
  });
});
