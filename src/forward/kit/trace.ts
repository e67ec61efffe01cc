// W3C Trace Context for batches (https://www.w3.org/TR/trace-context/): the trace id is derived from the batch id,
// so every attempt of one batch, before and after a restart, belongs to one trace; each attempt is a new span.
// Every sink kind that can carry headers sends `traceparent`; log lines about a batch carry its trace_id.
import { randomBytes } from 'node:crypto';
import { digest128 } from '../../model/records.js';

/** The batch's trace id: 32 hex digits, never all zeros (which the spec forbids). */
export function traceIdOf(batchId: string): string {
  const id = digest128(`trace\u0000${batchId}`);
  return /^0+$/.test(id) ? `${id.slice(0, 31)}1` : id;
}

/** A `traceparent` for one attempt of a batch: version 00, a fresh span id, sampled. */
export function traceparentFor(batchId: string): string {
  let span = randomBytes(8).toString('hex');
  if (span === '0000000000000000') span = '0000000000000001';
  return `00-${traceIdOf(batchId)}-${span}-01`;
}
