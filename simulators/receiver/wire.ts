// The receiver's own copy of the northbound wire contract v1 (docs/wire-contract.md). Duplicated on purpose: the
// simulator imports nothing from src/, so a test against it checks the gateway against the contract, not itself.

export const WIRE_SCHEMA = 'plantgate.batch.v1';

export interface WireRecord {
  id: string;
  kind: 'reading' | 'event';
  signal?: string;
  type?: string;
  [key: string]: unknown;
}

export interface WireBatch {
  schema: typeof WIRE_SCHEMA;
  batch_id: string;
  gateway: { id: string; site: string };
  sent_at: string;
  records: WireRecord[];
}

const BATCH_ID_RE = /^[^:\s]+:[^:\s]+:(\d+)-(\d+)$/;
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The Idempotency-Key value a batch must carry: an RFC 8941 string holding the batch id. */
export function expectedIdempotencyKey(batchId: string): string {
  return `"${batchId.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Checks a parsed body against the contract; returns the problem in words, or the typed batch. */
export function checkBatch(body: unknown): { ok: true; batch: WireBatch } | { ok: false; problem: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, problem: 'body is not a JSON object' };
  const b = body as Record<string, unknown>;
  if (b.schema !== WIRE_SCHEMA) return { ok: false, problem: `schema must be "${WIRE_SCHEMA}"` };
  if (typeof b.batch_id !== 'string') return { ok: false, problem: 'batch_id must be a string' };
  const m = BATCH_ID_RE.exec(b.batch_id);
  if (!m) return { ok: false, problem: 'batch_id must look like "<gateway>:<sink>:<first seq>-<last seq>"' };
  if (Number(m[1]) > Number(m[2])) return { ok: false, problem: 'batch_id first seq is after last seq' };
  const g = b.gateway as Record<string, unknown> | undefined;
  if (typeof g !== 'object' || g === null || typeof g.id !== 'string' || typeof g.site !== 'string') {
    return { ok: false, problem: 'gateway must be {id, site} strings' };
  }
  if (typeof b.sent_at !== 'string' || !ISO_RE.test(b.sent_at))
    return { ok: false, problem: 'sent_at must be an ISO 8601 time' };
  if (!Array.isArray(b.records)) return { ok: false, problem: 'records must be an array' };
  if (b.records.length === 0) return { ok: false, problem: 'records must not be empty' };
  for (let i = 0; i < b.records.length; i++) {
    const r = b.records[i] as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null) return { ok: false, problem: `records[${i}] is not an object` };
    if (typeof r.id !== 'string' || r.id === '')
      return { ok: false, problem: `records[${i}].id must be a string` };
    if (r.kind === 'reading') {
      if (typeof r.signal !== 'string')
        return { ok: false, problem: `records[${i}].signal must be a string` };
      if (typeof r.ts !== 'string') return { ok: false, problem: `records[${i}].ts must be a string` };
    } else if (r.kind === 'event') {
      if (typeof r.type !== 'string') return { ok: false, problem: `records[${i}].type must be a string` };
      if (typeof r.ts !== 'string') return { ok: false, problem: `records[${i}].ts must be a string` };
    } else {
      return { ok: false, problem: `records[${i}].kind must be "reading" or "event"` };
    }
  }
  return { ok: true, batch: body as WireBatch };
}
