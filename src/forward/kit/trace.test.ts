// W3C traceparent on the wire: the HTTP sink sends one per request, the trace id follows the batch (the same on a
// retry), the span id is new per attempt, and the format is the spec's (version 00, lowercase hex, sampled).
import { afterEach, describe, expect, it } from 'vitest';
import { appendReadings, cleanUp, forwarderFor, harness, until } from '../forwarder-test-harness.js';
import { traceIdOf, traceparentFor } from './trace.js';

afterEach(cleanUp);

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

describe('traceparent', () => {
  it('derives the trace id from the batch id and draws a new span per call', () => {
    const a = TRACEPARENT.exec(traceparentFor('lyon-1:erp:1-100'));
    const b = TRACEPARENT.exec(traceparentFor('lyon-1:erp:1-100'));
    expect(a?.[1]).toBe(traceIdOf('lyon-1:erp:1-100'));
    expect(b?.[1]).toBe(a?.[1]);
    expect(b?.[2]).not.toBe(a?.[2]);
    expect(traceIdOf('lyon-1:erp:101-200')).not.toBe(a?.[1]);
    expect(a?.[1]).not.toMatch(/^0+$/);
  });

  it('is sent with every attempt: a retry keeps the trace and gets a new span', async () => {
    const h = await harness({ sink: { batch: { max_records: 10, max_wait: '20ms' } } });
    const a = await appendReadings(h.journal, 0, 10);
    h.receiver.setFaults({ status: 503, count: 1 });
    const f = forwarderFor(h);
    await f.start();
    await until(h, () => h.receiver.requests().length >= 1, 'the first (refused) attempt');
    const first = TRACEPARENT.exec(String(h.receiver.lastHeaders()?.traceparent));
    await until(h, () => h.receiver.stats().records === 10, 'the retry delivered');
    const second = TRACEPARENT.exec(String(h.receiver.lastHeaders()?.traceparent));
    const batchId = `${h.receiver.requests()[0]?.batch_id}`;
    expect(batchId).toMatch(new RegExp(`:${a.first}-${a.last}$`));
    expect(first?.[1]).toBe(traceIdOf(batchId));
    expect(second?.[1]).toBe(first?.[1]);
    expect(second?.[2]).not.toBe(first?.[2]);
    // The log line about the failed attempt names the batch and its trace.
    expect(h.logText()).toContain(`"trace_id":"${traceIdOf(batchId)}"`);
  });
});
