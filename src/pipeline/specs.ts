// The signal registry the pipeline looks every sample up in. Each declared signal (or pattern) is compiled
// once into a CompiledSpec: unit converter, linear scale and checks are precomputed, so the hot path does
// no parsing. Exact names are a Map lookup; pattern matches are remembered in a bounded LRU cache.
import type { SignalDeclarations, SignalSpec } from '../config/kit/signal.js';
import { makeConverter } from '../config/kit/units.js';
import { ConfigError } from '../kit/errors.js';
import { LruCache } from './lru.js';

export type ValueType = 'number' | 'integer' | 'boolean' | 'string';

export interface SpecSource {
  id: string;
  type: string;
}

/** One source's declarations, as the adapter definitions return them. */
export interface SpecEntry {
  source: SpecSource;
  declarations: SignalDeclarations;
}

export interface CompiledSpec {
  /** The exact signal name, or the pattern text for pattern specs. */
  readonly name: string;
  readonly isPattern: boolean;
  readonly source: Readonly<SpecSource>;
  /** The declaration it was compiled from (for docs and /status; the hot path uses the fields below). */
  readonly spec: Readonly<Omit<SignalSpec, 'name'>>;
  readonly valueType: ValueType;
  /** number or integer. */
  readonly numeric: boolean;
  /** Unit written into readings: canonical_unit, else unit, else none. */
  readonly unit: string | undefined;
  /** eng = raw * scaleFactor + scaleOffset, applied before unit conversion when `scaled`. */
  readonly scaled: boolean;
  readonly scaleFactor: number;
  readonly scaleOffset: number;
  /** Source unit -> canonical unit, built once with makeConverter; undefined when no conversion is needed. */
  readonly convert: ((v: number) => number) | undefined;
  /**
   * Magnitude the 12-significant-digit rounding is taken against: |transform(0)|, the affine intercept of
   * scale + conversion. Noise of an affine conversion scales with its largest term, not with the result
   * (32 [degF] -> 5.4e-13 Cel through the library), so digits are counted against max(|v|, noiseRef).
   */
  readonly noiseRef: number;
  readonly rangeMin: number;
  readonly rangeMax: number;
  readonly hasRange: boolean;
  readonly enumValues: ReadonlySet<string | number | boolean> | undefined;
  readonly maxRateOfChange: number | undefined;
  readonly maxLength: number | undefined;
  /** Empty when none. */
  readonly requiredAttrs: readonly string[];
  readonly expectedIntervalMs: number | undefined;
}

export interface SpecProblem {
  source: string;
  signal: string;
  message: string;
}

/** Longest signal name matched against patterns; longer names are unknown (and never enter the cache). */
export const MAX_SIGNAL_NAME_LENGTH = 1024;
export const DEFAULT_PATTERN_CACHE_SIZE = 10_000;

const NO_MATCH = null;
const REGEX_SPECIALS = /[.*+?^${}()|[\]\\]/g;
// What a wildcard stands for within one segment: anything but the dot, whitespace and control characters
// (no canonical name holds those, and a trailing newline must not slip into a record's signal).
const SEGMENT_CHAR = '[^.\\s\\x00-\\x1f\\x7f]';

// Specificity of a pattern segment, most specific first: literal, partial glob (`temp_*`), `*`, `**`.
const RANK_LITERAL = 0;
const RANK_PARTIAL = 1;
const RANK_STAR = 2;
const RANK_GLOBSTAR = 3;

interface CompiledPattern {
  re: RegExp;
  ranks: number[];
  order: number;
  spec: CompiledSpec;
}

export class SpecRegistry {
  readonly #exact: Map<string, CompiledSpec>;
  readonly #patterns: CompiledPattern[];
  readonly #cache: LruCache<string, CompiledSpec | typeof NO_MATCH>;

  /** Throws a ConfigError listing every problem when a declaration cannot be compiled. */
  constructor(entries: readonly SpecEntry[], opts: { cacheSize?: number } = {}) {
    this.#cache = new LruCache(opts.cacheSize ?? DEFAULT_PATTERN_CACHE_SIZE);
    const built = compileEntries(entries);
    if (built.problems.length > 0) {
      const lines = built.problems.map((p) => `source "${p.source}", signal "${p.signal}": ${p.message}`);
      throw new ConfigError(`Signal declarations are invalid: ${lines.join('; ')}.`);
    }
    this.#exact = built.exact;
    this.#patterns = built.patterns;
  }

  /** Every problem that would make the constructor throw, for check-config (empty when none). */
  static check(entries: readonly SpecEntry[]): SpecProblem[] {
    return compileEntries(entries).problems;
  }

  /** Exact names first, then the most specific matching pattern; undefined when the signal is unknown. */
  lookup(signal: string): CompiledSpec | undefined {
    const exact = this.#exact.get(signal);
    if (exact !== undefined) return exact;
    const patterns = this.#patterns;
    if (patterns.length === 0 || typeof signal !== 'string' || signal.length > MAX_SIGNAL_NAME_LENGTH) {
      return undefined;
    }
    const cached = this.#cache.get(signal);
    if (cached !== undefined) return cached === NO_MATCH ? undefined : cached;
    let found: CompiledSpec | undefined;
    for (const p of patterns) {
      if (p.re.test(signal)) {
        found = p.spec;
        break;
      }
    }
    // Misses are cached too, so a flood of unknown names costs one scan each and stays bounded.
    this.#cache.set(signal, found ?? NO_MATCH);
    return found;
  }

  /** Number of exact signals and patterns declared. */
  get size(): { exact: number; patterns: number } {
    return { exact: this.#exact.size, patterns: this.#patterns.length };
  }

  /** Pattern cache occupancy, for /status and tests. */
  cacheStats(): { size: number; max: number; evictions: number } {
    return { size: this.#cache.size, max: this.#cache.maxEntries, evictions: this.#cache.evictions };
  }

  /** Every exact spec and pattern spec, in lookup order (for docs and config checks). */
  specs(): CompiledSpec[] {
    return [...this.#exact.values(), ...this.#patterns.map((p) => p.spec)];
  }
}

function compileEntries(entries: readonly SpecEntry[]): {
  exact: Map<string, CompiledSpec>;
  patterns: CompiledPattern[];
  problems: SpecProblem[];
} {
  const exact = new Map<string, CompiledSpec>();
  const patterns: CompiledPattern[] = [];
  const problems: SpecProblem[] = [];
  const patternOwners = new Map<string, { source: string; text: string }>();
  const addExact = (
    source: SpecSource,
    name: string,
    spec: Omit<SignalSpec, 'name'>,
    interval: number | undefined,
  ): void => {
    const before = problems.length;
    const compiled = compileSpec(name, false, source, spec, interval, problems);
    const owner = exact.get(name);
    if (owner) {
      problems.push({
        source: source.id,
        signal: name,
        message: `is already declared by source "${owner.source.id}"; every signal name must be unique`,
      });
    } else if (problems.length === before) exact.set(name, compiled);
  };
  for (const { source, declarations } of entries) {
    const interval = declarations.expected_interval_ms;
    for (const { name, ...rest } of declarations.exact) addExact(source, name, rest, interval);
    for (const { pattern, spec } of declarations.patterns) {
      if (typeof pattern === 'string' && !pattern.includes('*')) {
        // A template without placeholders names one signal: it is looked up like an exact name.
        addExact(source, pattern, spec, interval);
        continue;
      }
      const shape = compilePattern(pattern);
      if (typeof shape === 'string') {
        problems.push({ source: source.id, signal: pattern, message: shape });
        continue;
      }
      const before = problems.length;
      const compiled = compileSpec(pattern, true, source, spec, interval, problems);
      if (problems.length !== before) continue;
      const text = JSON.stringify(spec);
      const owner = patternOwners.get(pattern);
      if (owner === undefined) {
        patternOwners.set(pattern, { source: source.id, text });
        patterns.push({ re: shape.re, ranks: shape.ranks, order: patterns.length, spec: compiled });
      } else if (owner.source !== source.id || owner.text !== text) {
        // Several subscriptions of one source may share a template; different rules for one name may not.
        problems.push({
          source: source.id,
          signal: pattern,
          message:
            owner.source === source.id
              ? 'is declared twice in this source with different rules; one name can have only one set of rules'
              : `is already declared by source "${owner.source}"; every signal pattern must belong to one source`,
        });
      }
    }
  }
  // The most specific pattern wins: compared segment by segment from the left (literal before partial glob
  // before `*` before `**`); a longer pattern wins over its own prefix; ties go to the first declared.
  patterns.sort((a, b) => compareRanks(a.ranks, b.ranks) || a.order - b.order);
  return { exact, patterns, problems };
}

function compareRanks(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return b.length - a.length;
}

/** Compiles a dotted pattern; returns a sentence when it is malformed. */
export function compilePattern(pattern: string): { re: RegExp; ranks: number[] } | string {
  if (typeof pattern !== 'string' || pattern.length === 0) return 'a pattern must be a non-empty string';
  if (pattern.length > MAX_SIGNAL_NAME_LENGTH)
    return `a pattern must be at most ${MAX_SIGNAL_NAME_LENGTH} characters`;
  const parts: string[] = [];
  const ranks: number[] = [];
  for (const seg of pattern.split('.')) {
    if (seg.length === 0)
      return 'has an empty segment; write segments separated by single dots, e.g. "lyon.*.temp"';
    if (seg === '**') {
      parts.push(`${SEGMENT_CHAR}+(?:\\.${SEGMENT_CHAR}+)*`);
      ranks.push(RANK_GLOBSTAR);
    } else if (seg.includes('**')) {
      return `segment "${seg}" mixes "**" with other characters; "**" must be a whole segment`;
    } else if (seg === '*') {
      parts.push(`${SEGMENT_CHAR}+`);
      ranks.push(RANK_STAR);
    } else if (seg.includes('*')) {
      parts.push(
        seg
          .split('*')
          .map((lit) => lit.replace(REGEX_SPECIALS, '\\$&'))
          .join(`${SEGMENT_CHAR}*`),
      );
      ranks.push(RANK_PARTIAL);
    } else {
      parts.push(seg.replace(REGEX_SPECIALS, '\\$&'));
      ranks.push(RANK_LITERAL);
    }
  }
  if (!ranks.some((r) => r !== RANK_LITERAL))
    return 'has no "*" or "**"; declare it as an exact signal instead';
  return { re: new RegExp(`^${parts.join('\\.')}$`), ranks };
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function compileSpec(
  name: string,
  isPattern: boolean,
  source: SpecSource,
  spec: Omit<SignalSpec, 'name'>,
  expectedIntervalMs: number | undefined,
  problems: SpecProblem[],
): CompiledSpec {
  const problem = (message: string) => problems.push({ source: source.id, signal: name, message });
  const valueType: ValueType = spec.value_type ?? 'number';
  const numeric = valueType === 'number' || valueType === 'integer';
  if (!numeric) {
    for (const key of ['scale', 'unit', 'canonical_unit', 'range', 'max_rate_of_change'] as const) {
      if (spec[key] !== undefined)
        problem(`"${key}" applies only to number or integer signals, not ${valueType}`);
    }
  }
  if (spec.max_length !== undefined && valueType !== 'string') {
    problem(`"max_length" applies only to string signals, not ${valueType}`);
  }

  let scaled = false;
  let scaleFactor = 1;
  let scaleOffset = 0;
  const s = spec.scale;
  if (s && numeric) {
    const linear = s.factor !== undefined || s.offset !== undefined;
    const ranged = s.raw !== undefined || s.eng !== undefined;
    if (linear && ranged) problem('scale takes either factor/offset or raw/eng ranges, not both');
    else if (ranged) {
      if (!s.raw || !s.eng) problem('scale needs both "raw" and "eng" ranges');
      else if (![...s.raw, ...s.eng].every(isFiniteNumber)) problem('scale ranges must be finite numbers');
      else if (s.raw[0] === s.raw[1]) problem('scale "raw" range must not be empty (lo equals hi)');
      else {
        scaleFactor = (s.eng[1] - s.eng[0]) / (s.raw[1] - s.raw[0]);
        scaleOffset = s.eng[0] - s.raw[0] * scaleFactor;
        scaled = true;
      }
    } else if (linear) {
      scaleFactor = s.factor ?? 1;
      scaleOffset = s.offset ?? 0;
      if (!isFiniteNumber(scaleFactor) || !isFiniteNumber(scaleOffset))
        problem('scale factor/offset must be finite');
      scaled = scaleFactor !== 1 || scaleOffset !== 0;
    }
  }

  let convert: ((v: number) => number) | undefined;
  const unit = numeric ? (spec.canonical_unit ?? spec.unit) : undefined;
  if (
    numeric &&
    spec.unit !== undefined &&
    spec.canonical_unit !== undefined &&
    spec.unit !== spec.canonical_unit
  ) {
    try {
      convert = makeConverter(spec.unit, spec.canonical_unit);
    } catch (err) {
      problem(
        `unit "${spec.unit}" cannot be converted to canonical_unit "${spec.canonical_unit}" (${(err as Error).message})`,
      );
    }
  }

  let noiseRef = 0;
  if (scaled || convert) {
    const zero = convert ? convert(scaleOffset) : scaleOffset;
    noiseRef = Number.isFinite(zero) ? Math.abs(zero) : 0;
  }

  let hasRange = false;
  let rangeMin = Number.NEGATIVE_INFINITY;
  let rangeMax = Number.POSITIVE_INFINITY;
  if (spec.range && numeric) {
    const [lo, hi] = spec.range;
    if (Number.isNaN(lo) || Number.isNaN(hi) || lo > hi) problem('range must be [min, max] with min <= max');
    else {
      hasRange = true;
      rangeMin = lo;
      rangeMax = hi;
    }
  }

  let enumValues: Set<string | number | boolean> | undefined;
  if (spec.enum) {
    const expected = numeric ? 'number' : valueType;
    for (const v of spec.enum) {
      if (typeof v !== expected)
        problem(`enum value ${JSON.stringify(v)} is not a ${expected} like the signal`);
    }
    enumValues = new Set(spec.enum);
  }

  const maxRate = spec.max_rate_of_change;
  if (maxRate !== undefined && !(maxRate > 0)) problem('max_rate_of_change must be a positive number');
  const maxLength = spec.max_length;
  if (maxLength !== undefined && !(Number.isInteger(maxLength) && maxLength > 0)) {
    problem('max_length must be a positive integer');
  }

  return Object.freeze({
    name,
    isPattern,
    source: Object.freeze({ id: source.id, type: source.type }),
    spec,
    valueType,
    numeric,
    unit,
    scaled,
    scaleFactor,
    scaleOffset,
    convert,
    noiseRef,
    rangeMin,
    rangeMax,
    hasRange,
    enumValues,
    maxRateOfChange: maxRate,
    maxLength,
    requiredAttrs: Object.freeze([...(spec.required_attrs ?? [])]),
    expectedIntervalMs,
  });
}
