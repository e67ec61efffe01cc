// Test helpers of the forward tests: poll-until with a deadline, a pino logger whose output tests can search,
// and canonical readings of a realistic size.
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { waitFor } from '../kit/testing/wait.js';
import { isoUtc, type Reading, readingId } from '../model/records.js';

/** The shared waitFor in the options form the forward tests use (`diag`: the state shown at the deadline). */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string; diag?: () => unknown } = {},
): Promise<void> {
  await waitFor(opts.what ?? 'a condition', cond, {
    timeoutMs: opts.timeoutMs ?? 15_000,
    ...(opts.intervalMs !== undefined ? { intervalMs: opts.intervalMs } : {}),
    ...(opts.diag ? { detail: opts.diag } : {}),
  });
}

/** A logger writing JSON lines into memory (synchronously), so tests can assert what was and was not logged. */
export function captureLogger(level = 'debug'): {
  log: Logger;
  text(): string;
  lines(): Array<Record<string, unknown>>;
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const log = pino({ level }, stream).child({ component: 'sink', kind: 'http', id: 'central' });
  const text = () => chunks.join('');
  return {
    log,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A reading of about 200 bytes of JSON, with a content-derived id. */
export function makeReading(
  n: number,
  signal = 'lyon.press1.hydraulic_pressure',
  t0 = Date.parse('2026-11-27T10:00:00Z'),
): Reading {
  const ts = isoUtc(t0 + n * 100);
  const value = Math.round(n * 0.37 * 1000) / 1000;
  return {
    id: readingId('lyon-edge-01', signal, ts, value),
    kind: 'reading',
    signal,
    value,
    unit: 'bar',
    ts,
    ingest_ts: ts,
    quality: 'good',
    source: { id: 'press-1', type: 'generator', address: `generator:${signal}` },
  };
}
