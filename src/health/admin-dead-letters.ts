// Dead letters as the admin API lists them: a summary per batch (its records counted, not sent), in sequence
// order across sinks, one page at a time with bounded memory. Apart from admin-routes.ts, which validates and
// dispatches.
import type { DeadLetter, Journal } from '../journal/types.js';

/** Sequence range of a batch id `<gateway>:<sink>:<first>-<last>`; ids of another shape sort last. */
export function seqKey(batchId: string): [number, number] {
  const m = /:(\d+)-(\d+)$/.exec(batchId);
  return m ? [Number(m[1]), Number(m[2])] : [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
}

export interface LetterSummary {
  batch_id: string;
  sink: string;
  at: string;
  status?: number;
  owner?: string;
  error: string;
  records: number;
  first_seq?: number;
  last_seq?: number;
}

export interface Keyed {
  key: [number, number];
  s: LetterSummary;
}

export function bySeq(a: Keyed, b: Keyed): number {
  return (
    a.key[0] - b.key[0] ||
    a.key[1] - b.key[1] ||
    (a.s.batch_id < b.s.batch_id ? -1 : a.s.batch_id > b.s.batch_id ? 1 : 0)
  );
}

export function summary(l: DeadLetter): Keyed {
  const key = seqKey(l.batch_id);
  const s: LetterSummary = {
    batch_id: l.batch_id,
    sink: l.sink,
    at: new Date(l.at).toISOString(),
    ...(l.status !== undefined ? { status: l.status } : {}),
    ...(l.owner !== undefined ? { owner: l.owner } : {}),
    error: l.error,
    records: l.records.length,
  };
  if (Number.isFinite(key[0])) {
    s.first_seq = key[0];
    s.last_seq = key[1];
  }
  return { key, s };
}

/**
 * One page of dead letters in sequence order (the store keeps them in batch-id text order, where 1000 sorts
 * before 200). One pass over the store keeps only the best `limit + 1` candidates after the cursor, so memory
 * is bounded by the page, not by the number of dead letters.
 */
export async function deadLetterPage(
  journal: Journal,
  opts: { sink?: string | undefined; owner?: string | undefined; after?: string | undefined; limit: number },
): Promise<{ items: LetterSummary[]; next?: string }> {
  const after: Keyed | undefined =
    opts.after === undefined
      ? undefined
      : { key: seqKey(opts.after), s: { batch_id: opts.after } as LetterSummary };
  let kept: Keyed[] = [];
  const trim = () => {
    kept.sort(bySeq);
    if (kept.length > opts.limit + 1) kept = kept.slice(0, opts.limit + 1);
  };
  for await (const l of journal.exportDeadLetters({ sink: opts.sink, pageSize: 100 })) {
    if (opts.owner !== undefined && l.owner !== opts.owner) continue;
    const k = summary(l);
    if (after && bySeq(k, after) <= 0) continue;
    kept.push(k);
    if (kept.length >= 2 * (opts.limit + 1)) trim();
  }
  trim();
  const more = kept.length > opts.limit;
  const items = kept.slice(0, opts.limit).map((k) => k.s);
  const last = items[items.length - 1];
  return more && last ? { items, next: last.batch_id } : { items };
}
