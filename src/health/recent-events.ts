// The status page's "recent alarms and events" (issue 16): the last few things that happened, newest first, in
// a list of fixed length. Most are found by comparing successive /status documents (a source that lost or got
// back its connection, a sink that started or stopped failing, records dead-lettered or dropped by a bound), so
// no hot path has to report to it; the daemon adds what no document shows (a reload and its outcome).
// Messages keep device and receiver text as it is: the page shows them with textContent only.
import type { StatusDocument } from './status-document.js';

export type RecentEventKind =
  | 'started'
  | 'reload'
  | 'reload_failed'
  | 'source_down'
  | 'source_up'
  | 'sink_down'
  | 'sink_up'
  | 'dead_letter'
  | 'drop';

export interface RecentEvent {
  /** ISO time the change was seen. */
  at: string;
  kind: RecentEventKind;
  /** "source plc-1", "sink central", "journal", "daemon". */
  subject: string;
  /** alarm: needs a look; info: back to normal or routine. */
  level: 'alarm' | 'info';
  text: string;
}

/** Entries kept; older ones fall off. */
export const RECENT_EVENTS_CAP = 50;

/** What the previous document said, reduced to what a change is read from. */
interface Seen {
  sources: Map<string, string>;
  sinks: Map<string, { state: string; dead: number; dropped: number }>;
  quarantineDropped: number;
  deadLettersDropped: number;
}

const sum = (r: Record<string, number> | undefined): number =>
  Object.values(r ?? {}).reduce((a, b) => a + b, 0);
// Entering these is no alarm: stopped on purpose, or (re)starting after a reload.
const OK_SOURCE = new Set(['connected', 'stopped', 'starting']);
const OK_SINK = new Set(['connected', 'stopped']);

export class RecentEvents {
  readonly #cap: number;
  /** Oldest first; at most `cap`. */
  readonly #list: RecentEvent[] = [];
  #seen: Seen | undefined;

  constructor(cap = RECENT_EVENTS_CAP) {
    this.#cap = cap;
  }

  add(at: number, kind: RecentEventKind, subject: string, level: RecentEvent['level'], text: string): void {
    this.#list.push({ at: new Date(at).toISOString(), kind, subject, level, text });
    if (this.#list.length > this.#cap) this.#list.splice(0, this.#list.length - this.#cap);
  }

  /** Newest first. */
  list(): RecentEvent[] {
    return this.#list.slice().reverse();
  }

  /** Compares `doc` with the previous one and records every change; the first call only sets the baseline. */
  observe(doc: StatusDocument, now: number): void {
    const prev = this.#seen;
    const seen: Seen = {
      sources: new Map(Object.entries(doc.sources).map(([id, s]) => [id, s.state])),
      sinks: new Map(
        Object.entries(doc.sinks).map(([id, k]) => [
          id,
          { state: k.state, dead: k.ledger.dead_lettered, dropped: sum(k.ledger.dropped) },
        ]),
      ),
      quarantineDropped: sum(doc.quarantine.dropped),
      deadLettersDropped: sum(doc.dead_letters.dropped),
    };
    this.#seen = seen;
    if (!prev) return;
    for (const [id, s] of Object.entries(doc.sources)) {
      const was = prev.sources.get(id);
      if (was === undefined || was === s.state) continue;
      const why = s.last_error ?? s.detail;
      if (!OK_SOURCE.has(s.state)) {
        this.add(now, 'source_down', `source ${id}`, 'alarm', `${was} → ${s.state}${why ? `: ${why}` : ''}`);
      } else if (s.state === 'connected') {
        // The first connection after start is news too, but not a reconnection.
        const text = was === 'starting' ? 'connected' : `${was} → connected (reconnected)`;
        this.add(now, 'source_up', `source ${id}`, 'info', text);
      }
    }
    for (const [id, k] of Object.entries(doc.sinks)) {
      const was = prev.sinks.get(id);
      const cur = seen.sinks.get(id);
      if (!was || !cur) continue;
      if (was.state !== k.state) {
        if (!OK_SINK.has(k.state)) {
          const why = k.last_error ?? k.config_problem;
          this.add(
            now,
            'sink_down',
            `sink ${id}`,
            'alarm',
            `${was.state} → ${k.state}${why ? `: ${why}` : ''}`,
          );
        } else if (k.state === 'connected') {
          const text =
            was.state === 'stopped'
              ? 'stopped → connected (restarted)'
              : `${was.state} → connected (delivering again)`;
          this.add(now, 'sink_up', `sink ${id}`, 'info', text);
        }
      }
      if (cur.dead > was.dead) {
        const n = cur.dead - was.dead;
        this.add(
          now,
          'dead_letter',
          `sink ${id}`,
          'alarm',
          `${n} record(s) dead-lettered${k.last_alarm ? `: ${k.last_alarm}` : ''}`,
        );
      }
      if (cur.dropped > was.dropped) {
        this.add(
          now,
          'drop',
          `sink ${id}`,
          'alarm',
          `${cur.dropped - was.dropped} record(s) dropped by the journal's bound (storage.max_bytes, when_full: ${doc.journal.when_full})`,
        );
      }
    }
    if (seen.quarantineDropped > prev.quarantineDropped) {
      this.add(
        now,
        'drop',
        'quarantine',
        'alarm',
        `${seen.quarantineDropped - prev.quarantineDropped} quarantine entries dropped by its bound (storage.quarantine)`,
      );
    }
    if (seen.deadLettersDropped > prev.deadLettersDropped) {
      this.add(
        now,
        'drop',
        'dead letters',
        'alarm',
        `${seen.deadLettersDropped - prev.deadLettersDropped} dead-letter batches dropped by their bound (storage.dead_letters)`,
      );
    }
  }
}
