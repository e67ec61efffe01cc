// The forwarder end to end against the real receiver simulator and the real LevelDB journal in a temp dir:
// delivery once and in order, every fault of the wire contract, outages and slow receivers, dead letters and
// replay. forwarder-window.test.ts covers the in-flight window, restarts, stop, selection, TLS and credentials.
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Forwarder, ForwarderMetrics } from './forwarder.js';
import { appendReadings, bid, cleanUp, forwarderFor, harness, until } from './forwarder-test-harness.js';
import { createForwarderMetrics } from './metrics.js';

afterEach(cleanUp);

describe('Forwarder', () => {
  it('delivers every record once, in order, in deterministic batches, and moves the cursor', async () => {
    const h = await harness();
    const a = await appendReadings(h.journal, 0, 250);
    const f = forwarderFor(h);
    await f.start();
    await until(h, () => h.receiver.stats().records === 250, '250 records');
    expect(h.receiver.batches().map((b) => b.batch_id)).toEqual([
      bid(a.first, a.first + 99),
      bid(a.first + 100, a.first + 199),
      bid(a.first + 200, a.last),
    ]);
    expect(h.receiver.records().map((r) => r.id)).toEqual(a.ids);
    // Records arriving later form the next batch.
    const b = await appendReadings(h.journal, 250, 30);
    await until(h, () => h.receiver.stats().records === 280, '280 records');
    expect(h.receiver.batches().at(-1)?.batch_id).toBe(bid(b.first, b.last));
    await until(h, () => h.journal.cursor('central') === b.last, 'the cursor');
    const s = h.receiver.stats();
    expect(s).toMatchObject({ duplicate_batches: 0, duplicate_records: 0, invalid: 0 });
    const ledger = h.journal.stats().sinks.central;
    expect(ledger).toMatchObject({ delivered: 280, queued: 0, dead_lettered: 0 });
    const health = f.health();
    expect(health).toMatchObject({
      state: 'connected',
      backlog: 0,
      delivered_records: 280,
      delivered_batches: 4,
      consecutive_failures: 0,
    });
    expect(health.last_ack_at).toBeGreaterThan(0);
    expect(health.latency_ms_ewma).toBeGreaterThan(0);
  });

  it('waits up to max_wait to fill a batch, then sends what it has', async () => {
    const h = await harness({ sink: { batch: { max_records: 100, max_wait: '400ms' } } });
    const f = forwarderFor(h);
    await f.start();
    const t0 = Date.now();
    await appendReadings(h.journal, 0, 1);
    await appendReadings(h.journal, 1, 2);
    await until(h, () => h.receiver.stats().batches === 1, 'the first batch');
    const first = h.receiver.batches()[0];
    expect(first?.records).toBe(3);
    expect((first?.at ?? 0) - t0).toBeGreaterThanOrEqual(350);
  });

  it('retries 503 until the receiver recovers, without duplicates', async () => {
    const h = await harness();
    h.receiver.setFaults({ status: 503, count: 3 });
    const a = await appendReadings(h.journal, 0, 50);
    const f = forwarderFor(h);
    await f.start();
    await until(h, () => h.receiver.stats().records === 50, 'delivery after the 503s');
    expect(h.receiver.requests().map((r) => [r.batch_id, r.status])).toEqual([
      [bid(a.first, a.last), 503],
      [bid(a.first, a.last), 503],
      [bid(a.first, a.last), 503],
      [bid(a.first, a.last), 200],
    ]);
    await until(h, () => f.health().delivered_records === 50, 'the commit');
    expect(f.health()).toMatchObject({ state: 'connected', retries: 3, consecutive_failures: 0 });
    // The 503s are history after the success: not the current error, but kept as past with their times.
    const health = f.health();
    expect(health.last_error).toBeUndefined();
    expect(health.past_error?.error).toMatch(/HTTP 503/);
    expect(health.past_error?.resolved_at).toBeGreaterThanOrEqual(health.past_error?.at ?? Number.NaN);
  });

  it('honours Retry-After on 429 as the least wait', async () => {
    const h = await harness({ sink: { retry: { initial: '10ms', max: '2s' } } });
    h.receiver.setFaults({ status: 429, count: 1, retry_after: 1 });
    await appendReadings(h.journal, 0, 5);
    const f = forwarderFor(h, { random: () => 0 });
    await f.start();
    await until(h, () => h.receiver.stats().records === 5, 'delivery after the 429');
    const [first, second] = h.receiver.requests();
    expect(first?.status).toBe(429);
    expect(second?.status).toBe(200);
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  });

  it('clamps a huge Retry-After to retry.max instead of spinning on an overflowed timer, and says so', async () => {
    // 99999999 s overflows Node's 32-bit timer (it fires after 1 ms): before the clamp this was a hot loop.
    for (const retryAfter of ['99999999', 'Fri, 31 Dec 9999 23:59:59 GMT']) {
      const h = await harness({ sink: { retry: { initial: '10ms', max: '400ms' } } });
      h.receiver.setFaults({ status: 429, count: 3, retry_after: retryAfter });
      await appendReadings(h.journal, 0, 5);
      const f = forwarderFor(h);
      await f.start();
      await until(h, () => h.receiver.stats().records === 5, `delivery after Retry-After ${retryAfter}`);
      const reqs = h.receiver.requests();
      expect(reqs.map((r) => r.status)).toEqual([429, 429, 429, 200]);
      for (let i = 1; i < reqs.length; i++) {
        // Each wait is retry.max (timers may fire a little early or late), never the 1 ms of an overflow.
        expect((reqs[i]?.at ?? 0) - (reqs[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(350);
      }
      const clamped = h.logLines().filter((l) => /Retry-After.*retry\.max/.test(String(l.msg)));
      expect(clamped.length).toBe(1); // logged once, not per request
      expect(clamped[0]).toMatchObject({ level: 40, retry_max_ms: 400 });
      await f.stop(0);
    }
  });

  it('retries after connection resets', async () => {
    const h = await harness();
    h.receiver.setFaults({ reset: 2 });
    await appendReadings(h.journal, 0, 20);
    const f = forwarderFor(h);
    await f.start();
    await until(h, () => h.receiver.stats().records === 20, 'delivery after resets');
    expect(h.receiver.requests().map((r) => r.status)).toEqual([0, 0, 200]);
    expect(h.receiver.stats().duplicate_batches).toBe(0);
  });

  it('keeps records while the receiver is down, reports it, and delivers when it is back', async () => {
    const h = await harness();
    const f = forwarderFor(h);
    await f.start();
    await h.receiver.goDown();
    await appendReadings(h.journal, 0, 20);
    await until(h, () => f.health().consecutive_failures >= 6, 'failures while down');
    const down = f.health();
    expect(down.state).toBe('failing');
    expect(down.last_error).toMatch(/ECONNREFUSED/);
    expect(down.backlog).toBe(20);
    expect(down.oldest_unacked_age_ms).toBeGreaterThanOrEqual(0);
    expect(down.detail).toMatch(/failed in a row/);
    expect(
      h.logLines().some((l) => l.level === 50 && /failed \d+ attempts in a row/.test(String(l.msg))),
    ).toBe(true);
    await h.receiver.comeUp();
    await until(h, () => h.receiver.stats().records === 20, 'delivery after the outage');
    await until(h, () => f.health().state === 'connected' && f.health().backlog === 0, 'recovery');
    expect(h.receiver.stats().duplicate_records).toBe(0);
  });

  it('at default retry settings probes at most about once a second while down and resumes within 2 s of the return', async () => {
    // Before: every pending batch waited out its own exponential backoff (up to 60 s), so the first success came
    // 6.7-14.5 s after the receiver returned. Now one probe at a time, about every 1-1.5 s, the lowest batch first.
    const h = await harness({
      sink: { batch: { max_records: 10, max_wait: '30ms' }, retry: { initial: '500ms', max: '60s' } },
    });
    const attempts: number[] = [];
    const metrics: ForwarderMetrics = {
      attempt: () => attempts.push(Date.now()),
      delivered: () => undefined,
      deadLettered: () => undefined,
      alarm: () => undefined,
    };
    const f = forwarderFor(h, { metrics });
    await f.start();
    let appended = 0;
    const resumes: number[] = [];
    const rates: number[] = [];
    for (let round = 0; round < 4; round++) {
      await h.receiver.goDown();
      const a = await appendReadings(h.journal, appended, 40);
      appended += 40;
      // The outage: 4 s from the first failure. Requests are counted from its second second on (the first one
      // holds the failure itself and the quick first retry after `initial`); each later probe waits 1-1.5 s.
      await until(h, () => f.health().consecutive_failures >= 1, 'the first failure');
      const downFrom = Date.now();
      await until(h, () => Date.now() - downFrom >= 4000, 'four seconds of outage', 10_000);
      const during = attempts.filter((t) => t >= downFrom + 1000).length;
      rates.push(during / ((Date.now() - downFrom - 1000) / 1000));
      const upAt = Date.now();
      await h.receiver.comeUp();
      await until(h, () => h.receiver.requests().some((r) => r.status === 200 && r.at >= upAt), 'resume');
      const ok = h.receiver.requests().find((r) => r.status === 200 && r.at >= upAt);
      resumes.push((ok?.at ?? Number.POSITIVE_INFINITY) - upAt);
      // The lowest pending batch goes first.
      expect(ok?.batch_id).toBe(bid(a.first, a.first + 9));
      await until(h, () => h.journal.cursor('central') === a.last, 'the drain');
    }
    expect(Math.max(...rates), `requests/s while down: ${rates}`).toBeLessThanOrEqual(1.0);
    expect(Math.max(...resumes), `resume after return (ms): ${resumes}`).toBeLessThan(2000);
    expect(h.receiver.stats().records).toBe(appended);
    expect(h.receiver.stats().duplicate_records).toBe(0);
  }, 60_000);

  it('reports a backlog that grows steadily while a slow receiver keeps accepting, with both rates', async () => {
    // Scaled down: samples every 100 ms over a 1.5 s window stand for the daemon's 5 s over 60 s.
    const growth = { sampleMs: 100, windowMs: 1500 };
    const run = async (slowMs: number) => {
      const h = await harness({ sink: { batch: { max_records: 10, max_wait: '20ms' }, max_in_flight: 1 } });
      if (slowMs > 0) h.receiver.setFaults({ slow_ms: slowMs });
      const f = forwarderFor(h, { growth });
      await f.start();
      let n = 0;
      const seen: Array<ReturnType<Forwarder['health']>['backlog_growth']> = [];
      const started = Date.now();
      // Input of about 200 records/s for 3 s; the slow receiver takes 10 records per 250 ms (40/s).
      while (Date.now() - started < 3000) {
        await appendReadings(h.journal, n, 10);
        n += 10;
        await new Promise((r) => setTimeout(r, 50));
        seen.push(f.health().backlog_growth);
      }
      await f.stop(0);
      return seen.filter((g) => g !== undefined);
    };
    const slow = await run(250);
    expect(slow.length).toBeGreaterThan(0);
    const g = slow.at(-1);
    expect(g?.records_per_s).toBeGreaterThan(50);
    expect(g?.accepted_per_s).toBeGreaterThan(0);
    expect(g?.accepted_per_s).toBeLessThan(g?.records_per_s ?? 0);
    // The same input to a receiver that keeps up is no growth.
    expect(await run(0)).toEqual([]);
  }, 30_000);

  it('treats a redirect as a configuration problem: alarm naming the Location, retries, no dead letters', async () => {
    const h = await harness({ sink: { batch: { max_records: 10, max_wait: '30ms' } } });
    const registry = new Registry();
    const a = await appendReadings(h.journal, 0, 30);
    h.receiver.setFaults({ status: 307, location: 'https://new.example.com/v2/batches?api_key=s3cr3t' });
    const f = forwarderFor(h, { metrics: createForwarderMetrics(registry) });
    await f.start();
    await until(h, () => h.receiver.stats().faults_fired.status >= 4, 'redirects answered');
    const during = f.health();
    expect(during.state).toBe('failing');
    expect(during.config_problem?.error).toContain('https://new.example.com/v2/batches?api_key=***');
    expect(during.detail).toMatch(
      /configuration problem: the receiver redirects to https:\/\/new\.example\.com/,
    );
    expect(JSON.stringify(during)).not.toContain('s3cr3t');
    expect(during.dead_lettered_batches).toBe(0);
    expect(await h.journal.listDeadLetters('central')).toEqual([]);
    expect(await registry.metrics()).toMatch(
      /plantgate_sink_alarms_total\{sink="central",reason="redirect"\} 1/,
    );
    expect(h.logLines().filter((l) => l.level === 50 && /redirects/.test(String(l.msg))).length).toBe(1);
    expect(h.logText()).not.toContain('s3cr3t');
    // The url is fixed (here: the receiver stops redirecting): everything is delivered, once.
    h.receiver.setFaults({ clear: true });
    await until(h, () => h.journal.cursor('central') === a.last, 'delivery after the fix');
    expect(f.health()).toMatchObject({ state: 'connected', dead_lettered_batches: 0 });
    expect(f.health().config_problem).toBeUndefined();
    expect(h.receiver.stats().records).toBe(30);
  });

  it('dead-letters a permanently rejected batch, raises an alarm, moves on, and replays it later', async () => {
    const h = await harness({ sink: { batch: { max_records: 10, max_wait: '30ms' } } });
    const a = await appendReadings(h.journal, 0, 30);
    h.receiver.setFaults({ reject_records: [a.ids[4] as string] });
    const registry = new Registry();
    const f = forwarderFor(h, { metrics: createForwarderMetrics(registry) });
    await f.start();
    await until(
      h,
      () => h.receiver.stats().records === 20 && f.health().dead_lettered_batches === 1,
      'two good batches',
    );
    await until(h, () => h.journal.cursor('central') === a.last, 'the cursor past all three');
    const dead = bid(a.first, a.first + 9);
    const letters = await h.journal.listDeadLetters('central');
    expect(letters.map((l) => [l.batch_id, l.status, l.records.length])).toEqual([[dead, 400, 10]]);
    expect(letters[0]).toMatchObject({ first_seq: a.first, last_seq: a.first + 9 });
    expect(letters[0]?.records.map((r) => r.id)).toEqual(a.ids.slice(0, 10));
    const health = f.health();
    expect(health.last_alarm).toMatchObject({ batch_id: dead, status: 400, records: 10 });
    expect(health.dead_lettered_records).toBe(10);
    expect(h.journal.stats().sinks.central).toMatchObject({ delivered: 20, dead_lettered: 10, queued: 0 });
    expect(
      h.logLines().some((l) => l.level === 50 && l.batch_id === dead && /dead letters/.test(String(l.msg))),
    ).toBe(true);

    const metrics = await registry.metrics();
    expect(metrics).toMatch(/plantgate_sink_dead_lettered_records_total\{sink="central"\} 10/);
    expect(metrics).toMatch(/plantgate_sink_alarms_total\{sink="central",reason="dead_letter"\} 1/);
    expect(metrics).toMatch(/plantgate_sink_requests_total\{sink="central",outcome="permanent"\} 1/);
    expect(metrics).toMatch(/plantgate_sink_delivered_records_total\{sink="central"\} 20/);

    // While the cause remains, a replay fails and the letter stays.
    expect(await f.replayDeadLetter(dead)).toMatchObject({ ok: false, retryable: false, status: 400 });
    expect((await h.journal.listDeadLetters('central')).length).toBe(1);
    // A replay works on a stopped forwarder too (it opens the sink for the request).
    await f.stop(1000);
    h.receiver.setFaults({ clear: true });
    expect(await f.replayDeadLetter(dead)).toMatchObject({ ok: true });
    expect(await h.journal.listDeadLetters('central')).toEqual([]);
    expect(h.receiver.stats().records).toBe(30);
    expect(h.receiver.batches().at(-1)?.batch_id).toBe(dead);
    expect(await f.replayDeadLetter('no-such-batch')).toBeUndefined();
    // After the successful replay the HTTP 400 is history: no current error, the alarm marked resolved, both timed.
    const after = f.health();
    expect(after.last_error).toBeUndefined();
    expect(after.past_error?.error).toMatch(/HTTP 400/);
    expect(after.last_alarm?.resolved_at).toBeGreaterThanOrEqual(after.last_alarm?.at ?? Number.NaN);
  });

  it('shows an error as past after a replay when the rejection was the last thing that happened', async () => {
    const h = await harness({ sink: { batch: { max_records: 10, max_wait: '30ms' } } });
    const a = await appendReadings(h.journal, 0, 10);
    h.receiver.setFaults({ reject_records: [a.ids[0] as string] });
    const f = forwarderFor(h);
    await f.start();
    await until(h, () => h.journal.cursor('central') === a.last, 'the dead letter');
    expect(f.health().last_error).toMatch(/HTTP 400/);
    expect(f.health().past_error).toBeUndefined();
    h.receiver.setFaults({ clear: true });
    expect(await f.replayDeadLetter(bid(a.first, a.last))).toMatchObject({ ok: true });
    const health = f.health();
    expect(health.last_error).toBeUndefined();
    expect(health.past_error?.error).toMatch(/HTTP 400/);
    expect(health.last_alarm?.resolved_at).toBeDefined();
  });

  it('calls a sink that rejects every batch failing, without flooding the log', async () => {
    const h = await harness({ sink: { batch: { max_records: 5, max_wait: '20ms' } } });
    h.receiver.setFaults({ reject_if: { signal: 'lyon.press1.hydraulic_pressure' } });
    const a = await appendReadings(h.journal, 0, 30);
    const f = forwarderFor(h);
    await f.start();
    await until(h, () => h.journal.cursor('central') === a.last, 'all batches dead-lettered');
    expect(f.health()).toMatchObject({
      state: 'failing',
      dead_lettered_batches: 6,
      dead_lettered_records: 30,
    });
    expect(f.health().detail).toMatch(/rejected 6 batches in a row/);
    expect(h.logLines().filter((l) => /dead letters/.test(String(l.msg))).length).toBe(1);
    h.receiver.setFaults({ clear: true });
    await appendReadings(h.journal, 30, 5);
    await until(h, () => h.receiver.stats().records === 5, 'delivery after the fix');
    await until(h, () => f.health().state === 'connected', 'the state to recover');
  });
});
