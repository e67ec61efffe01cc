// The receiver's side of reconciliation totals (docs/reconciliation.md): for every accepted batch it remembers
// which record ids the batch carried; when a `control.totals` record arrives it takes the batches of that
// gateway and sink the window covers, counts what it holds of their records, and compares counts and digest.
// What a central team would implement in a few lines; this simulator's version also names the missing ids.
import type { WireBatch, WireRecord } from './wire.js';

export interface TotalsData {
  gateway: string;
  sink: string;
  window_start: string;
  window_end: string;
  first_seq: number;
  last_seq: number;
  records: number;
  by_kind: Record<string, number>;
  by_type: Record<string, number>;
  by_source: Record<string, number>;
  digest: string;
  replayed: Array<{ batch_id: string; records: number }>;
}

export interface Reconciliation {
  gateway: string;
  sink: string;
  window_start: string;
  status: 'reconciled' | 'mismatch';
  expected: { records: number; digest: string };
  held: { records: number; digest: string; batches: number };
  /** Differences in words: counts by kind/type/source that disagree, and the digest. */
  differences: string[];
  /** Ids a covered batch carried that this receiver no longer holds (the first 100). */
  missing: string[];
}

const MASK = (1n << 128n) - 1n;

/** The digest: record ids as unsigned 128-bit integers (32 hex digits), summed modulo 2^128. */
export function idDigest(ids: Iterable<string>): string {
  let sum = 0n;
  for (const id of ids) sum = (sum + BigInt(`0x${id}`)) & MASK;
  return sum.toString(16).padStart(32, '0');
}

function isControl(r: WireRecord): boolean {
  return r.kind === 'event' && typeof r.type === 'string' && r.type.startsWith('control.');
}

/** `<gateway>:<sink>:<first>-<last>`; gateway ids may not hold ':' (the gateway's own rule), sink ids neither. */
function parseBatchId(
  id: string,
): { gateway: string; sink: string; first: number; last: number } | undefined {
  const m = /^([^:]+):([^:]+):(\d+)-(\d+)$/.exec(id);
  if (!m) return undefined;
  return { gateway: m[1] as string, sink: m[2] as string, first: Number(m[3]), last: Number(m[4]) };
}

export class Reconciler {
  /** Per accepted batch id: the data record ids it carried (control records left out). */
  readonly #carried = new Map<string, string[]>();
  /** Batches some totals record lists as replayed: they belong to that record's window only. */
  readonly #replayedIn = new Map<string, string>();
  readonly #results: Reconciliation[] = [];

  /** An accepted (new) batch; returns the control.totals records it brought, to reconcile once it is stored. */
  accepted(batch: WireBatch): TotalsData[] {
    const ids: string[] = [];
    const totals: TotalsData[] = [];
    for (const r of batch.records) {
      if (isControl(r)) {
        if (r.type === 'control.totals') totals.push(r.data as unknown as TotalsData);
      } else ids.push(r.id);
    }
    this.#carried.set(batch.batch_id, ids);
    return totals;
  }

  /**
   * Reconciles one window against what `held` (id → record) holds now. The window covers this gateway's and
   * sink's batches whose seqs lie in first_seq..last_seq, except those another window lists as replayed, plus
   * those this window lists as replayed.
   */
  reconcile(t: TotalsData, held: ReadonlyMap<string, WireRecord>): Reconciliation {
    const key = `${t.gateway}:${t.sink}:${t.window_start}`;
    for (const r of t.replayed) this.#replayedIn.set(r.batch_id, key);
    const batches: string[] = [];
    for (const id of this.#carried.keys()) {
      const b = parseBatchId(id);
      if (!b || b.gateway !== t.gateway || b.sink !== t.sink) continue;
      const listedIn = this.#replayedIn.get(id);
      const inRange = b.first >= t.first_seq && b.last <= t.last_seq;
      if ((inRange && listedIn === undefined) || listedIn === key) batches.push(id);
    }
    const ids: string[] = [];
    const missing: string[] = [];
    const byKind: Record<string, number> = {};
    const byType: Record<string, number> = {};
    const bySource: Record<string, number> = {};
    const bump = (m: Record<string, number>, k: string) => {
      m[k] = (m[k] ?? 0) + 1;
    };
    for (const b of batches) {
      for (const id of this.#carried.get(b) ?? []) {
        const r = held.get(id);
        if (!r) {
          if (missing.length < 100) missing.push(id);
          continue;
        }
        ids.push(id);
        bump(byKind, r.kind);
        bump(byType, r.kind === 'event' ? String(r.type) : 'reading');
        bump(bySource, r.kind === 'event' ? 'derived' : String((r.source as { id?: unknown })?.id));
      }
    }
    const digest = idDigest(ids);
    const differences: string[] = [];
    if (ids.length !== t.records) differences.push(`records: expected ${t.records}, held ${ids.length}`);
    for (const [name, exp, got] of [
      ['kind', t.by_kind, byKind],
      ['type', t.by_type, byType],
      ['source', t.by_source, bySource],
    ] as const) {
      for (const k of new Set([...Object.keys(exp), ...Object.keys(got)])) {
        if ((exp[k] ?? 0) !== (got[k] ?? 0))
          differences.push(`${name} ${k}: expected ${exp[k] ?? 0}, held ${got[k] ?? 0}`);
      }
    }
    if (digest !== t.digest) differences.push(`digest: expected ${t.digest}, held ${digest}`);
    const result: Reconciliation = {
      gateway: t.gateway,
      sink: t.sink,
      window_start: t.window_start,
      status: differences.length === 0 ? 'reconciled' : 'mismatch',
      expected: { records: t.records, digest: t.digest },
      held: { records: ids.length, digest, batches: batches.length },
      differences,
      missing,
    };
    this.#results.push(result);
    return result;
  }

  results(): Reconciliation[] {
    return [...this.#results];
  }

  reset(): void {
    this.#carried.clear();
    this.#replayedIn.clear();
    this.#results.length = 0;
  }
}
