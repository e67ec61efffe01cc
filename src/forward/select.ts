// Turns a sink's `select` section into the predicate the journal uses to decide which records the sink takes.
import type { SinkSelector } from '../journal/types.js';
import type { CanonicalRecord } from '../model/records.js';
import type { SinkSelectConfig } from './kit/config.js';

/** Matches signal names against exact names and `prefix.*` patterns. */
function signalMatcher(patterns: readonly string[]): (signal: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const p of patterns) {
    if (p.endsWith('.*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  return (signal) => exact.has(signal) || prefixes.some((pre) => signal.startsWith(pre));
}

/**
 * Builds the record predicate of one sink: `kinds` filters both kinds, `types` only events, `signals` only
 * readings; absent lists take everything.
 */
export function recordSelector(select: SinkSelectConfig | undefined): (record: CanonicalRecord) => boolean {
  const kinds = select?.kinds ? new Set<string>(select.kinds) : undefined;
  const types = select?.types ? new Set<string>(select.types) : undefined;
  const signals = select?.signals ? signalMatcher(select.signals) : undefined;
  if (!kinds && !types && !signals) return () => true;
  return (r) => {
    if (kinds && !kinds.has(r.kind)) return false;
    if (r.kind === 'event') return types ? types.has(r.type) : true;
    return signals ? signals(r.signal) : true;
  };
}

/**
 * The journal's view of a sink: its id and which records it takes. A control record (`control.*`, e.g. a sink's
 * reconciliation totals) goes to the sink it names as its subject and to no other, whatever `select` says.
 */
export function sinkSelector(config: { id: string; select?: SinkSelectConfig }): SinkSelector {
  const data = recordSelector(config.select);
  return {
    id: config.id,
    select: (r) => (r.kind === 'event' && r.type.startsWith('control.') ? r.subject === config.id : data(r)),
  };
}
