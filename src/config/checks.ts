// Checks that need more than one field or more than one component: unique ids, unique signal names across
// sources, the naming rule, unit conversions, and references from events and sinks to declared signals.
// They run on whatever parsed, so one broken source does not hide the problems of the others.

import {
  EVENT_RECORD_TYPES,
  type EventConfig,
  eventSignalRefs,
  KNOWN_EVENT_RECORD_TYPES,
} from '../events/config.js';
import { sinkIssues } from '../forward/registry.js';
import { SpecRegistry } from '../pipeline/specs.js';
import { DEFAULT_SIGNAL_NAMING } from './kit/primitives.js';
import type { SignalDeclarations, SignalSpec } from './kit/signal.js';
import { closest, describeRule, didYouMean, quoteList, suggestSignalName } from './kit/suggest.js';
import { checkConvertible } from './kit/units.js';
import type { GatewayConfig, SinkConfig, SourceConfig } from './schema.js';
import { adapterFor } from './schema.js';

export type Path = Array<string | number>;

export interface PathIssue {
  path: Path;
  message: string;
}

export interface CheckInput {
  gateway?: GatewayConfig | undefined;
  /** Index-aligned with the file; undefined where that entry did not parse. */
  sources: Array<SourceConfig | undefined>;
  events: Array<EventConfig | undefined>;
  sinks: Array<SinkConfig | undefined>;
  /** Ids as written, also for entries that did not parse (so duplicates are still found). */
  rawIds?: { sources: Array<string | undefined>; sinks: Array<string | undefined> };
  /** Line of a path in the file, for "already used by sources.0 (line 12)". */
  lineOf(path: Path): number;
}

/** What one source declares, with where each exact signal is named in the file. */
export interface SourceSignals {
  index: number;
  source: SourceConfig;
  declarations: SignalDeclarations;
}

const where = (input: CheckInput, path: Path) => `${path.join('.')}, line ${input.lineOf(path)}`;

/**
 * Runs every cross-field check; also returns the declarations it computed (for summaries) and warnings:
 * things that are valid but probably not what the engineer meant (printed by check-config, logged at start,
 * never a reason to refuse the file). An adapter's `check` marks a warning with `severity: 'warning'`.
 */
export function crossCheck(input: CheckInput): {
  issues: PathIssue[];
  signals: SourceSignals[];
  warnings: PathIssue[];
} {
  const issues: PathIssue[] = [];
  const warnings: PathIssue[] = [];
  uniqueIds(input, 'sources', 'source', input.rawIds?.sources ?? input.sources.map((s) => s?.id), issues);
  uniqueIds(input, 'sinks', 'sink', input.rawIds?.sinks ?? input.sinks.map((s) => s?.id), issues);
  uniqueEvents(input, issues);
  const signals = declare(input, issues, warnings);
  signalNames(input, signals, issues);
  signalSpecs(signals, issues);
  pipelineSpecs(signals, issues);
  // Without every source's (or event's) declarations, "not declared" could be wrong: check only then.
  const allSources = input.sources.every((s) => s !== undefined);
  const names = declaredNames(signals);
  if (allSources) eventReferences(input, names, issues);
  sinkReferences(
    input,
    allSources ? names : undefined,
    input.events.every((e) => e !== undefined),
    issues,
  );
  input.sinks.forEach((sink, i) => {
    for (const p of sink ? sinkIssues(sink, input.gateway) : [])
      issues.push({ ...p, path: ['sinks', i, ...p.path] });
  });
  return { issues, signals, warnings };
}

function uniqueIds(
  input: CheckInput,
  section: string,
  noun: string,
  ids: ReadonlyArray<string | undefined>,
  issues: PathIssue[],
): void {
  const seen = new Map<string, number>();
  ids.forEach((id, i) => {
    if (id === undefined) return;
    const first = seen.get(id);
    if (first === undefined) {
      seen.set(id, i);
      return;
    }
    issues.push({
      path: [section, i, 'id'],
      message: `${noun} id "${id}" is already used by ${where(input, [section, first])}; every ${noun} needs its own id`,
    });
  });
}

function uniqueEvents(input: CheckInput, issues: PathIssue[]): void {
  const ids = new Map<string, number>();
  const identities = new Map<string, number>();
  input.events.forEach((e, i) => {
    if (!e) return;
    // An explicit id must be unique; a default id is "<type>:<subject>", covered by the identity check.
    const explicit = explicitEventId(input, i);
    if (explicit !== undefined) {
      const first = ids.get(explicit);
      if (first !== undefined) {
        issues.push({
          path: ['events', i, 'id'],
          message: `event id "${explicit}" is already used by ${where(input, ['events', first])}; every event needs its own id`,
        });
      } else ids.set(explicit, i);
    }
    const identity = `${e.type}\u0000${e.subject}`;
    const first = identities.get(identity);
    if (first === undefined) {
      identities.set(identity, i);
      return;
    }
    issues.push({
      path: ['events', i],
      message: `this ${e.type} event has the same subject "${e.subject}" as ${where(input, ['events', first])}, so both would produce records with the same ids; give one of them another subject`,
    });
  });
}

/** The id written in the file (the parsed event always has one, defaulted). */
function explicitEventId(input: CheckInput, i: number): string | undefined {
  const e = input.events[i];
  if (!e) return undefined;
  return e.id === `${e.type}:${e.subject}` ? undefined : e.id;
}

function declare(input: CheckInput, issues: PathIssue[], warnings: PathIssue[]): SourceSignals[] {
  const out: SourceSignals[] = [];
  input.sources.forEach((source, index) => {
    if (!source) return;
    const def = adapterFor(source.type);
    if (!def) return;
    try {
      out.push({ index, source, declarations: def.declarations(source) });
      for (const p of def.check?.(source) ?? []) {
        const severity = (p as { severity?: string }).severity;
        (severity === 'warning' ? warnings : issues).push({
          path: ['sources', index, ...p.path],
          message: p.message,
        });
      }
    } catch (err) {
      issues.push({
        path: ['sources', index],
        message: `the ${source.type} adapter could not read this source's signals: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  });
  return out;
}

/**
 * Where a signal is named inside its source: the object whose `name` is the signal, else any string equal
 * to it (template-named sources). Paths are relative to the source.
 */
export function findSignalPath(source: unknown, signal: string): Path | undefined {
  let fallback: Path | undefined;
  const walk = (node: unknown, path: Path): Path | undefined => {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const hit = walk(node[i], [...path, i]);
        if (hit) return hit;
      }
      return undefined;
    }
    if (typeof node !== 'object' || node === null) return undefined;
    const obj = node as Record<string, unknown>;
    if (obj.name === signal) return path;
    for (const [k, v] of Object.entries(obj)) {
      if (v === signal && fallback === undefined) fallback = [...path, k];
      const hit = walk(v, [...path, k]);
      if (hit) return hit;
    }
    return undefined;
  };
  return walk(source, []) ?? fallback;
}

/** `*` in a declared pattern stands for exactly one dotted segment. */
export function patternMatches(pattern: string, name: string): boolean {
  const p = pattern.split('.');
  const n = name.split('.');
  return p.length === n.length && p.every((seg, i) => seg === '*' || seg === n[i]);
}

interface Located {
  source: SourceSignals;
  path: Path;
}

/**
 * Where a pattern's spec comes from (e.g. an MQTT subscription): the first mapping in the source that
 * carries the same unit and canonical_unit; the source itself when none does.
 */
function patternPath(src: SourceSignals, spec: Omit<SignalSpec, 'name'>): Path {
  const base: Path = ['sources', src.index];
  if (spec.unit === undefined && spec.canonical_unit === undefined) return base;
  const walk = (node: unknown, path: Path): Path | undefined => {
    if (typeof node !== 'object' || node === null) return undefined;
    const obj = node as Record<string, unknown>;
    if (
      path.length > 0 &&
      !Array.isArray(node) &&
      obj.unit === spec.unit &&
      obj.canonical_unit === spec.canonical_unit
    ) {
      return path;
    }
    for (const [k, v] of Object.entries(obj)) {
      const hit = walk(v, [...path, Array.isArray(node) ? Number(k) : k]);
      if (hit) return hit;
    }
    return undefined;
  };
  return [...base, ...(walk(src.source, []) ?? [])];
}

function signalPath(src: SourceSignals, name: string): Path {
  return ['sources', src.index, ...(findSignalPath(src.source, name) ?? [])];
}

function signalNames(input: CheckInput, signals: SourceSignals[], issues: PathIssue[]): void {
  const seen = new Map<string, Located>();
  for (const src of signals) {
    for (const spec of src.declarations.exact) {
      const path = signalPath(src, spec.name);
      const first = seen.get(spec.name);
      if (first) {
        const other =
          first.source === src ? 'earlier in this source' : `by source "${first.source.source.id}"`;
        issues.push({
          path: nameKey(path, src, spec.name),
          message: `signal "${spec.name}" is already declared ${other} (${where(input, first.path)}); signal names must be unique across all sources`,
        });
      } else seen.set(spec.name, { source: src, path });
    }
  }
  // A name matching another source's pattern would be ambiguous: whose unit and rules apply?
  for (const src of signals) {
    for (const other of signals) {
      if (other === src) continue;
      for (const pat of other.declarations.patterns) {
        for (const spec of src.declarations.exact) {
          if (!patternMatches(pat.pattern, spec.name)) continue;
          issues.push({
            path: nameKey(signalPath(src, spec.name), src, spec.name),
            message: `signal "${spec.name}" also matches the pattern "${pat.pattern}" of source "${other.source.id}"; give it a name outside that pattern`,
          });
        }
      }
    }
  }
  const rule = input.gateway?.signal_naming ?? DEFAULT_SIGNAL_NAMING;
  let re: RegExp;
  try {
    re = new RegExp(rule);
  } catch {
    return; // Reported on gateway.signal_naming.
  }
  const site = input.gateway?.site.toLowerCase().replace(/[^a-z0-9_]+/g, '_') ?? 'site';
  for (const src of signals) {
    for (const spec of src.declarations.exact) {
      if (re.test(spec.name)) continue;
      const fix = suggestSignalName(spec.name, re, site);
      issues.push({
        path: nameKey(signalPath(src, spec.name), src, spec.name),
        message: `signal name "${spec.name}" does not follow gateway.signal_naming (${describeRule(rule)})${fix ? `; did you mean "${fix}"?` : ''}`,
      });
    }
    for (const pat of src.declarations.patterns) {
      // Each `*` becomes one segment at run time; test with a segment the default rule accepts.
      if (re.test(pat.pattern.replaceAll('*', 'x1'))) continue;
      issues.push({
        path: patternPath(src, pat.spec),
        message: `signal names made from the pattern "${pat.pattern}" would not follow gateway.signal_naming (${describeRule(rule)})`,
      });
    }
  }
}

/** Point at the `name:` value when the signal is an object with a name, else at what was found. */
function nameKey(path: Path, src: SourceSignals, name: string): Path {
  let node: unknown = src.source;
  for (const seg of path.slice(2)) node = (node as Record<string | number, unknown> | undefined)?.[seg];
  return (node as { name?: unknown } | undefined)?.name === name ? [...path, 'name'] : path;
}

/**
 * The pipeline compiles every spec at daemon start; whatever it would refuse (the same pattern with two rules,
 * enum values of the wrong type...) is reported here, so check-config and the daemon never disagree.
 */
function pipelineSpecs(signals: SourceSignals[], issues: PathIssue[]): void {
  const problems = SpecRegistry.check(
    signals.map((s) => ({ source: { id: s.source.id, type: s.source.type }, declarations: s.declarations })),
  );
  for (const p of problems) {
    const src = signals.find((s) => s.source.id === p.source);
    const path: Path = src
      ? ['sources', src.index, ...(findSignalPath(src.source, p.signal) ?? [])]
      : ['sources'];
    const key = path.join('.');
    // A problem the checks above already reported at this place is not repeated in other words.
    if (issues.some((i) => i.path.join('.').startsWith(key))) continue;
    issues.push({ path, message: p.message });
  }
}

function signalSpecs(signals: SourceSignals[], issues: PathIssue[]): void {
  for (const src of signals) {
    const specs: Array<{ spec: Omit<SignalSpec, 'name'>; path: Path }> = [
      ...src.declarations.exact.map((spec) => ({ spec, path: signalPath(src, spec.name) })),
      ...src.declarations.patterns.map((p) => ({ spec: p.spec, path: patternPath(src, p.spec) })),
    ];
    for (const { spec, path } of specs) {
      const at = (key: string): Path => (hasKeyAt(src, path, key) ? [...path, key] : path);
      if (spec.unit !== undefined && spec.canonical_unit !== undefined) {
        const problem = checkConvertible(spec.unit, spec.canonical_unit);
        if (problem) {
          issues.push({
            path: at('canonical_unit'),
            message: `${problem}; canonical_unit must measure the same quantity as unit (e.g. "[psi]" to "bar", "[degF]" to "Cel")`,
          });
        }
      }
      if (spec.range && spec.range[0] > spec.range[1]) {
        issues.push({
          path: at('range'),
          message: `range [${spec.range[0]}, ${spec.range[1]}] has its minimum above its maximum; write [${spec.range[1]}, ${spec.range[0]}]`,
        });
      }
      const sc = spec.scale;
      if (sc && (sc.raw === undefined) !== (sc.eng === undefined)) {
        issues.push({
          path: at('scale'),
          message: 'scale.raw and scale.eng go together: give both ranges, or use factor/offset',
        });
      }
      if (sc?.raw && (sc.factor !== undefined || sc.offset !== undefined)) {
        issues.push({ path: at('scale'), message: 'give either factor/offset or raw/eng ranges, not both' });
      }
      if (sc?.raw && sc.raw[0] === sc.raw[1]) {
        issues.push({ path: at('scale'), message: 'scale.raw must span a range: its two ends are equal' });
      }
    }
  }
}

function hasKeyAt(src: SourceSignals, path: Path, key: string): boolean {
  let node: unknown = src.source;
  for (const seg of path.slice(2)) node = (node as Record<string | number, unknown> | undefined)?.[seg];
  return typeof node === 'object' && node !== null && key in node;
}

interface DeclaredNames {
  exact: Set<string>;
  patterns: string[];
}

function declaredNames(signals: SourceSignals[]): DeclaredNames {
  return {
    exact: new Set(signals.flatMap((s) => s.declarations.exact.map((e) => e.name))),
    patterns: signals.flatMap((s) => s.declarations.patterns.map((p) => p.pattern)),
  };
}

function isDeclared(names: DeclaredNames, signal: string): boolean {
  return names.exact.has(signal) || names.patterns.some((p) => patternMatches(p, signal));
}

function notDeclared(names: DeclaredNames, signal: string): string {
  const hint = closest(signal, names.exact);
  if (hint) return `signal "${signal}" is not declared by any source; did you mean "${hint}"?`;
  const all = [...names.exact, ...names.patterns];
  return `signal "${signal}" is not declared by any source; declared signals: ${all.length ? quoteList(all, 8, 'and') : '(none)'}`;
}

function eventReferences(input: CheckInput, names: DeclaredNames, issues: PathIssue[]): void {
  input.events.forEach((e, i) => {
    if (!e) return;
    for (const ref of eventSignalRefs(e)) {
      if (!isDeclared(names, ref.signal))
        issues.push({ path: ['events', i, ...ref.path], message: notDeclared(names, ref.signal) });
    }
  });
}

function sinkReferences(
  input: CheckInput,
  names: DeclaredNames | undefined,
  allEvents: boolean,
  issues: PathIssue[],
): void {
  const produced = new Set<string>();
  for (const e of input.events) {
    if (e) for (const t of EVENT_RECORD_TYPES[e.type]) produced.add(t);
  }
  input.sinks.forEach((sink, i) => {
    if (!sink) return;
    const sel = sink.select;
    const base: Path = ['sinks', i, 'select'];
    sel.types?.forEach((t, j) => {
      if (t === 'data.exception') {
        // Made by the gateway itself, one per owner per window, when gateway.exception_events is set.
        if (input.gateway && input.gateway.exception_events === undefined) {
          issues.push({
            path: [...base, 'types', j],
            message:
              'data.exception events are sent only with gateway.exception_events set, e.g. exception_events: { window: 5m }; set it or remove "data.exception"',
          });
        }
      } else if (!KNOWN_EVENT_RECORD_TYPES.includes(t)) {
        const known = [...KNOWN_EVENT_RECORD_TYPES, 'data.exception'];
        issues.push({
          path: [...base, 'types', j],
          message: `unknown event type "${t}" (known types: ${known.join(', ')})${didYouMean(t, known)}`,
        });
      } else if (allEvents && !produced.has(t)) {
        const makers = Object.entries(EVENT_RECORD_TYPES)
          .filter(([, out]) => (out as readonly string[]).includes(t))
          .map(([k]) => k);
        issues.push({
          path: [...base, 'types', j],
          message: `no entry in events produces "${t}", so this sink would never receive it; add a ${makers.join(' or ')} event or remove "${t}"`,
        });
      }
    });
    sel.signals?.forEach((s, j) => {
      if (!names) return;
      const prefix = s.endsWith('.*') ? s.slice(0, -1) : undefined;
      const ok =
        prefix === undefined
          ? isDeclared(names, s)
          : [...names.exact, ...names.patterns].some((n) => n.startsWith(prefix)) ||
            names.patterns.some((p) => prefix.startsWith(p.slice(0, p.indexOf('*'))));
      if (!ok) {
        issues.push({
          path: [...base, 'signals', j],
          message:
            prefix === undefined
              ? notDeclared(names, s)
              : `no declared signal starts with "${prefix}"; declared signals: ${quoteList([...names.exact, ...names.patterns], 8, 'and')}`,
        });
      }
    });
    const kinds = sel.kinds;
    if (kinds && !kinds.includes('event') && sel.types) {
      issues.push({
        path: [...base, 'types'],
        message:
          'types only selects events, but kinds does not include event; add event to kinds or remove types',
      });
    }
    if (kinds && !kinds.includes('reading') && sel.signals) {
      issues.push({
        path: [...base, 'signals'],
        message:
          'signals only selects readings, but kinds does not include reading; add reading to kinds or remove signals',
      });
    }
  });
}
