// `plantgate trace <record id | seq | batch id>`: did this reach the ERP, and when? Looks in the journal (still
// waiting for some sink?), in dead letters (rejected?) and in each sink's delivery receipts (which batch carried
// it, when it was acknowledged, after how many attempts, with which trace id). Receipts outlive the records, so a
// seq or a batch id is found long after delivery; a record id is found while the record is in the journal or in
// dead letters (receipts keep seq ranges, not record ids).
import type { DeadLetter, Journal, Receipt } from '../journal/types.js';
import type { CanonicalRecord } from '../model/records.js';
import { deadLetterSeqs } from './dead-letter-replay.js';

export interface SinkTrace {
  sink: string;
  /** `delivered` (a receipt says so), `pending` (after the sink's cursor), `dead_lettered`, or `unknown`. */
  state: 'delivered' | 'replayed' | 'pending' | 'dead_lettered' | 'not_selected' | 'unknown';
  receipt?: Receipt;
  detail?: string;
}

export interface TraceAnswer {
  query: string;
  kind: 'seq' | 'batch' | 'record';
  seq?: number;
  /** The record, when the journal or a dead letter still holds it. */
  record?: CanonicalRecord;
  /** Where the record is now. */
  in_journal?: boolean;
  dead_letter?: { batch_id: string; sink: string; at: number; status?: number; error: string };
  sinks: SinkTrace[];
  /** Said when the answer is partial: a record id that is no longer anywhere to be found by id. */
  note?: string;
}

const BATCH_ID = /^(.+):([^:]+):(\d+)-(\d+)$/;
/** Records scanned per sink when searching a record id in the journal: a diagnostic, not a query engine. */
const MAX_SCAN = 2_000_000;

/** Answers a trace query against the journal of a running daemon with these sinks. */
export async function traceQuery(
  journal: Journal,
  sinks: readonly string[],
  query: string,
): Promise<TraceAnswer> {
  const q = query.trim();
  if (/^\d+$/.test(q)) return traceSeq(journal, sinks, q, Number(q));
  const b = BATCH_ID.exec(q);
  if (b) {
    const sink = b[2] as string;
    const last = Number(b[4]);
    const answer: TraceAnswer = { query: q, kind: 'batch', sinks: [] };
    const letter = await journal.getDeadLetter(q);
    if (letter) answer.dead_letter = letterSummary(letter);
    const [r] = await journal.receipts(sink, { seq: last });
    if (r && r.batch_id === q) answer.sinks.push({ sink, state: stateOf(r), receipt: r });
    else if (letter) answer.sinks.push({ sink, state: 'dead_lettered' });
    else if (sinks.includes(sink) && journal.cursor(sink) < last)
      answer.sinks.push({
        sink,
        state: 'pending',
        detail: `the sink's cursor is at ${journal.cursor(sink)}`,
      });
    else
      answer.sinks.push({
        sink,
        state: 'unknown',
        detail: 'no receipt is kept for this batch (older than the receipts kept, or another gateway)',
      });
    return answer;
  }
  return traceRecord(journal, sinks, q);
}

async function traceSeq(
  journal: Journal,
  sinks: readonly string[],
  q: string,
  seq: number,
): Promise<TraceAnswer> {
  const answer: TraceAnswer = { query: q, kind: 'seq', seq, sinks: [] };
  for (const sink of sinks) {
    const entry = (await journal.read(sink, seq - 1, 1, Number.MAX_SAFE_INTEGER))[0];
    if (entry?.seq === seq) {
      answer.record = entry.record;
      answer.in_journal = true;
    }
    answer.sinks.push(await sinkTrace(journal, sink, seq, entry?.seq === seq));
  }
  return answer;
}

async function traceRecord(journal: Journal, sinks: readonly string[], id: string): Promise<TraceAnswer> {
  const answer: TraceAnswer = { query: id, kind: 'record', sinks: [] };
  for await (const l of journal.exportDeadLetters({ pageSize: 100 })) {
    const r = l.records.find((x) => x.id === id);
    if (!r) continue;
    answer.record = r;
    answer.dead_letter = letterSummary(l);
    const [receipt] = await journal.receipts(l.sink, { seq: deadLetterSeqs(l).last_seq });
    answer.sinks.push({ sink: l.sink, state: 'dead_lettered', ...(receipt ? { receipt } : {}) });
    return answer;
  }
  // The journal, sink by sink from each one's oldest kept record: a record still there is pending for someone.
  for (const sink of sinks) {
    let after = 0;
    for (let scanned = 0; scanned < MAX_SCAN; ) {
      const page = await journal.read(sink, after, 1000, 16 * 1024 * 1024);
      if (page.length === 0) break;
      const hit = page.find((e) => e.record.id === id);
      if (hit) {
        answer.seq = hit.seq;
        answer.record = hit.record;
        answer.in_journal = true;
        for (const s of sinks) answer.sinks.push(await sinkTrace(journal, s, hit.seq, true));
        return answer;
      }
      scanned += page.length;
      after = (page[page.length - 1] as { seq: number }).seq;
    }
  }
  answer.note =
    'not in the journal or in dead letters: it was delivered to every sink (and deleted), or never accepted. Receipts keep seq ranges, not record ids: trace the batch id the receiver got (its Idempotency-Key) or the seq.';
  return answer;
}

async function sinkTrace(
  journal: Journal,
  sink: string,
  seq: number,
  inJournal: boolean,
): Promise<SinkTrace> {
  const [r] = await journal.receipts(sink, { seq });
  if (r) return { sink, state: stateOf(r), receipt: r };
  if (journal.cursor(sink) < seq) {
    return inJournal
      ? { sink, state: 'pending', detail: `after the sink's cursor (${journal.cursor(sink)})` }
      : { sink, state: 'not_selected', detail: 'the sink does not take this record, or it was dropped' };
  }
  return { sink, state: 'unknown', detail: 'no receipt is kept for this seq (older than the receipts kept)' };
}

function stateOf(r: Receipt): SinkTrace['state'] {
  return r.outcome === 'dead_lettered'
    ? 'dead_lettered'
    : r.outcome === 'replayed'
      ? 'replayed'
      : 'delivered';
}

function letterSummary(l: DeadLetter): NonNullable<TraceAnswer['dead_letter']> {
  return {
    batch_id: l.batch_id,
    sink: l.sink,
    at: l.at,
    ...(l.status !== undefined ? { status: l.status } : {}),
    error: l.error,
  };
}

/** The answer in lines for a person: what, where, and per sink what happened and when. */
export function traceLines(a: TraceAnswer): string[] {
  const iso = (ms: number) => new Date(ms).toISOString();
  const out: string[] = [];
  const what =
    a.kind === 'batch' ? `batch ${a.query}` : a.kind === 'seq' ? `seq ${a.query}` : `record ${a.query}`;
  out.push(a.seq !== undefined && a.kind === 'record' ? `${what} (seq ${a.seq})` : what);
  if (a.record) {
    const r = a.record;
    out.push(
      `  ${r.kind === 'reading' ? `reading ${r.signal} = ${String(r.value)}${r.unit ? ` ${r.unit}` : ''} at ${r.ts}` : `event ${r.type} ${r.subject} at ${r.ts}`} (id ${r.id})`,
    );
  }
  if (a.in_journal) out.push('  in the journal: still waiting for at least one sink');
  if (a.dead_letter) {
    const d = a.dead_letter;
    out.push(
      `  in dead letters: batch ${d.batch_id} of sink ${d.sink}, rejected ${iso(d.at)}${d.status !== undefined ? ` with ${d.status}` : ''}: ${d.error}`,
    );
  }
  for (const s of a.sinks) {
    const r = s.receipt;
    if (r && s.state !== 'pending') {
      const verb =
        s.state === 'dead_lettered'
          ? 'rejected'
          : s.state === 'replayed'
            ? 'replayed and delivered'
            : 'delivered';
      out.push(
        `  sink ${s.sink}: ${verb} ${iso(r.at)} in batch ${r.batch_id} (${r.records} records, ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}${r.status !== undefined ? `, status ${r.status}` : ''}${r.trace_id ? `, trace ${r.trace_id}` : ''})`,
      );
    } else {
      out.push(`  sink ${s.sink}: ${s.state.replace('_', ' ')}${s.detail ? ` (${s.detail})` : ''}`);
    }
  }
  if (a.note) out.push(`  ${a.note}`);
  return out;
}
