// The operator actions behind the admin socket: status, queue stats, quarantine list/show/export/replay/purge,
// dead-letters list/replay/purge, reload. Every argument is validated (admin-args.ts) before anything is read;
// listings are paged, exports and long operations are streamed with back-pressure, so no request makes the
// daemon hold more than one page of entries, whatever the size of the quarantine or of the dead letters.
import type { z } from 'zod';
import { toTaggedTree } from '../journal/tagged-json.js';
import type { Journal, QuarantineEntry } from '../journal/types.js';
import type { RawSample } from '../model/records.js';
import {
  DEFAULT_LIST_LIMIT,
  deadLetterSelection,
  deadLettersListQuery,
  describeIssues,
  emptyQuery,
  KNOWN_REASONS,
  quarantineExportQuery,
  quarantineListQuery,
  quarantineSelection,
  quarantineShowQuery,
  unknownValue,
} from './admin-args.js';
import { bySeq, deadLetterPage, type Keyed, type LetterSummary, seqKey } from './admin-dead-letters.js';
import type { AdminRequest, AdminResponse, AdminRoute } from './admin-server.js';
import type { StatusDocument } from './status-document.js';

export interface AdminApi {
  status(): StatusDocument;
  journal(): Journal;
  replaySample(
    sourceId: string,
    sourceType: string,
    sample: RawSample,
  ): Promise<{ ok: boolean; reason?: string; detail?: string }>;
  replayDeadLetter(sinkId: string, batchId: string): Promise<unknown>;
  /** Where a record, seq or batch is and what happened to it at each sink (src/forward/trace-lookup.ts). */
  trace(query: string): Promise<unknown>;
  /** The owners the running configuration names (for --owner); any owner is taken when absent. */
  owners?(): readonly string[];
  reload(): Promise<unknown>;
}

/** Entries read and removed per step of a replay or purge. */
const PAGE = 500;

type Selection = z.infer<typeof quarantineSelection>;

/** The query string as an object for a schema; a parameter given twice is refused rather than guessed. */
function queryObject(q: AdminRequest, res: AdminResponse): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [k, v] of q.query) {
    if (Object.hasOwn(out, k)) {
      res.json(400, { error: `${k}: given more than once`, code: 'INVALID_ARGUMENT' });
      return undefined;
    }
    out[k] = v;
  }
  return out;
}

function valid<S extends z.ZodType>(schema: S, input: unknown, res: AdminResponse): z.infer<S> | undefined {
  const r = schema.safeParse(input);
  if (!r.success) {
    res.json(400, { error: describeIssues(r.error), code: 'INVALID_ARGUMENT' });
    return undefined;
  }
  return r.data;
}

function validQuery<S extends z.ZodType>(
  schema: S,
  q: AdminRequest,
  res: AdminResponse,
): z.infer<S> | undefined {
  const obj = queryObject(q, res);
  return obj === undefined ? undefined : valid(schema, obj, res);
}

/**
 * A reason filter must name a code that exists: a typo would otherwise select nothing and look like "no such
 * entries". Known: every code the product defines, plus any code entries of this store were ever stored with.
 */
function checkReason(api: AdminApi, reason: string | undefined, res: AdminResponse): boolean {
  if (reason === undefined) return true;
  const known = [...new Set([...KNOWN_REASONS, ...Object.keys(api.status().quarantine.by_reason)])].sort();
  const msg = unknownValue('reason code', reason, known);
  if (msg) res.json(400, { error: msg, code: 'INVALID_ARGUMENT' });
  return msg === undefined;
}

/**
 * A source filter must name a configured source, or one that still owns quarantine entries (removed from the
 * config). The error lists both; finding the latter scans the store, which only a typo pays for.
 */
async function checkSource(api: AdminApi, source: string | undefined, res: AdminResponse): Promise<boolean> {
  if (source === undefined) return true;
  const known = new Set(Object.keys(api.status().sources));
  if (known.has(source)) return true;
  for await (const e of api.journal().exportQuarantine({ pageSize: 500 })) {
    if (e.source.id === source) return true;
    if (known.size < 1000) known.add(e.source.id);
  }
  res.json(400, { error: unknownValue('source', source, [...known].sort()), code: 'INVALID_ARGUMENT' });
  return false;
}

/** A sink filter must name a configured sink, or one that still owns dead letters (removed from the config). */
async function checkSink(api: AdminApi, sink: string | undefined, res: AdminResponse): Promise<boolean> {
  if (sink === undefined) return true;
  const configured = Object.keys(api.status().sinks).sort();
  if (configured.includes(sink)) return true;
  for await (const _ of api.journal().exportDeadLetters({ sink, pageSize: 100 })) return true;
  res.json(400, { error: unknownValue('sink', sink, configured), code: 'INVALID_ARGUMENT' });
  return false;
}

/** An entry as the CLI receives it: the raw sample in the journal's lossless tagged JSON (bigint, Date, NaN). */
function entryOut(e: QuarantineEntry): unknown {
  return e.sample === undefined ? e : { ...e, sample: toTaggedTree(e.sample) };
}

/** Whether an entry passes the `source` and `owner` narrowing (entries from before owners have none). */
function narrowed(
  e: QuarantineEntry,
  f: { source?: string | undefined; owner?: string | undefined },
): boolean {
  return (
    (f.source === undefined || e.source.id === f.source) && (f.owner === undefined || e.owner === f.owner)
  );
}

async function* ofSource(
  items: AsyncIterable<QuarantineEntry>,
  f: { source?: string | undefined; owner?: string | undefined },
): AsyncGenerator<QuarantineEntry> {
  for await (const e of items) if (narrowed(e, f)) yield e;
}

/** An owner filter must name an owner of the running configuration (the answer lists them). */
function checkOwner(api: AdminApi, owner: string | undefined, res: AdminResponse): boolean {
  if (owner === undefined || !api.owners) return true;
  const known = api.owners();
  if (known.includes(owner)) return true;
  res.json(400, { error: unknownValue('owner', owner, [...known]), code: 'INVALID_ARGUMENT' });
  return false;
}

async function* mapped<T, U>(items: AsyncIterable<T>, fn: (t: T) => U): AsyncGenerator<U> {
  for await (const t of items) yield fn(t);
}

/** Walks the quarantine entries a selection names, page by page (bounded memory). */
async function* selected(journal: Journal, sel: Selection): AsyncGenerator<QuarantineEntry> {
  if (sel.ids) {
    for (const id of sel.ids) {
      const e = await journal.getQuarantine(id);
      if (e) yield e;
    }
    return;
  }
  // The export reads a fresh page after the last id seen, so removing entries already passed is safe.
  yield* ofSource(journal.exportQuarantine({ reason: sel.reason, pageSize: PAGE }), sel);
}

export function adminRoutes(api: AdminApi): AdminRoute[] {
  return [
    {
      method: 'GET',
      path: '/status',
      handler: async (q, res) => {
        if (validQuery(emptyQuery, q, res) === undefined) return;
        res.json(200, api.status());
      },
    },
    {
      method: 'GET',
      path: '/queue/stats',
      handler: async (q, res) => {
        if (validQuery(emptyQuery, q, res) === undefined) return;
        const s = api.status();
        res.json(200, {
          status: s.status,
          reasons: s.reasons,
          journal: s.journal,
          sinks: s.sinks,
          quarantine: s.quarantine,
          dead_letters: s.dead_letters,
        });
      },
    },
    {
      method: 'GET',
      path: '/quarantine',
      handler: async (q, res) => {
        const a = validQuery(quarantineListQuery, q, res);
        if (
          a === undefined ||
          !checkReason(api, a.reason, res) ||
          !checkOwner(api, a.owner, res) ||
          !(await checkSource(api, a.source, res))
        )
          return;
        const limit = a.limit ?? DEFAULT_LIST_LIMIT;
        // A journal page bounds the entries it scans, so a rare reason may need several to fill one answer.
        const entries: QuarantineEntry[] = [];
        let next: number | undefined = a.after;
        do {
          const page = await api
            .journal()
            .pageQuarantine({ after: next, limit: limit - entries.length, reason: a.reason });
          for (const e of page.items) if (narrowed(e, a)) entries.push(e);
          next = page.next;
        } while (next !== undefined && entries.length < limit);
        const s = api.status().quarantine;
        res.json(200, {
          entries: entries.map(entryOut),
          ...(next !== undefined ? { next } : {}),
          summary: { held: s.held, held_by_reason: s.held_by_reason, total: s.total },
        });
      },
    },
    {
      method: 'GET',
      path: '/quarantine/show',
      handler: async (q, res) => {
        const a = validQuery(quarantineShowQuery, q, res);
        if (a === undefined) return;
        const e = await api.journal().getQuarantine(a.id);
        if (!e) return res.json(404, { error: `no quarantine entry ${a.id}`, code: 'NOT_FOUND' });
        res.json(200, entryOut(e));
      },
    },
    {
      method: 'GET',
      path: '/quarantine/export',
      handler: async (q, res) => {
        const a = validQuery(quarantineExportQuery, q, res);
        if (
          a === undefined ||
          !checkReason(api, a.reason, res) ||
          !checkOwner(api, a.owner, res) ||
          !(await checkSource(api, a.source, res))
        )
          return;
        const all = api.journal().exportQuarantine({ reason: a.reason, pageSize: 100 });
        await res.stream(mapped(ofSource(all, a), entryOut));
      },
    },
    {
      method: 'POST',
      path: '/quarantine/replay',
      handler: async (q, res) => {
        const sel = valid(quarantineSelection, q.body, res);
        if (
          sel === undefined ||
          !checkReason(api, sel.reason, res) ||
          !checkOwner(api, sel.owner, res) ||
          !(await checkSource(api, sel.source, res))
        )
          return;
        const journal = api.journal();
        async function* run(): AsyncGenerator<unknown> {
          const p = { done: 0, replayed: 0, still_quarantined: 0, not_replayable: 0 };
          const stillReasons: Record<string, number> = {};
          // Removed in pages, after the walk has passed them.
          let pending: number[] = [];
          const flush = async () => {
            if (pending.length > 0) await journal.removeQuarantine(pending, 'replayed');
            pending = [];
          };
          for await (const e of selected(journal, sel as Selection)) {
            if (!e.sample) {
              p.not_replayable += 1;
            } else {
              const r = await api.replaySample(e.source.id, e.source.type, e.sample);
              if (r.ok) {
                p.replayed += 1;
                pending.push(e.id);
              } else {
                p.still_quarantined += 1;
                const key = r.reason ?? 'unknown';
                stillReasons[key] = (stillReasons[key] ?? 0) + 1;
              }
            }
            p.done += 1;
            if (pending.length >= PAGE) await flush();
            if (p.done % 1000 === 0) yield { progress: { ...p } };
          }
          await flush();
          yield { result: { ...p, still_quarantined_by_reason: stillReasons } };
        }
        await res.stream(run());
      },
    },
    {
      method: 'POST',
      path: '/quarantine/purge',
      handler: async (q, res) => {
        const sel = valid(quarantineSelection, q.body, res);
        if (
          sel === undefined ||
          !checkReason(api, sel.reason, res) ||
          !checkOwner(api, sel.owner, res) ||
          !(await checkSource(api, sel.source, res))
        )
          return;
        const journal = api.journal();
        let ids: number[] = [];
        let purged = 0;
        for await (const e of selected(journal, sel as Selection)) {
          ids.push(e.id);
          if (ids.length >= PAGE) {
            purged += await journal.removeQuarantine(ids, 'purged');
            ids = [];
          }
        }
        if (ids.length > 0) purged += await journal.removeQuarantine(ids, 'purged');
        res.json(200, { purged });
      },
    },
    {
      method: 'GET',
      path: '/trace',
      handler: async (q, res) => {
        const what = q.query.getAll('q');
        if (what.length !== 1 || !/^[\x21-\x7e]{1,300}$/.test(what[0] as string)) {
          return res.json(400, {
            error: 'q: give exactly one record id, seq or batch id (printable, at most 300 characters)',
            code: 'INVALID_ARGUMENT',
          });
        }
        res.json(200, await api.trace(what[0] as string));
      },
    },
    {
      method: 'GET',
      path: '/dead-letters',
      handler: async (q, res) => {
        const a = validQuery(deadLettersListQuery, q, res);
        if (a === undefined || !checkOwner(api, a.owner, res) || !(await checkSink(api, a.sink, res))) return;
        const page = await deadLetterPage(api.journal(), {
          sink: a.sink,
          owner: a.owner,
          after: a.after,
          limit: a.limit ?? DEFAULT_LIST_LIMIT,
        });
        res.json(200, {
          dead_letters: page.items,
          ...(page.next !== undefined ? { next: page.next } : {}),
          summary: api.status().dead_letters,
        });
      },
    },
    {
      method: 'POST',
      path: '/dead-letters/replay',
      handler: async (q, res) => {
        const b = valid(deadLetterSelection, q.body, res);
        if (b === undefined || !(await checkSink(api, b.sink, res))) return;
        const journal = api.journal();
        // The batch ids to replay, in sequence order (ids only: a few bytes per dead letter).
        let targets: Array<{ batch_id: string; sink: string }>;
        if (b.batch_id !== undefined) {
          const l = await journal.getDeadLetter(b.batch_id);
          if (!l || (b.sink !== undefined && l.sink !== b.sink))
            return res.json(404, {
              error: `no dead letter ${b.batch_id}${b.sink !== undefined ? ` of sink ${b.sink}` : ''}`,
              code: 'NOT_FOUND',
            });
          targets = [{ batch_id: l.batch_id, sink: l.sink }];
        } else {
          const all: Keyed[] = [];
          for await (const l of journal.exportDeadLetters({ sink: b.sink, pageSize: 100 }))
            all.push({ key: seqKey(l.batch_id), s: { batch_id: l.batch_id, sink: l.sink } as LetterSummary });
          all.sort(bySeq);
          targets = all.map((k) => ({ batch_id: k.s.batch_id, sink: k.s.sink }));
        }
        async function* run(): AsyncGenerator<unknown> {
          const out = { replayed: 0, failed: 0, errors: [] as string[] };
          for (const t of targets) {
            try {
              const r = (await api.replayDeadLetter(t.sink, t.batch_id)) as
                | { ok?: boolean; error?: string }
                | undefined;
              if (r === undefined) {
                // Gone meanwhile (replayed or purged by another command): nothing to do.
              } else if (r.ok === false) {
                out.failed += 1;
                if (out.errors.length < 100) out.errors.push(`${t.batch_id}: ${r.error ?? 'rejected again'}`);
              } else out.replayed += 1;
            } catch (err) {
              out.failed += 1;
              if (out.errors.length < 100)
                out.errors.push(`${t.batch_id}: ${err instanceof Error ? err.message : String(err)}`);
            }
            yield { progress: { replayed: out.replayed, failed: out.failed, of: targets.length } };
          }
          yield { result: out };
        }
        await res.stream(run());
      },
    },
    {
      method: 'POST',
      path: '/dead-letters/purge',
      handler: async (q, res) => {
        const b = valid(deadLetterSelection, q.body, res);
        if (b === undefined || !(await checkSink(api, b.sink, res))) return;
        const journal = api.journal();
        let purged = 0;
        if (b.batch_id !== undefined) {
          const l = await journal.getDeadLetter(b.batch_id);
          if (!l || (b.sink !== undefined && l.sink !== b.sink))
            return res.json(404, {
              error: `no dead letter ${b.batch_id}${b.sink !== undefined ? ` of sink ${b.sink}` : ''}`,
              code: 'NOT_FOUND',
            });
          if (await journal.removeDeadLetter(l.batch_id, 'purged')) purged += 1;
        } else {
          // Page by page; the next page starts after the last batch id seen, so removals do not disturb it.
          let after: string | undefined;
          for (;;) {
            const page = await journal.pageDeadLetters({ after, limit: 100, sink: b.sink });
            for (const l of page.items) if (await journal.removeDeadLetter(l.batch_id, 'purged')) purged += 1;
            if (page.next === undefined) break;
            after = page.next;
          }
        }
        res.json(200, { purged });
      },
    },
    {
      method: 'POST',
      path: '/reload',
      handler: async (q, res) => {
        if (valid(emptyQuery, q.body ?? {}, res) === undefined) return;
        res.json(200, await api.reload());
      },
    },
  ];
}
