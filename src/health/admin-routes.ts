// The operator actions behind the admin socket: status, queue stats, quarantine list/show/export/replay/purge,
// dead-letters list/replay/purge, reload. Long operations stream progress lines.
import type { Journal, QuarantineEntry } from '../journal/types.js';
import type { RawSample } from '../model/records.js';
import type { AdminResponse, AdminRoute } from './admin-server.js';
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
  reload(): Promise<unknown>;
}

interface Selection {
  ids?: number[];
  reason?: string;
  all?: boolean;
}

const PAGE = 500;

/** Walks the quarantine entries a selection names, page by page (bounded memory). */
async function* selected(journal: Journal, sel: Selection): AsyncGenerator<QuarantineEntry> {
  if (sel.ids && sel.ids.length > 0) {
    for (const id of sel.ids) {
      const e = await journal.getQuarantine(id);
      if (e) yield e;
    }
    return;
  }
  if (!sel.all && !sel.reason) return;
  let afterId: number | undefined;
  for (;;) {
    const page = await journal.listQuarantine({ reason: sel.reason, afterId, limit: PAGE });
    if (page.length === 0) return;
    for (const e of page) yield e;
    afterId = page[page.length - 1]?.id;
  }
}

function requireSelection(body: unknown, res: AdminResponse): Selection | undefined {
  const b = (body ?? {}) as Selection;
  if (!(b.ids && b.ids.length > 0) && !b.reason && !b.all) {
    res.json(400, { error: 'name what to act on: ids, reason, or all' });
    return undefined;
  }
  return b;
}

export function adminRoutes(api: AdminApi): AdminRoute[] {
  return [
    { method: 'GET', path: '/status', handler: async (_q, res) => res.json(200, api.status()) },
    {
      method: 'GET',
      path: '/queue/stats',
      handler: async (_q, res) => {
        const s = api.status();
        res.json(200, {
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
        const limit = Math.min(Number(q.query.get('limit') ?? 50), 1000);
        const after = q.query.get('after');
        const reason = q.query.get('reason') ?? undefined;
        const entries = await api
          .journal()
          .listQuarantine({ reason, afterId: after ? Number(after) : undefined, limit });
        res.json(200, { entries, summary: api.status().quarantine });
      },
    },
    {
      method: 'GET',
      path: '/quarantine/show',
      handler: async (q, res) => {
        const e = await api.journal().getQuarantine(Number(q.query.get('id')));
        if (!e) return res.json(404, { error: `no quarantine entry ${q.query.get('id')}` });
        res.json(200, e);
      },
    },
    {
      method: 'GET',
      path: '/quarantine/export',
      handler: async (q, res) => {
        const reason = q.query.get('reason') ?? undefined;
        let n = 0;
        for await (const e of selected(api.journal(), { reason, all: !reason })) {
          res.line(e);
          n += 1;
        }
        if (n === 0) res.line({ exported: 0 });
        res.end();
      },
    },
    {
      method: 'POST',
      path: '/quarantine/replay',
      handler: async (q, res) => {
        const sel = requireSelection(q.body, res);
        if (!sel) return;
        const journal = api.journal();
        const p = { done: 0, replayed: 0, still_quarantined: 0, not_replayable: 0 };
        const stillReasons: Record<string, number> = {};
        // Remove in pages: ids are collected first so that the walk is not disturbed by the removal.
        let pending: number[] = [];
        const flush = async () => {
          if (pending.length > 0) await journal.removeQuarantine(pending, 'replayed');
          pending = [];
        };
        for await (const e of selected(journal, sel)) {
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
          if (p.done % 1000 === 0) res.line({ progress: { ...p } });
        }
        await flush();
        res.line({ result: { ...p, still_quarantined_by_reason: stillReasons } });
        res.end();
      },
    },
    {
      method: 'POST',
      path: '/quarantine/purge',
      handler: async (q, res) => {
        const sel = requireSelection(q.body, res);
        if (!sel) return;
        const journal = api.journal();
        let ids: number[] = [];
        let purged = 0;
        for await (const e of selected(journal, sel)) {
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
      path: '/dead-letters',
      handler: async (q, res) => {
        const sink = q.query.get('sink') ?? undefined;
        const letters = await api
          .journal()
          .listDeadLetters(sink, Math.min(Number(q.query.get('limit') ?? 100), 1000));
        res.json(200, {
          dead_letters: letters.map((l) => ({
            batch_id: l.batch_id,
            sink: l.sink,
            at: new Date(l.at).toISOString(),
            status: l.status,
            error: l.error,
            records: l.records.length,
          })),
        });
      },
    },
    {
      method: 'POST',
      path: '/dead-letters/replay',
      handler: async (q, res) => {
        const b = (q.body ?? {}) as { batch_id?: string; all?: boolean; sink?: string };
        if (!b.batch_id && !b.all) return res.json(400, { error: 'name what to replay: batch_id or all' });
        const letters = b.batch_id
          ? (await api.journal().listDeadLetters(b.sink, 100_000)).filter((l) => l.batch_id === b.batch_id)
          : await api.journal().listDeadLetters(b.sink, 100_000);
        if (b.batch_id && letters.length === 0)
          return res.json(404, { error: `no dead letter ${b.batch_id}` });
        const out = { replayed: 0, failed: 0, errors: [] as string[] };
        for (const l of letters) {
          try {
            const r = (await api.replayDeadLetter(l.sink, l.batch_id)) as
              | { ok?: boolean; error?: string }
              | undefined;
            if (r && r.ok === false) {
              out.failed += 1;
              out.errors.push(`${l.batch_id}: ${r.error ?? 'rejected again'}`);
            } else out.replayed += 1;
          } catch (err) {
            out.failed += 1;
            out.errors.push(`${l.batch_id}: ${err instanceof Error ? err.message : String(err)}`);
          }
          res.line({ progress: { ...out, errors: undefined } });
        }
        res.line({ result: out });
        res.end();
      },
    },
    {
      method: 'POST',
      path: '/dead-letters/purge',
      handler: async (q, res) => {
        const b = (q.body ?? {}) as { batch_id?: string; all?: boolean; sink?: string };
        if (!b.batch_id && !b.all) return res.json(400, { error: 'name what to purge: batch_id or all' });
        const letters = await api.journal().listDeadLetters(b.sink, 100_000);
        let purged = 0;
        for (const l of letters) {
          if (b.batch_id && l.batch_id !== b.batch_id) continue;
          if (await api.journal().removeDeadLetter(l.batch_id, 'purged')) purged += 1;
        }
        res.json(200, { purged });
      },
    },
    { method: 'POST', path: '/reload', handler: async (_q, res) => res.json(200, await api.reload()) },
  ];
}
