// The rate limiter's arithmetic on a manual clock (no waiting: the timer is driven by the test), then the
// forwarder with a rate_limit against the real receiver and journal: what arrives per second, in order.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { appendReadings, cleanUp, forwarderFor, harness, until } from './forwarder-test-harness.js';
import { httpSinkSchema } from './http/config.js';
import { rateLimitIssue, sinkRateLimitSchema } from './kit/config.js';
import { RateLimiter } from './rate-limit.js';

/** A clock and timers the test moves by hand: `advance` fires every timer that falls due, in time order. */
function manualTime() {
  let now = 1_000_000;
  let timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  return {
    now: () => now,
    setTimer(fn: () => void, ms: number) {
      const t = { at: now + ms, fn, live: true };
      timers.push(t);
      return {
        cancel() {
          t.live = false;
        },
      };
    },
    async advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        now = due.at;
        due.live = false;
        due.fn();
        await Promise.resolve();
      }
      now = end;
      timers = timers.filter((t) => t.live);
      await new Promise((r) => setImmediate(r));
    },
  };
}

describe('RateLimiter', () => {
  it('lets a full bucket through at once, then exactly the rate', async () => {
    const t = manualTime();
    const rl = new RateLimiter({ records_per_s: 1000, burst: 1 }, t);
    const granted: number[] = [];
    // 10 batches of 500: the bucket (1000) lets two go at once, then one every 500 ms.
    const all = Array.from({ length: 10 }, () =>
      rl.acquire(500).then(() => void granted.push(t.now() - 1_000_000)),
    );
    await t.advance(0);
    expect(granted).toEqual([0, 0]);
    await t.advance(4000);
    await Promise.all(all);
    expect(granted).toEqual([0, 0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000]);
    expect(rl.snapshot()).toMatchObject({ records_per_s: 1000, burst_s: 1, waited: 8, waited_ms: 18_000 });
  });

  it('over any 1 s window no more than the rate plus one bucket goes', async () => {
    const t = manualTime();
    const rl = new RateLimiter({ records_per_s: 2000, burst: 1 }, t);
    const grants: Array<{ at: number; n: number }> = [];
    const sizes = [500, 300, 700, 100, 500, 500, 200, 900, 50, 500, 500, 400, 600, 700, 300];
    const all: Promise<void>[] = [];
    for (let round = 0; round < 6; round++) {
      for (const n of sizes) all.push(rl.acquire(n).then(() => void grants.push({ at: t.now(), n })));
    }
    await t.advance(20_000);
    await Promise.all(all);
    const total = grants.reduce((a, g) => a + g.n, 0);
    for (const g of grants) {
      const inWindow = grants.filter((x) => x.at >= g.at && x.at < g.at + 1000).reduce((a, x) => a + x.n, 0);
      expect(inWindow).toBeLessThanOrEqual(2000 + 2000);
    }
    // Long-run: the time the whole lot took is what the rate allows after the first bucket.
    const last = (grants[grants.length - 1] as { at: number }).at - 1_000_000;
    expect(last).toBeGreaterThanOrEqual(((total - 2000 - 900) / 2000) * 1000);
    expect(last).toBeLessThanOrEqual(((total - 2000) / 2000) * 1000 + 1);
  });

  it('limits requests per second independently of their size', async () => {
    const t = manualTime();
    const rl = new RateLimiter({ requests_per_s: 2, burst: 1 }, t);
    const at: number[] = [];
    const all = Array.from({ length: 6 }, () => rl.acquire(1).then(() => void at.push(t.now() - 1_000_000)));
    await t.advance(0);
    await t.advance(3000);
    await Promise.all(all);
    expect(at).toEqual([0, 0, 500, 1000, 1500, 2000]);
  });

  it('serves waiters in arrival order, and an aborted waiter takes nothing', async () => {
    const t = manualTime();
    const rl = new RateLimiter({ records_per_s: 100, burst: 1 }, t);
    await rl.acquire(100);
    const order: string[] = [];
    const ac = new AbortController();
    const a = rl.acquire(100).then(() => void order.push('a'));
    const b = rl.acquire(100, ac.signal).then(
      () => void order.push('b'),
      () => void order.push('b aborted'),
    );
    const c = rl.acquire(10).then(() => void order.push('c'));
    ac.abort();
    await t.advance(1000);
    await Promise.all([a, b]);
    // c waited behind a (arrival order), and b's tokens were never taken, so c follows a immediately.
    await t.advance(100);
    await c;
    expect(order).toEqual(['b aborted', 'a', 'c']);
    expect(rl.tokens().records).toBeCloseTo(0, 5);
  });

  it('close() rejects the waiters, and the limiter keeps working afterwards', async () => {
    const t = manualTime();
    const rl = new RateLimiter({ records_per_s: 10, burst: 1 }, t);
    await rl.acquire(10);
    const waiting = rl.acquire(10);
    rl.close(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
    await t.advance(1000);
    await expect(rl.acquire(10)).resolves.toBeUndefined();
  });
});

describe('rate_limit in the configuration', () => {
  const parse = (extra: Record<string, unknown>) =>
    httpSinkSchema.safeParse({ id: 'erp', type: 'http', url: 'https://erp.example/api', ...extra });

  it('needs at least one limit, and positive numbers', () => {
    const empty = sinkRateLimitSchema.safeParse({});
    expect(empty.success).toBe(false);
    expect(z.prettifyError((empty as { error: z.ZodError }).error)).toContain(
      'set records_per_s, requests_per_s or both',
    );
    expect(sinkRateLimitSchema.safeParse({ records_per_s: 0 }).success).toBe(false);
    expect(sinkRateLimitSchema.safeParse({ records_per_s: 2000, burst: '2s' }).data).toEqual({
      records_per_s: 2000,
      burst: 2000,
    });
  });

  it('an http sink takes it; a batch larger than the bucket is refused with what to write', () => {
    const ok = parse({ rate_limit: { records_per_s: 2000 }, batch: { max_records: 500 } });
    expect(ok.success).toBe(true);
    expect(rateLimitIssue(ok.data as never)).toBeUndefined();
    const big = parse({ rate_limit: { records_per_s: 200, burst: '2s' }, batch: { max_records: 1000 } });
    expect(rateLimitIssue(big.data as never)).toEqual({
      path: ['batch', 'max_records'],
      message:
        'a batch of 1000 records is more than rate_limit lets through at once (records_per_s × burst = 400); set batch.max_records to 400 or less, or raise rate_limit.burst',
    });
    expect(parse({ rate_limit: { records_per_s: 10, flood: true } }).success).toBe(false);
  });
});

afterEach(cleanUp);

describe('a forwarder with a rate limit', () => {
  it('drains a backlog at the limit, lowest batch first, and says so on its health', async () => {
    const h = await harness({
      sink: {
        batch: { max_records: 100, max_wait: '20ms' },
        max_in_flight: 4,
        rate_limit: { records_per_s: 1000, burst: '200ms' },
      },
    });
    const a = await appendReadings(h.journal, 0, 1500);
    const f = forwarderFor(h);
    await f.start();
    await until(h, () => f.health().state === 'rate-limited', 'the sink to report rate-limited');
    const limited = f.health();
    expect(limited.detail).toMatch(
      /^rate-limited to 1000 records\/s; a backlog of \d+ records drains in about \d+ s$/,
    );
    expect(limited.rate_limit?.drain_eta_s).toBeGreaterThan(0);
    await until(h, () => h.receiver.stats().records === 1500, 'all 1,500 records', 20_000);
    const batches = h.receiver.batches();
    const first = (batches[0] as { at: number }).at;
    const last = (batches[batches.length - 1] as { at: number }).at;
    // 1,500 records at 1,000/s after a 200-record bucket: at least 1.3 s, however fast the receiver is.
    expect(last - first).toBeGreaterThanOrEqual(1300 - 50);
    for (const b of batches) {
      const inWindow = batches
        .filter((x) => x.at >= b.at && x.at < b.at + 1000)
        .reduce((n, x) => n + x.records, 0);
      // The rate for a second plus one bucket, plus one batch for the latency between send and arrival.
      expect(inWindow).toBeLessThanOrEqual(1000 + 200 + 100);
    }
    const ids = batches.map((b) => Number(b.batch_id.split(':')[2]?.split('-')[0]));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(ids[0]).toBe(a.first);
    const health = f.health();
    expect(health.rate_limit).toMatchObject({ records_per_s: 1000, burst_s: 0.2 });
    expect(health.rate_limit?.waited).toBeGreaterThan(0);
  });
});
