// Operator commands that talk to a running daemon through its admin socket: status, queue stats,
// quarantine and dead-letter handling. They never open the journal themselves (LevelDB allows one process).
// Every failure (no daemon, a refused argument, a cut answer) is a message on stderr and a non-zero exit;
// text from receivers and devices goes through `printable` in every human form.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { type TraceAnswer, traceLines } from '../forward/trace-lookup.js';
import { AdminClientError, type AdminTarget, adminCall, adminExport } from '../health/admin-client.js';
import type { StatusDocument } from '../health/status-document.js';
import { printable } from './printable.js';

export const DEFAULT_CONFIG = '/etc/plantgate/plant.yaml';

/** Reads only storage.dir and admin.socket from the YAML, so no secrets need to be resolvable for the CLI. */
export function adminTarget(configFile: string): AdminTarget {
  const text = readFileSync(configFile, 'utf8');
  const doc = (parse(text) ?? {}) as { storage?: { dir?: string }; admin?: { socket?: string } };
  const base = dirname(resolve(configFile));
  const abs = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const dir = abs(doc.storage?.dir ?? '/var/lib/plantgate');
  return {
    socketPath: doc.admin?.socket ? abs(doc.admin.socket) : join(dir, 'admin.sock'),
    tokenPath: join(dir, 'admin.token'),
  };
}

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** Shorthand: escaped for the terminal. */
const p = printable;

function sinkLines(s: Pick<StatusDocument, 'sinks'>): string[] {
  const lines: string[] = ['Sinks'];
  for (const [id, k] of Object.entries(s.sinks)) {
    const l = k.ledger;
    const dropped = Object.values(l.dropped).reduce((a, b) => a + b, 0);
    lines.push(
      `  ${pad(p(id), 16)} ${pad(p(k.state), 10)} backlog ${k.backlog}${k.oldest_unacked_age_s !== undefined ? ` (oldest ${k.oldest_unacked_age_s} s)` : ''}  delivered ${l.delivered}, dead-lettered ${l.dead_lettered}, dropped ${dropped}  ledger ${l.balanced ? 'balanced' : 'NOT BALANCED'}`,
    );
    if (k.last_error) lines.push(`  ${pad('', 16)} last error: ${p(k.last_error)}`);
    else if (k.past_error) lines.push(`  ${pad('', 16)} past error: ${p(k.past_error)}`);
  }
  return lines;
}

function storeLines(s: Pick<StatusDocument, 'journal' | 'quarantine' | 'dead_letters'>): string[] {
  const lines: string[] = [];
  lines.push(
    `Journal: ${s.journal.records} records, ${(s.journal.bytes / 1048576).toFixed(1)} MiB of ${(s.journal.max_bytes / 1048576).toFixed(0)} MiB (${p(s.journal.when_full)})${s.journal.blocked ? ', BLOCKED' : ''}`,
  );
  const q = Object.entries(s.quarantine.held_by_reason)
    .map(([r, n]) => `${p(r)} ${n}`)
    .join(', ');
  lines.push(
    `Quarantine: ${s.quarantine.held} held${q ? ` (${q})` : ''}; ${s.quarantine.total} ever, ${s.quarantine.replayed} replayed, ${s.quarantine.purged} purged`,
  );
  lines.push(`Dead letters: ${s.dead_letters.batches} batches, ${s.dead_letters.records} records`);
  return lines;
}

export function formatStatus(s: StatusDocument): string {
  const lines: string[] = [];
  lines.push(
    `plantgate ${p(s.version)} on ${p(s.gateway.id)} (${p(s.gateway.site)}): ${s.status.toUpperCase()}, up ${s.uptime_s} s`,
  );
  for (const r of s.reasons) lines.push(`  ! ${p(r)}`);
  const c = s.config;
  if (c.fingerprint) {
    const approved = c.approved_by
      ? `, approved by ${p(c.approved_by.identity)} (${p(c.approved_by.key)})`
      : '';
    lines.push(
      `Configuration ${c.fingerprint.slice(0, 19)} applied ${c.applied_at ?? '?'} (${c.applied_how ?? '?'})${approved}`,
    );
  }
  lines.push('');
  lines.push('Sources');
  for (const [id, src] of Object.entries(s.sources)) {
    const age = src.last_sample_age_s === undefined ? 'never' : `${src.last_sample_age_s} s ago`;
    lines.push(
      `  ${pad(p(id), 16)} ${pad(p(src.type), 10)} ${pad(p(src.state), 13)} last sample ${pad(age, 12)} ${src.rate_per_s}/s  received ${src.received}, quarantined ${src.quarantined}`,
    );
  }
  lines.push('');
  lines.push(...sinkLines(s));
  lines.push('');
  lines.push(...storeLines(s));
  const owners = Object.entries(s.exceptions?.by_owner ?? {});
  if (owners.length > 0) {
    lines.push('Exceptions by owner (since the start)');
    for (const [owner, o] of owners) {
      const top = o.reasons.map((r) => `${p(r.reason)} ${r.count}`).join(', ');
      lines.push(
        `  ${pad(p(owner), 16)} ${o.total}  (${top}${o.other_reasons ? `, other ${o.other_reasons}` : ''})`,
      );
    }
  }
  const pl = s.ledger.pipeline;
  lines.push(
    `Pipeline ledger: received ${pl.received} = ingested ${pl.ingested} + quarantined ${pl.quarantined} (${pl.balanced ? 'balanced' : 'NOT BALANCED'})`,
  );
  return lines.join('\n');
}

type QueueStats = Pick<
  StatusDocument,
  'status' | 'reasons' | 'journal' | 'sinks' | 'quarantine' | 'dead_letters'
>;

/** `queue stats` for people: the backlog part of `status`. */
export function formatQueueStats(s: QueueStats): string {
  const lines: string[] = [];
  if (s.status) lines.push(`Overall: ${s.status.toUpperCase()}`);
  for (const r of s.reasons ?? []) lines.push(`  ! ${p(r)}`);
  if (lines.length > 0) lines.push('');
  lines.push(...storeLines(s));
  lines.push(`Journal sequence: ${s.journal.first_seq}..${s.journal.last_seq}`);
  lines.push('');
  lines.push(...sinkLines(s));
  return lines.join('\n');
}

interface ListedEntry {
  id: number;
  at: number;
  source: { id: string };
  reason: string;
  detail: string;
}

interface ListedLetter {
  batch_id: string;
  sink: string;
  at: string;
  status?: number;
  error: string;
  records: number;
}

export interface OpsArgs {
  json?: boolean;
  /** trace: a record id, a seq or a batch id. */
  query?: string;
  reason?: string;
  source?: string;
  owner?: string;
  ids?: number[];
  all?: boolean;
  id?: number;
  batch?: string;
  sink?: string;
  limit?: number;
  after?: string | number;
}

/** Exit codes: 0 done, 1 failed (no daemon, the daemon failed, an incomplete answer), 2 refused argument. */
export async function opsCommand(configFile: string, action: string, args: OpsArgs): Promise<number> {
  let target: AdminTarget;
  try {
    target = adminTarget(configFile);
  } catch (err) {
    process.stderr.write(`plantgate: cannot read ${configFile}: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    return await run(target, action, args);
  } catch (err) {
    if (err instanceof AdminClientError) {
      process.stderr.write(`plantgate ${action}: ${p(err.message)}\n`);
      return err.status === 400 || err.status === 404 ? 2 : 1;
    }
    throw err;
  }
}

async function run(target: AdminTarget, action: string, args: OpsArgs): Promise<number> {
  switch (action) {
    case 'trace': {
      const a = (await adminCall(
        target,
        'GET',
        `/trace?${new URLSearchParams({ q: args.query ?? '' })}`,
      )) as TraceAnswer;
      out(
        args.json
          ? JSON.stringify(a, null, 2)
          : traceLines(a)
              .map((l) => p(l))
              .join('\n'),
      );
      // Found somewhere (or at least one sink knows it): 0; nothing known anywhere: 1.
      return a.record !== undefined ||
        a.sinks.some((s) => s.state !== 'unknown' && s.state !== 'not_selected')
        ? 0
        : 1;
    }
    case 'status': {
      const s = (await adminCall(target, 'GET', '/status')) as StatusDocument;
      out(args.json ? JSON.stringify(s, null, 2) : formatStatus(s));
      return s.status === 'failing' ? 1 : 0;
    }
    case 'queue stats': {
      const s = (await adminCall(target, 'GET', '/queue/stats')) as QueueStats;
      out(args.json ? JSON.stringify(s, null, 2) : formatQueueStats(s));
      return 0;
    }
    case 'quarantine list': {
      const qs = new URLSearchParams();
      if (args.reason !== undefined) qs.set('reason', args.reason);
      if (args.source !== undefined) qs.set('source', args.source);
      if (args.owner !== undefined) qs.set('owner', args.owner);
      if (args.limit !== undefined) qs.set('limit', String(args.limit));
      if (args.after !== undefined) qs.set('after', String(args.after));
      const r = (await adminCall(target, 'GET', `/quarantine?${qs}`)) as {
        entries: ListedEntry[];
        next?: number;
        summary: { held: number; held_by_reason: Record<string, number> };
      };
      if (args.json) {
        out(JSON.stringify(r, null, 2));
        return 0;
      }
      out(`${r.summary.held} entries in quarantine`);
      for (const e of r.entries) {
        out(
          `${pad(String(e.id), 8)} ${new Date(e.at).toISOString()}  ${pad(p(e.source.id), 14)} ${pad(p(e.reason), 16)} ${p(e.detail)}`,
        );
      }
      if (r.next !== undefined) out(`more: add --after ${r.next}`);
      return 0;
    }
    case 'quarantine show': {
      out(JSON.stringify(await adminCall(target, 'GET', `/quarantine/show?id=${args.id}`), null, 2));
      return 0;
    }
    case 'quarantine export': {
      const q = new URLSearchParams();
      if (args.reason !== undefined) q.set('reason', args.reason);
      if (args.source !== undefined) q.set('source', args.source);
      if (args.owner !== undefined) q.set('owner', args.owner);
      const r = await adminExport(target, `/quarantine/export?${q}`, process.stdout);
      // The count goes to stderr, so stdout stays pure NDJSON; an empty export is said, not silent.
      process.stderr.write(
        r.lines === 0
          ? `exported 0 entries: the quarantine holds none${args.reason ? ` with reason ${args.reason}` : ''}\n`
          : `exported ${r.lines} entries\n`,
      );
      return 0;
    }
    case 'quarantine replay': {
      const res = (await adminCall(target, 'POST', '/quarantine/replay', sel(args), (line) => {
        const pr = (line as { progress?: { done: number; replayed: number } }).progress;
        if (pr) process.stderr.write(`replaying: ${pr.done} done, ${pr.replayed} replayed\n`);
      })) as { result?: unknown };
      if (!res?.result) throw new AdminClientError('the daemon sent no replay result');
      out(JSON.stringify(res.result, null, 2));
      return 0;
    }
    case 'quarantine purge': {
      out(JSON.stringify(await adminCall(target, 'POST', '/quarantine/purge', sel(args))));
      return 0;
    }
    case 'dead-letters list': {
      const qs = new URLSearchParams();
      if (args.sink !== undefined) qs.set('sink', args.sink);
      if (args.owner !== undefined) qs.set('owner', args.owner);
      if (args.limit !== undefined) qs.set('limit', String(args.limit));
      if (args.after !== undefined) qs.set('after', String(args.after));
      const r = (await adminCall(target, 'GET', `/dead-letters?${qs}`)) as {
        dead_letters: ListedLetter[];
        next?: string;
        summary?: { batches: number; records: number };
      };
      if (args.json) {
        out(JSON.stringify(r, null, 2));
        return 0;
      }
      out(`${r.summary?.batches ?? r.dead_letters.length} dead-lettered batches`);
      for (const l of r.dead_letters)
        out(`${p(l.batch_id)}  ${p(l.at)}  HTTP ${l.status ?? '-'}  ${l.records} records  ${p(l.error)}`);
      if (r.next !== undefined) out(`more: add --after ${p(r.next)}`);
      return 0;
    }
    case 'dead-letters replay': {
      const res = (await adminCall(
        target,
        'POST',
        '/dead-letters/replay',
        { batch_id: args.batch, all: args.all || undefined, sink: args.sink },
        (line) => {
          const pr = (line as { progress?: { replayed: number; failed: number } }).progress;
          if (pr)
            process.stderr.write(`replaying dead letters: ${pr.replayed} delivered, ${pr.failed} failed\n`);
        },
      )) as { result?: { failed: number } };
      if (!res?.result) throw new AdminClientError('the daemon sent no replay result');
      out(JSON.stringify(res.result, null, 2));
      return res.result.failed > 0 ? 1 : 0;
    }
    case 'dead-letters purge': {
      out(
        JSON.stringify(
          await adminCall(target, 'POST', '/dead-letters/purge', {
            batch_id: args.batch,
            all: args.all || undefined,
            sink: args.sink,
          }),
        ),
      );
      return 0;
    }
    default:
      process.stderr.write(`plantgate: unknown action ${action}\n`);
      return 2;
  }
}

function sel(args: OpsArgs): {
  reason?: string;
  source?: string;
  owner?: string;
  ids?: number[];
  all?: true;
} {
  return {
    reason: args.reason,
    source: args.source,
    owner: args.owner,
    ids: args.ids,
    all: args.all ? true : undefined,
  };
}
