// Operator commands that talk to a running daemon through its admin socket: status, queue stats,
// quarantine and dead-letter handling. They never open the journal themselves (LevelDB allows one process).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { AdminClientError, type AdminTarget, adminCall } from '../health/admin-client.js';
import type { StatusDocument } from '../health/status-document.js';

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

export function formatStatus(s: StatusDocument): string {
  const lines: string[] = [];
  lines.push(
    `plantgate ${s.version} on ${s.gateway.id} (${s.gateway.site}): ${s.status.toUpperCase()}, up ${s.uptime_s} s`,
  );
  for (const r of s.reasons) lines.push(`  ! ${r}`);
  lines.push('');
  lines.push('Sources');
  for (const [id, src] of Object.entries(s.sources)) {
    const age = src.last_sample_age_s === undefined ? 'never' : `${src.last_sample_age_s} s ago`;
    lines.push(
      `  ${pad(id, 16)} ${pad(src.type, 10)} ${pad(src.state, 13)} last sample ${pad(age, 12)} ${src.rate_per_s}/s  received ${src.received}, quarantined ${src.quarantined}`,
    );
  }
  lines.push('');
  lines.push('Sinks');
  for (const [id, k] of Object.entries(s.sinks)) {
    const l = k.ledger;
    const dropped = Object.values(l.dropped).reduce((a, b) => a + b, 0);
    lines.push(
      `  ${pad(id, 16)} ${pad(k.state, 10)} backlog ${k.backlog}${k.oldest_unacked_age_s !== undefined ? ` (oldest ${k.oldest_unacked_age_s} s)` : ''}  delivered ${l.delivered}, dead-lettered ${l.dead_lettered}, dropped ${dropped}  ledger ${l.balanced ? 'balanced' : 'NOT BALANCED'}`,
    );
    if (k.last_error) lines.push(`  ${pad('', 16)} last error: ${k.last_error}`);
  }
  lines.push('');
  lines.push(
    `Journal: ${s.journal.records} records, ${(s.journal.bytes / 1048576).toFixed(1)} MiB of ${(s.journal.max_bytes / 1048576).toFixed(0)} MiB (${s.journal.when_full})${s.journal.blocked ? ', BLOCKED' : ''}`,
  );
  const q = Object.entries(s.quarantine.held_by_reason)
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  lines.push(
    `Quarantine: ${s.quarantine.held} held${q ? ` (${q})` : ''}; ${s.quarantine.total} ever, ${s.quarantine.replayed} replayed, ${s.quarantine.purged} purged`,
  );
  lines.push(`Dead letters: ${s.dead_letters.batches} batches, ${s.dead_letters.records} records`);
  const p = s.ledger.pipeline;
  lines.push(
    `Pipeline ledger: received ${p.received} = ingested ${p.ingested} + quarantined ${p.quarantined} (${p.balanced ? 'balanced' : 'NOT BALANCED'})`,
  );
  return lines.join('\n');
}

export async function opsCommand(
  configFile: string,
  action: string,
  args: {
    json?: boolean;
    reason?: string;
    ids?: number[];
    all?: boolean;
    id?: number;
    batch?: string;
    sink?: string;
    limit?: number;
  },
): Promise<number> {
  let target: AdminTarget;
  try {
    target = adminTarget(configFile);
  } catch (err) {
    process.stderr.write(`plantgate: cannot read ${configFile}: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    switch (action) {
      case 'status': {
        const s = (await adminCall(target, 'GET', '/status')) as StatusDocument;
        out(args.json ? JSON.stringify(s, null, 2) : formatStatus(s));
        return s.status === 'failing' ? 1 : 0;
      }
      case 'queue stats': {
        out(JSON.stringify(await adminCall(target, 'GET', '/queue/stats'), null, 2));
        return 0;
      }
      case 'quarantine list': {
        const qs = new URLSearchParams();
        if (args.reason) qs.set('reason', args.reason);
        qs.set('limit', String(args.limit ?? 50));
        const r = (await adminCall(target, 'GET', `/quarantine?${qs}`)) as {
          entries: Array<{ id: number; at: number; source: { id: string }; reason: string; detail: string }>;
          summary: { held: number; by_reason: Record<string, number> };
        };
        if (args.json) out(JSON.stringify(r, null, 2));
        else {
          out(`${r.summary.held} entries in quarantine`);
          for (const e of r.entries) {
            out(
              `${pad(String(e.id), 8)} ${new Date(e.at).toISOString()}  ${pad(e.source.id, 14)} ${pad(e.reason, 16)} ${e.detail}`,
            );
          }
        }
        return 0;
      }
      case 'quarantine show': {
        out(JSON.stringify(await adminCall(target, 'GET', `/quarantine/show?id=${args.id}`), null, 2));
        return 0;
      }
      case 'quarantine export': {
        const qs = args.reason ? `?reason=${encodeURIComponent(args.reason)}` : '';
        await adminCall(target, 'GET', `/quarantine/export${qs}`, undefined, (line) =>
          out(JSON.stringify(line)),
        );
        return 0;
      }
      case 'quarantine replay': {
        const res = (await adminCall(target, 'POST', '/quarantine/replay', sel(args), (line) => {
          const p = (line as { progress?: { done: number; replayed: number } }).progress;
          if (p) process.stderr.write(`replaying: ${p.done} done, ${p.replayed} replayed\n`);
        })) as { result: unknown };
        out(JSON.stringify(res.result ?? res, null, 2));
        return 0;
      }
      case 'quarantine purge': {
        out(JSON.stringify(await adminCall(target, 'POST', '/quarantine/purge', sel(args))));
        return 0;
      }
      case 'dead-letters list': {
        const qs = args.sink ? `?sink=${encodeURIComponent(args.sink)}` : '';
        const r = (await adminCall(target, 'GET', `/dead-letters${qs}`)) as {
          dead_letters: Array<{
            batch_id: string;
            sink: string;
            at: string;
            status?: number;
            error: string;
            records: number;
          }>;
        };
        if (args.json) out(JSON.stringify(r, null, 2));
        else {
          out(`${r.dead_letters.length} dead-lettered batches`);
          for (const l of r.dead_letters)
            out(`${l.batch_id}  ${l.at}  HTTP ${l.status ?? '-'}  ${l.records} records  ${l.error}`);
        }
        return 0;
      }
      case 'dead-letters replay': {
        const res = (await adminCall(
          target,
          'POST',
          '/dead-letters/replay',
          { batch_id: args.batch, all: args.all, sink: args.sink },
          (line) => {
            const p = (line as { progress?: { replayed: number; failed: number } }).progress;
            if (p)
              process.stderr.write(`replaying dead letters: ${p.replayed} delivered, ${p.failed} failed\n`);
          },
        )) as { result?: { failed: number } };
        out(JSON.stringify(res.result ?? res, null, 2));
        return res.result && res.result.failed > 0 ? 1 : 0;
      }
      case 'dead-letters purge': {
        out(
          JSON.stringify(
            await adminCall(target, 'POST', '/dead-letters/purge', {
              batch_id: args.batch,
              all: args.all,
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
  } catch (err) {
    if (err instanceof AdminClientError) {
      process.stderr.write(`plantgate: ${err.message}\n`);
      return err.status === 401 ? 1 : 1;
    }
    throw err;
  }
}

function sel(args: { reason?: string; ids?: number[]; all?: boolean }): {
  reason?: string;
  ids?: number[];
  all?: boolean;
} {
  return { reason: args.reason, ids: args.ids, all: args.all };
}
