// Turns a snapshot of every component into the /status verdict: ok, degraded or failing, with reasons in words.
// Pure: no I/O, so the rules are unit-tested. "Connected but nothing flowing" is never ok.
import type { ComponentHealth } from '../../adapters/types.js';
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
  extra: { reloadError?: string; ready: boolean; recentDrops?: Record<string, number> },
): Verdict {
  const degraded: string[] = [];
  const failing: string[] = [];
  if (!extra.ready) failing.push('daemon is starting: journal or components not ready yet');
  if (extra.reloadError)
    degraded.push(`configuration reload failed, previous configuration still running: ${extra.reloadError}`);
  if (journal.damaged) {
    degraded.push(
      `journal store was damaged and moved aside to ${journal.damaged.moved_to} (${journal.damaged.error}); a fresh store is in use`,
    );
  }
  if (journal.blocked)
    degraded.push('journal is full (when_full: block): sources are held back until sinks catch up');

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
