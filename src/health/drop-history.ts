// How many records each sink lost to the journal's bound in the last 15 minutes, for the /status verdict. The
// journal's drop counters are cumulative and persisted, so a drop last week must not keep /status degraded: this
// keeps a sample of the per-sink totals every minute for 16 minutes and reports the growth since the oldest.
import type { JournalStats } from '../journal/types.js';

/** Samples older than this are forgotten; one a minute, so the oldest kept is 15 to 16 minutes old. */
const KEEP_MS = 16 * 60_000;

/** Every record a sink lost to the journal's bound, summed over the causes. */
function droppedBySink(st: JournalStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, l] of Object.entries(st.sinks))
    out[id] = Object.values(l.dropped).reduce((a, b) => a + b, 0);
  return out;
}

export class DropHistory {
  #samples: Array<{ at: number; dropped: Record<string, number> }> = [];

  /** Called once a minute (and once at start) with the journal's stats now. */
  record(st: JournalStats, now: number): void {
    this.#samples.push({ at: now, dropped: droppedBySink(st) });
    this.#samples = this.#samples.filter((h) => now - h.at <= KEEP_MS);
  }

  /** Records dropped per sink since the oldest sample kept (a sink absent then counts from zero). */
  recent(st: JournalStats): Record<string, number> {
    const first = this.#samples[0];
    const out: Record<string, number> = {};
    for (const [id, total] of Object.entries(droppedBySink(st))) out[id] = total - (first?.dropped[id] ?? 0);
    return out;
  }
}
