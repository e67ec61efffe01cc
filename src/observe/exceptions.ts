// Exceptions by owner: every quarantined sample and every dead-lettered batch is noted here with its owner (the
// team that must act) and reason. /status and /metrics show, per owner, the top recurring reasons with their
// count, first and last time and one example; and, when `gateway.exception_events` is set, the window's tally
// per owner becomes one data.exception event, so a ticketing webhook gets one message per owner per window,
// never a storm. Everything here is bounded: owners, reasons per owner, signals and examples per window.

export interface ExceptionNote {
  owner: string;
  reason: string;
  at: number;
  /** The signal (quarantine) or the sink (dead letter) it is about. */
  signal?: string | undefined;
  sink?: string | undefined;
  source?: string | undefined;
  /** A short description of one case, for people (a detail line, a batch id). */
  example: string;
  /** How many cases this note stands for (a dead-lettered batch: its records). */
  count?: number;
}

export interface ReasonSummary {
  reason: string;
  count: number;
  first_seen: string;
  last_seen: string;
  example: string;
}

export interface OwnerSummary {
  total: number;
  /** The most frequent reasons, most first (at most TOP_REASONS; `other_reasons` counts the rest). */
  reasons: ReasonSummary[];
  other_reasons?: number;
}

/** One owner's window, as a data.exception event carries it. */
export interface OwnerWindow {
  owner: string;
  total: number;
  by_reason: Record<string, number>;
  /** Cases per signal (or sink), the first MAX_KEYS names; `other` counts the rest. */
  by_signal: Record<string, number>;
  examples: Array<{
    at: string;
    reason: string;
    signal?: string;
    sink?: string;
    source?: string;
    example: string;
  }>;
}

const MAX_OWNERS = 64;
const MAX_REASONS = 32;
const TOP_REASONS = 5;
const MAX_KEYS = 50;
const MAX_EXAMPLES = 3;
const OTHER = 'other';

interface ReasonState {
  count: number;
  first: number;
  last: number;
  example: string;
}

export class ExceptionBoard {
  readonly #owners = new Map<string, { total: number; reasons: Map<string, ReasonState> }>();
  #window = new Map<string, OwnerWindow>();
  readonly #onNote: ((owner: string, reason: string, count: number) => void) | undefined;

  /** `onNote` feeds /metrics (a counter by owner and reason). */
  constructor(onNote?: (owner: string, reason: string, count: number) => void) {
    this.#onNote = onNote;
  }

  note(n: ExceptionNote): void {
    const count = n.count ?? 1;
    const owner = this.#owners.has(n.owner) || this.#owners.size < MAX_OWNERS ? n.owner : OTHER;
    let o = this.#owners.get(owner);
    if (!o) {
      o = { total: 0, reasons: new Map() };
      this.#owners.set(owner, o);
    }
    o.total += count;
    const reason = o.reasons.has(n.reason) || o.reasons.size < MAX_REASONS ? n.reason : OTHER;
    const r = o.reasons.get(reason);
    if (r) {
      r.count += count;
      r.last = Math.max(r.last, n.at);
    } else {
      o.reasons.set(reason, { count, first: n.at, last: n.at, example: n.example.slice(0, 300) });
    }
    this.#onNote?.(owner, reason, count);

    let w = this.#window.get(owner);
    if (!w) {
      w = { owner, total: 0, by_reason: {}, by_signal: {}, examples: [] };
      this.#window.set(owner, w);
    }
    w.total += count;
    w.by_reason[reason] = (w.by_reason[reason] ?? 0) + count;
    const key =
      n.signal ??
      (n.sink !== undefined ? `sink ${n.sink}` : n.source !== undefined ? `source ${n.source}` : OTHER);
    const k = key in w.by_signal || Object.keys(w.by_signal).length < MAX_KEYS ? key : OTHER;
    w.by_signal[k] = (w.by_signal[k] ?? 0) + count;
    // One example per reason first, so the examples show the variety rather than the first burst.
    if (w.examples.length < MAX_EXAMPLES && !w.examples.some((e) => e.reason === reason)) {
      w.examples.push({
        at: new Date(n.at).toISOString(),
        reason,
        ...(n.signal !== undefined ? { signal: n.signal } : {}),
        ...(n.sink !== undefined ? { sink: n.sink } : {}),
        ...(n.source !== undefined ? { source: n.source } : {}),
        example: n.example.slice(0, 300),
      });
    }
  }

  /** Per owner since the start: the total and the top recurring reasons, for /status. */
  summary(): Record<string, OwnerSummary> {
    const out: Record<string, OwnerSummary> = {};
    for (const [owner, o] of [...this.#owners].sort(([a], [b]) => a.localeCompare(b))) {
      const all = [...o.reasons].sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]));
      const top = all.slice(0, TOP_REASONS);
      const rest = all.slice(TOP_REASONS).reduce((n, [, r]) => n + r.count, 0);
      out[owner] = {
        total: o.total,
        reasons: top.map(([reason, r]) => ({
          reason,
          count: r.count,
          first_seen: new Date(r.first).toISOString(),
          last_seen: new Date(r.last).toISOString(),
          example: r.example,
        })),
        ...(rest > 0 ? { other_reasons: rest } : {}),
      };
    }
    return out;
  }

  /** The window's tally per owner with exceptions, and a fresh window. */
  takeWindow(): OwnerWindow[] {
    const w = [...this.#window.values()].sort((a, b) => a.owner.localeCompare(b.owner));
    this.#window = new Map();
    return w;
  }
}
