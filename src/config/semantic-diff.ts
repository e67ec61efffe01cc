// The semantic diff of two configurations (`check-config --diff`, `config diff`): what a change does in plant
// terms, not which lines moved. Works on effective configurations (./fingerprint.ts), so a file and a history entry
// compare alike. Each line is marked `affects data` (what records say, or which are produced), `affects delivery`
// (where, when and how records reach receivers) or `cosmetic` (neither).
import { EVENT_RECORD_TYPES } from '../events/config.js';
import { recordSelector } from '../forward/select.js';
import type { CanonicalRecord } from '../model/records.js';
import { fingerprintOf, type JsonValue } from './fingerprint.js';

export type Effect = 'affects data' | 'affects delivery' | 'cosmetic';
export interface DiffLine {
  effect: Effect;
  text: string;
}

type Obj = { [key: string]: JsonValue };
const isObj = (v: JsonValue | undefined): v is Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: JsonValue | undefined): Obj => (isObj(v) ? v : {});
const list = (v: JsonValue | undefined): JsonValue[] => (Array.isArray(v) ? v : []);
const same = (a: JsonValue | undefined, b: JsonValue | undefined) => JSON.stringify(a) === JSON.stringify(b);

/** Keys whose numbers are milliseconds and bytes in the effective configuration: shown as written in YAML. */
const DURATION_KEYS = new Set([
  'interval',
  'poll_interval',
  'publishing_interval',
  'sampling_interval',
  'max_wait',
  'initial',
  'max',
  'probe_interval',
  'timeout',
  'request_timeout',
  'session_timeout',
  'window',
  'lateness',
  'max_age',
  'max_future_skew',
  'commit_interval',
  'backlog_degraded_after',
  'backlog_failing_after',
  'burst',
  'keepalive',
]);
const SIZE_KEYS = new Set(['max_bytes']);

function fmtMs(ms: number): string {
  for (const [unit, f] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms >= f && ms % f === 0) return `${ms / f}${unit}`;
  return `${ms}ms`;
}

function fmtBytes(n: number): string {
  for (const [unit, f] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const)
    if (n >= f && n % f === 0) return `${n / f}${unit}`;
  return `${n} B`;
}

/** A value as an engineer would write it: `[0, 400]`, `500ms`, `2GiB`, `{ host: x, port: 1 }`. */
export function fmt(v: JsonValue | undefined, key?: string): string {
  if (v === undefined) return '(not set)';
  if (typeof v === 'number' && key !== undefined && DURATION_KEYS.has(key)) return fmtMs(v);
  if (typeof v === 'number' && key !== undefined && SIZE_KEYS.has(key)) return fmtBytes(v);
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map((x) => fmt(x)).join(', ')}]`;
  if (isObj(v)) {
    if (typeof v.secret === 'string' && Object.keys(v).length === 1) return `secret ${v.secret}`;
    return `{ ${Object.entries(v)
      .map(([k, x]) => `${k}: ${fmt(x, k)}`)
      .join(', ')} }`;
  }
  return String(v);
}

/** Leaf changes between two values: [dotted path, old, new]; objects are compared key by key. */
function leafChanges(
  a: JsonValue | undefined,
  b: JsonValue | undefined,
  path: string[] = [],
): Array<[string[], JsonValue | undefined, JsonValue | undefined]> {
  if (same(a, b)) return [];
  const aIsSecret = isObj(a) && 'secret' in a;
  if (isObj(a) && isObj(b) && !aIsSecret) {
    const out: Array<[string[], JsonValue | undefined, JsonValue | undefined]> = [];
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
      out.push(...leafChanges(a[k], b[k], [...path, k]));
    return out;
  }
  return [[path, a, b]];
}

function changeText(path: string[], a: JsonValue | undefined, b: JsonValue | undefined): string {
  const key = path[path.length - 1];
  if (a === undefined) return `${path.join('.')} set to ${fmt(b, key)}`;
  if (b === undefined) return `${path.join('.')} removed (was ${fmt(a, key)})`;
  return `${path.join('.')} ${fmt(a, key)} becomes ${fmt(b, key)}`;
}

const byId = (items: JsonValue[], key = 'id'): Map<string, Obj> =>
  new Map(items.filter(isObj).map((o) => [String(o[key]), o]));

function gatewayLines(a: Obj, b: Obj, out: DiffLine[]): void {
  const why: Record<string, [Effect, string]> = {
    id: ['affects data', 'every record id and batch id changes'],
    site: ['affects data', 'the site sent with every batch changes'],
    timezone: ['affects data', 'local source timestamps are read in another zone'],
    max_future_skew: ['affects data', 'a different set of samples is quarantined as clock_skew'],
  };
  for (const [path, x, y] of leafChanges(a, b, ['gateway'])) {
    const [effect, note] = why[path[1] as string] ?? ['cosmetic', ''];
    out.push({ effect, text: `${changeText(path, x, y)}${note ? `: ${note}` : ''}` });
  }
}

function storageLines(a: Obj, b: Obj, out: DiffLine[]): void {
  for (const [path, x, y] of leafChanges(a, b, ['storage'])) {
    const history = path[1] === 'config_history';
    const note =
      path[1] === 'dir' ? ': a new journal; what is queued in the old one is not sent from the new one' : '';
    out.push({ effect: history ? 'cosmetic' : 'affects delivery', text: `${changeText(path, x, y)}${note}` });
  }
}

const ADDRESS_KEYS = new Set(['endpoint', 'url', 'tcp', 'rtu_over_tcp', 'serial', 'unit_id', 'host', 'port']);
const INTERVAL_KEYS = new Set(['interval', 'poll_interval', 'publishing_interval', 'sampling_interval']);

function sourceLines(a: Obj[], b: Obj[], out: DiffLine[]): void {
  const before = byId(a);
  const after = byId(b);
  for (const [id, s] of before)
    if (!after.has(id))
      out.push({
        effect: 'affects data',
        text: `source ${id} removed: its ${list(s.signals).length} signals are no longer read`,
      });
  for (const [id, s] of after) {
    const old = before.get(id);
    if (!old) {
      out.push({
        effect: 'affects data',
        text: `source ${id} added (${s.type}): ${list(s.signals).length} signals`,
      });
      continue;
    }
    const { signals: _a, ...restA } = old;
    const { signals: _b, ...restB } = s;
    for (const [path, x, y] of leafChanges(restA, restB)) {
      const key = path[0] as string;
      const what = ADDRESS_KEYS.has(key)
        ? 'address'
        : INTERVAL_KEYS.has(key)
          ? 'poll interval'
          : key === 'deadband'
            ? 'deadband'
            : undefined;
      const text = what
        ? `source ${id}: ${what} (${path.join('.')}) ${fmt(x, key)} becomes ${fmt(y, key)}`
        : `source ${id}: ${changeText(path, x, y)}`;
      out.push({ effect: key === 'description' ? 'cosmetic' : 'affects data', text });
    }
  }
}

interface SignalAt {
  source: string;
  spec: Obj;
}

function signalsOf(sources: Obj[]): Map<string, SignalAt> {
  const out = new Map<string, SignalAt>();
  for (const s of sources)
    for (const sig of list(s.signals).filter(isObj))
      out.set(String(sig.name), { source: String(s.id), spec: sig });
  return out;
}

function signalLines(a: Obj[], b: Obj[], out: DiffLine[]): void {
  const before = signalsOf(a);
  const after = signalsOf(b);
  const added = [...after.keys()].filter((n) => !before.has(n));
  const removed = [...before.keys()].filter((n) => !after.has(n));
  if (added.length > 0)
    out.push({
      effect: 'affects data',
      text: `${added.length} ${added.length === 1 ? 'signal is' : 'signals are'} added: ${added.join(', ')}`,
    });
  for (const n of removed)
    out.push({
      effect: 'affects data',
      text: `signal ${n} is removed (source ${before.get(n)?.source}): it is no longer read, and its pending quarantine entries become unreplayable (a replay quarantines them again as unknown_signal)`,
    });
  for (const [name, now] of after) {
    const was = before.get(name);
    if (!was) continue;
    if (was.source !== now.source)
      out.push({
        effect: 'affects data',
        text: `signal ${name} moves from source ${was.source} to ${now.source}`,
      });
    const unitA = (was.spec.canonical_unit ?? was.spec.unit) as JsonValue | undefined;
    const unitB = (now.spec.canonical_unit ?? now.spec.unit) as JsonValue | undefined;
    if (!same(unitA, unitB))
      out.push({
        effect: 'affects data',
        text: `signal ${name} changes unit from ${fmt(unitA)} to ${fmt(unitB)}, so values change`,
      });
    for (const [path, x, y] of leafChanges(was.spec, now.spec)) {
      const key = path[0] as string;
      if (key === 'unit' || key === 'canonical_unit') {
        // The unit leaving the gateway is reported above; a changed source unit alone changes the conversion.
        if (key === 'unit' && same(unitA, unitB))
          out.push({
            effect: 'affects data',
            text: `signal ${name}: the source's unit is read as ${fmt(y)} instead of ${fmt(x)}, so the conversion changes`,
          });
        continue;
      }
      out.push({
        effect: key === 'description' ? 'cosmetic' : 'affects data',
        text: `signal ${name}: ${changeText(path, x, y)}`,
      });
    }
  }
}

function eventLines(a: Obj[], b: Obj[], out: DiffLine[]): void {
  const before = byId(a);
  const after = byId(b);
  for (const id of before.keys())
    if (!after.has(id)) out.push({ effect: 'affects data', text: `event ${id} removed: no longer derived` });
  for (const [id, e] of after) {
    const old = before.get(id);
    if (!old) {
      out.push({ effect: 'affects data', text: `event ${id} added (${e.type})` });
      continue;
    }
    for (const [path, x, y] of leafChanges(old, e))
      out.push({ effect: 'affects data', text: `event ${id}: ${changeText(path, x, y)}` });
  }
}

/** What a sink receives, as `event type` and `signal name` items, from its select and the configured streams. */
function received(sink: Obj, config: Obj): string[] {
  const select = recordSelector(obj(sink.select) as Parameters<typeof recordSelector>[0]);
  const out: string[] = [];
  const types = new Set<string>();
  for (const e of list(config.events).filter(isObj))
    for (const t of EVENT_RECORD_TYPES[e.type as keyof typeof EVENT_RECORD_TYPES] ?? []) types.add(t);
  for (const t of [...types].sort())
    if (select({ kind: 'event', type: t } as unknown as CanonicalRecord)) out.push(t);
  for (const name of [...signalsOf(list(config.sources).filter(isObj)).keys()].sort())
    if (select({ kind: 'reading', signal: name } as unknown as CanonicalRecord)) out.push(name);
  return out;
}

function sinkLines(a: Obj, b: Obj, out: DiffLine[]): void {
  const before = byId(list(a.sinks));
  const after = byId(list(b.sinks));
  for (const id of before.keys())
    if (!after.has(id))
      out.push({ effect: 'affects delivery', text: `sink ${id} removed: nothing more is sent to it` });
  for (const [id, s] of after) {
    const old = before.get(id);
    if (!old) {
      out.push({ effect: 'affects delivery', text: `sink ${id} added (${s.type}, ${fmt(s.url)})` });
      continue;
    }
    const was = received(old, a);
    const now = received(s, b);
    const stops = was.filter((x) => !now.includes(x));
    const starts = now.filter((x) => !was.includes(x));
    if (stops.length > 0)
      out.push({ effect: 'affects delivery', text: `sink ${id} stops receiving ${stops.join(', ')}` });
    if (starts.length > 0)
      out.push({ effect: 'affects delivery', text: `sink ${id} starts receiving ${starts.join(', ')}` });
    for (const [path, x, y] of leafChanges(old, s)) {
      // A selection is reported by what it changes above; one that changes nothing today is said so.
      if (path[0] === 'select') {
        if (stops.length === 0 && starts.length === 0)
          out.push({
            effect: 'cosmetic',
            text: `sink ${id}: ${changeText(path, x, y)} (it receives the same signals and events as before)`,
          });
        continue;
      }
      out.push({ effect: 'affects delivery', text: `sink ${id}: ${changeText(path, x, y)}` });
    }
  }
}

/** Every change from `a` to `b`, in the order gateway, storage, sources, signals, events, sinks, the rest. */
export function semanticDiff(a: JsonValue, b: JsonValue): DiffLine[] {
  const A = obj(a);
  const B = obj(b);
  const out: DiffLine[] = [];
  gatewayLines(obj(A.gateway), obj(B.gateway), out);
  storageLines(obj(A.storage), obj(B.storage), out);
  const sourcesA = list(A.sources).filter(isObj);
  const sourcesB = list(B.sources).filter(isObj);
  sourceLines(sourcesA, sourcesB, out);
  signalLines(sourcesA, sourcesB, out);
  eventLines(list(A.events).filter(isObj), list(B.events).filter(isObj), out);
  sinkLines(A, B, out);
  const known = new Set(['gateway', 'storage', 'sources', 'events', 'sinks']);
  for (const k of [...new Set([...Object.keys(A), ...Object.keys(B)])].sort()) {
    if (known.has(k)) continue;
    for (const [path, x, y] of leafChanges(A[k], B[k], [k]))
      out.push({ effect: 'cosmetic', text: changeText(path, x, y) });
  }
  return out;
}

/** The report check-config --diff and config diff print: a head line, then one marked line per change. */
export function formatDiff(
  a: { label: string; config: JsonValue },
  b: { label: string; config: JsonValue },
  textsDiffer = true,
): string {
  const fa = fingerprintOf(a.config);
  const fb = fingerprintOf(b.config);
  const lines = semanticDiff(a.config, b.config);
  // Every leaf is covered by a rule above; should one ever be missed, the change is still shown, never hidden.
  if (lines.length === 0 && fa !== fb)
    for (const [path, x, y] of leafChanges(a.config, b.config))
      lines.push({ effect: 'affects data', text: changeText(path, x, y) });
  const head = `${a.label} (${fa.slice(0, 19)}) -> ${b.label} (${fb.slice(0, 19)})`;
  if (lines.length === 0) {
    return textsDiffer
      ? `${head}: no effective change\n[cosmetic] comments, key order or formatting only: same fingerprint\n`
      : `${head}: no change\n`;
  }
  const count = (e: Effect) => lines.filter((l) => l.effect === e).length;
  const summary = `${count('affects data')} ${count('affects data') === 1 ? 'affects' : 'affect'} data, ${count('affects delivery')} ${count('affects delivery') === 1 ? 'affects' : 'affect'} delivery, ${count('cosmetic')} cosmetic`;
  return `${head}: ${lines.length} ${lines.length === 1 ? 'change' : 'changes'} (${summary})\n${lines
    .map((l) => `[${l.effect}] ${l.text}`)
    .join('\n')}\n`;
}
