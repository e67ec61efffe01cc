// A sink's rate_limit with the built daemon and the receiver simulator: after a WAN outage under steady input,
// the backlog reaches the receiver at the limit, not at once; /status says `rate-limited` with a drain estimate;
// the drain takes the time the limit predicts; and the ledger balances with every record delivered once.
// The issue asks for a 1-minute outage; the suite runs 12 s (the arithmetic is the same, and CI time is not
// free). PLANTGATE_RATE_OUTAGE_S=60 runs the full minute; the README reports both.
import { describe, expect, it } from 'vitest';
import { baseConfig, edgeSuite, startDaemon, waitFor, writeConfig } from './lib/harness.js';

const suite = edgeSuite();
const OUTAGE_S = Number(process.env.PLANTGATE_RATE_OUTAGE_S ?? 12);
const LIMIT = 2000;
const BURST = LIMIT; // burst: 1s
const BATCH = 500;
const PER_SIGNAL = 500 * (2 * OUTAGE_S + 4);
type RateLimitView = { records_per_s?: number; burst_s: number; limited: boolean; drain_eta_s?: number };
const rateLimitOf = (s: Record<string, unknown>) => s.rate_limit as RateLimitView | undefined;

describe('sink rate limit', () => {
  it(
    `after a ${OUTAGE_S} s outage at 1,000 readings/s, a 2,000 records/s limit holds over every second and the drain takes the predicted time`,
    async () => {
      const d = suite.dir();
      const cfg = baseConfig(d, `${suite.receiver.url}/ingest`, {
        // 2 signals × 25 samples every 50 ms = 1,000 readings/s, for about as long as the outage and its drain.
        generator: { interval: '50ms', batch: 25, limit: PER_SIGNAL },
      });
      const sink = (cfg.sinks as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
      sink.batch = { max_records: BATCH, max_wait: '100ms' };
      sink.max_in_flight = 4;
      sink.rate_limit = { records_per_s: LIMIT, burst: '1s' };
      const daemon = await startDaemon(writeConfig(d, 'plant.yaml', cfg));
      await waitFor('first delivery', () => suite.receiver.stats().records > 0);
      await suite.receiver.goDown();
      const downAt = Date.now();
      await waitFor(
        `a ${OUTAGE_S} s outage`,
        async () => Date.now() - downAt >= OUTAGE_S * 1000 && (await daemon.status()),
        { timeoutMs: OUTAGE_S * 1000 + 30_000, intervalMs: 500 },
      );
      const before = (await daemon.status()).sinks.central!;
      const backlog = before.backlog;
      const ingestedAtReturn = before.ledger.ingested;
      expect(backlog).toBeGreaterThan(OUTAGE_S * 500);
      const receivedBefore = suite.receiver.stats().records;
      await suite.receiver.comeUp();
      const upAt = Date.now();

      // While it drains: rate-limited on /status, with an estimate of the time left.
      const limited = await waitFor(
        'the sink to show rate-limited',
        async () => {
          const s = (await daemon.status()).sinks.central!;
          return s.state === 'rate-limited' && rateLimitOf(s)?.drain_eta_s !== undefined ? s : false;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      const etaAt = Date.now();
      const eta = rateLimitOf(limited)?.drain_eta_s as number;
      expect(rateLimitOf(limited)).toMatchObject({ records_per_s: LIMIT, burst_s: 1, limited: true });

      const drained = await waitFor(
        'the backlog to drain',
        async () => {
          const s = (await daemon.status()).sinks.central!;
          return s.backlog <= BATCH ? s : false;
        },
        { timeoutMs: OUTAGE_S * 1000 * 3 + 30_000, intervalMs: 100 },
      );
      const drainS = (Date.now() - upAt) / 1000;
      const inputRate = (drained.ledger.ingested - ingestedAtReturn) / drainS;
      // The drain: what was waiting, less the first bucket, at the limit net of what kept coming in.
      const predicted = (backlog - BURST) / (LIMIT - inputRate);
      console.log(
        `outage ${OUTAGE_S} s: backlog ${backlog} records, input ${inputRate.toFixed(0)}/s, drained in ${drainS.toFixed(1)} s (predicted ${predicted.toFixed(1)} s); first /status estimate ${eta} s with ${((Date.now() - etaAt) / 1000).toFixed(1)} s actually left`,
      );
      expect(drainS).toBeGreaterThanOrEqual(predicted * 0.85 - 1);
      expect(drainS).toBeLessThanOrEqual(predicted * 1.3 + 3);
      const left = (Date.now() - etaAt) / 1000;
      expect(eta).toBeGreaterThanOrEqual(left * 0.5 - 2);
      expect(eta).toBeLessThanOrEqual(left * 2 + 2);

      // What the receiver saw, per second: never more than the limit plus the one bucket, plus one batch for the
      // latency between the send and the arrival.
      const batches = suite.receiver.batches().filter((b) => b.at >= upAt - 100);
      let worst = 0;
      for (const b of batches) {
        const inWindow = batches
          .filter((x) => x.at >= b.at && x.at < b.at + 1000)
          .reduce((n, x) => n + x.records, 0);
        worst = Math.max(worst, inWindow);
      }
      const steady = batches.filter((b) => b.at >= upAt + 2000);
      let worstSteady = 0;
      for (const b of steady) {
        const inWindow = steady
          .filter((x) => x.at >= b.at && x.at < b.at + 1000)
          .reduce((n, x) => n + x.records, 0);
        worstSteady = Math.max(worstSteady, inWindow);
      }
      console.log(
        `receiver: ${suite.receiver.stats().records - receivedBefore} records after the return; the busiest second held ${worst}, the busiest after the first 2 s ${worstSteady}`,
      );
      expect(worst).toBeLessThanOrEqual(LIMIT + BURST + BATCH);

      // Everything arrives once and the ledger balances, once the generator has produced its last sample.
      const total = await waitFor(
        'every record delivered',
        async () => {
          const st = await daemon.status();
          const l = st.sinks.central!.ledger;
          return l.ingested === 2 * PER_SIGNAL && l.queued === 0 && l.balanced ? l : false;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      expect(total).toMatchObject({ ingested: 2 * PER_SIGNAL, delivered: 2 * PER_SIGNAL, dead_lettered: 0 });
      const exit = await daemon.stop();
      expect(exit.code).toBe(0);
      const ids = new Set(suite.receiver.records().map((r) => r.id));
      expect(ids.size).toBe(total.delivered);
    },
    OUTAGE_S * 5000 + 120_000,
  );
});
