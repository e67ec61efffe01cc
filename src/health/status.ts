// Turns a snapshot of every component into the /status verdict: ok, degraded or failing, with reasons in words.
// Pure: no I/O, so the rules are unit-tested. "Connected but nothing flowing" is never ok.
import type { ComponentHealth } from '../../adapters/kit/types.js';
import type { JournalStats } from '../journal/types.js';

export type Overall = 'ok' | 'degraded' | 'failing';

export interface SourceSnapshot {
  id: string;
  type: string;
  health: ComponentHealth;
  expectedIntervalMs?: number;
  lastSampleAt?: number;
  startedAt: number;
}

export interface SinkSnapshot {
  id: string;
  state: string;
  lastError?: string;
  consecutiveFailures?: number;
  oldestUnackedAt?: number;
  /** Set by the forwarder when the backlog grew steadily over the last minute while it was delivering. */
  backlogGrowth?: { recordsPerS: number; acceptedPerS: number };
  /** While the sink's rate limit holds batches back: its records per second. */
  limitedTo?: number;
}

export interface StatusRules {
  stallAfterIntervals: number;
  backlogDegradedAfterMs: number;
  backlogFailingAfterMs: number;
}

export interface Verdict {
  status: Overall;
  reasons: string[];
}

export function fmtDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function judge(
  now: number,
  rules: StatusRules,
  sources: readonly SourceSnapshot[],
  sinks: readonly SinkSnapshot[],
  journal: JournalStats & { damaged?: { moved_to: string; error: string } },
  extra: {
    reloadError?: string;
    restartPending?: string;
    ready: boolean;
    recentDrops?: Record<string, number>;
  },
): Verdict {
  const degraded: string[] = [];
  const failing: string[] = [];
  if (!extra.ready) failing.push('daemon is starting: journal or components not ready yet');
  if (extra.reloadError)
    degraded.push(`configuration reload failed, previous configuration still running: ${extra.reloadError}`);
  if (extra.restartPending) degraded.push(`configuration reloaded, but ${extra.restartPending}`);
  if (journal.damaged) {
    degraded.push(
      `journal store was damaged and moved aside to ${journal.damaged.moved_to} (${journal.damaged.error}); a fresh store is in use`,
    );
  }
  if (journal.blocked)
    degraded.push('journal is full (when_full: block): sources are held back until sinks catch up');
  // The quarantine and dead letters have their own bounds (storage.quarantine, storage.dead_letters).
  const q = journal.quarantine;
  if (q.dropping_since !== undefined) {
    degraded.push(
      `quarantine is at its bound (${q.bytes ?? 0} of ${q.max_bytes ?? 0} bytes) and drops ${q.when_full === 'drop_newest' ? 'new' : 'its oldest'} entries since ${fmtDuration(now - q.dropping_since)} (${q.dropped?.max_bytes ?? 0} dropped so far); replay or purge it ("plantgate quarantine list"), or raise storage.quarantine.max_bytes`,
    );
  }
  const dl = journal.dead_letters;
  if (dl.dropping_since !== undefined) {
    degraded.push(
      `dead letters are at their bound (${dl.bytes ?? 0} of ${dl.max_bytes ?? 0} bytes) and ${dl.when_full === 'drop_newest' ? 'new' : 'the oldest'} batches are dropped since ${fmtDuration(now - dl.dropping_since)} (${dl.dropped?.max_bytes ?? 0} batches, ${dl.dropped_records ?? 0} records so far); replay or purge them, or raise storage.dead_letters.max_bytes`,
    );
  }

  let sourcesDown = 0;
  for (const s of sources) {
    const st = s.health.state;
    if (st === 'down' || st === 'reconnecting') {
      sourcesDown += 1;
      const why = s.health.detail ?? s.health.last_error ?? 'no connection';
      degraded.push(`source ${s.id}: ${st === 'down' ? 'down' : 'reconnecting'} (${why})`);
      continue;
    }
    if (st === 'stopped') continue;
    if (s.expectedIntervalMs) {
      const limit = Math.max(s.expectedIntervalMs * rules.stallAfterIntervals, 5000);
      const since = s.lastSampleAt ?? s.startedAt;
      if (now - since > limit) {
        degraded.push(
          s.lastSampleAt === undefined
            ? `source ${s.id}: no samples since start ${fmtDuration(now - s.startedAt)} ago, expected every ${fmtDuration(s.expectedIntervalMs)}`
            : `source ${s.id}: no samples for ${fmtDuration(now - s.lastSampleAt)}, expected every ${fmtDuration(s.expectedIntervalMs)}`,
        );
      }
    }
    if (s.health.detail && st === 'connected' && /offline|timeout|error/i.test(s.health.detail)) {
      degraded.push(`source ${s.id}: ${s.health.detail}`);
    }
    // Declared signals that need a person (never read because the address does not resolve, a type that
    // contradicts the server's): degraded, each named, until fixed. Connected is not enough to be ok.
    for (const p of s.health.problems ?? []) degraded.push(`source ${s.id}: ${p}`);
  }
  if (sources.length > 0 && sourcesDown === sources.length) failing.push('every source is down');

  for (const k of sinks) {
    const ledger = journal.sinks[k.id];
    if (k.state === 'failing' || k.state === 'retrying') {
      degraded.push(`sink ${k.id}: ${k.state}${k.lastError ? ` (${k.lastError})` : ''}`);
    }
    const oldest = k.oldestUnackedAt ?? ledger?.oldest_unacked_at;
    if (oldest !== undefined && ledger && ledger.queued > 0) {
      const age = now - oldest;
      if (age > rules.backlogFailingAfterMs)
        failing.push(`sink ${k.id}: oldest undelivered record is ${fmtDuration(age)} old`);
      else if (age > rules.backlogDegradedAfterMs)
        degraded.push(`sink ${k.id}: oldest undelivered record is ${fmtDuration(age)} old`);
    }
    // A slow receiver: delivering, so no error and (for a while) no old record, yet falling behind for good.
    if (k.backlogGrowth) {
      degraded.push(
        k.limitedTo !== undefined
          ? `sink ${k.id}: backlog growing by ${k.backlogGrowth.recordsPerS} records/s; its rate_limit lets ${k.limitedTo} records/s through`
          : `sink ${k.id}: backlog growing by ${k.backlogGrowth.recordsPerS} records/s; the receiver accepts ${k.backlogGrowth.acceptedPerS}/s`,
      );
    }
    if (ledger && ledger.dead_lettered > 0) {
      degraded.push(
        `sink ${k.id}: ${ledger.dead_lettered} records rejected permanently (dead letters); see "plantgate dead-letters list"`,
      );
    }
    const dropped = extra.recentDrops?.[k.id] ?? 0;
    if (dropped > 0) {
      degraded.push(
        `sink ${k.id}: ${dropped} records dropped in the last 15 min because the journal was full or too old`,
      );
    }
  }
  if (failing.length > 0) return { status: 'failing', reasons: [...failing, ...degraded] };
  if (degraded.length > 0) return { status: 'degraded', reasons: degraded };
  return { status: 'ok', reasons: [] };
}
