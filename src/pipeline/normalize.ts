// normalize: one raw sample -> canonical value, UTC time and quality, using its precompiled spec.
// Writes into a reused result object and allocates nothing on the success path; a failure sets a reason
// code and a sentence instead. Knows no protocol: a sample's status is already a canonical quality word (the
// OPC UA adapter decodes its status codes itself).
//
// 64-bit integers (one rule for every source): an adapter hands a bigint; one within ±(2^53-1) becomes a plain
// number, one beyond becomes its exact decimal text, flagged `bigInteger` so the reading carries
// `value_type: "integer"`; range checks compare it exactly. Scaling or unit conversion of a big integer goes
// through a float (the result is a number, rounded like any converted value).
import type { Quality, RawSample, RecordValue } from '../model/records.js';
import { MAX_TS_MS, MIN_TS_MS, parseIsoTimestamp, type ZoneClock } from './local-time.js';
import type { ReasonCode } from './reasons.js';
import type { CompiledSpec } from './specs.js';

/** Reused per pipeline: the outcome of normalize (and then validate) for the sample at hand. */
export class SampleResult {
  value: RecordValue = 0;
  tsMs = 0;
  quality: Quality = 'good';
  attrs: Record<string, string> | undefined = undefined;
  /** `value` is the exact decimal text of an integer beyond ±(2^53-1) (the reading gets value_type: integer). */
  bigInteger = false;
  reason: ReasonCode = 'internal_error';
  detail = '';

  fail(reason: ReasonCode, detail: string): false {
    this.reason = reason;
    this.detail = detail;
    return false;
  }

  // The last ISO text parsed: the samples of one message or poll share their timestamp, so it is parsed once.
  #isoText: string | undefined = undefined;
  #isoZone: ZoneClock | undefined = undefined;
  #isoMs = Number.NaN;

  /** parseIsoTimestamp, remembering the last text (a pure function of text and zone). */
  isoMs(text: string, zone: ZoneClock | undefined): number {
    if (text !== this.#isoText || zone !== this.#isoZone) {
      this.#isoMs = parseIsoTimestamp(text, zone);
      this.#isoText = text;
      this.#isoZone = zone;
    }
    return this.#isoMs;
  }
}

/**
 * Significant digits kept in values that went through scaling or unit conversion. UCUM conversions run
 * through chains of factors (and affine functions for temperatures), leaving noise around 1e-13 relative
 * to the largest term: 212 [degF] -> 100.00000000000338 Cel, 32 [degF] -> 5.4e-13 Cel. Twelve digits keep
 * three orders of magnitude above that noise and remain far finer than any sensor, so 212 [degF] is
 * exactly 100 Cel, values read as people expect and compare equal downstream.
 */
export const CONVERTED_SIGNIFICANT_DIGITS = 12;

const POW10: readonly number[] = Array.from({ length: 23 }, (_, k) => 10 ** k);

/**
 * Rounds `v` to CONVERTED_SIGNIFICANT_DIGITS digits counted against max(|v|, ref), where `ref` is the
 * conversion's intercept: near zero an affine conversion's noise is absolute, not relative to the result.
 */
export function roundConverted(v: number, ref: number): number {
  const mag = Math.max(Math.abs(v), ref);
  if (mag === 0 || !Number.isFinite(mag)) return v;
  const decimals = CONVERTED_SIGNIFICANT_DIGITS - 1 - Math.floor(Math.log10(mag));
  const a = Math.abs(v);
  let r: number;
  if (decimals >= 0 && decimals <= 22) {
    // Integer / exact power of ten: the division is correctly rounded, like parsing the decimal text.
    const p = POW10[decimals] as number;
    r = Math.round(a * p) / p;
  } else if (decimals < 0 && decimals >= -22) {
    const p = POW10[-decimals] as number;
    r = Math.round(a / p) * p;
  } else {
    // Magnitudes below 1e-11 (rare): fall back to decimal text.
    r = Number(a.toPrecision(CONVERTED_SIGNIFICANT_DIGITS));
  }
  // Rounding the magnitude keeps the result symmetric around zero (Math.round rounds -2.5 to -2).
  return v < 0 ? -r : r;
}

/**
 * The quality of a sample's status: one of the three canonical words, absent meaning good. Undefined for
 * anything else (a protocol's raw code included: decoding it is the adapter's job).
 */
export function qualityOf(status: unknown): Quality | undefined {
  if (status === undefined) return 'good';
  return status === 'good' || status === 'uncertain' || status === 'bad' ? status : undefined;
}

const NUMERIC_TEXT = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
const NON_FINITE_TEXT = /^\s*[+-]?(?:nan|inf|infinity)\s*$/i;
/** Longest string read as a number; longer text is unparseable without scanning it. */
const MAX_NUMERIC_TEXT = 256;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE_BIG = -MAX_SAFE_BIG;
/** Decimal integer text, for integer signals whose text is beyond ±(2^53-1) (kept exact, not parsed to a float). */
const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/;
/** Longest integer text kept exact: 64-bit values have at most 20 digits; a little room for wider sources. */
const MAX_INTEGER_TEXT = 40;
const VALUE_TYPES: ReadonlySet<unknown> = new Set(['number', 'integer', 'boolean', 'string']);

/** A short, never-throwing description of a value for reject details (strings cut to 40 characters). */
export function describeValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return v.length > 40
        ? `${JSON.stringify(v.slice(0, 40))}... (${v.length} characters)`
        : JSON.stringify(v);
    case 'number':
    case 'boolean':
      return String(v);
    case 'bigint':
      return `${v}n`;
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'an array';
      if (v instanceof Date) return 'a Date';
      return 'an object';
  }
}

/** Normalizes `sample` against `spec` into `out`; false (with out.reason/out.detail set) when it cannot. */
export function normalize(
  sample: RawSample,
  spec: CompiledSpec,
  zone: ZoneClock,
  ingestMs: number,
  out: SampleResult,
): boolean {
  if (typeof sample.address !== 'string') {
    return out.fail('bad_type', `The address is ${describeValue(sample.address)}, not a string.`);
  }
  const quality = qualityOf(sample.status);
  if (quality === undefined) {
    return out.fail(
      'bad_status',
      `The status ${describeValue(sample.status)} is none of good, uncertain or bad.`,
    );
  }
  out.quality = quality;
  out.bigInteger = false;
  return (
    timestamp(sample, zone, ingestMs, out) &&
    coerce(sample.value, typeOf(sample, spec), spec, out) &&
    attributes(sample.attrs, out)
  );
}

/**
 * The value type a sample is read as: the signal's explicit `value_type` when the configuration has one (an
 * override), else the type the source declared for this value (OPC UA: the variable's DataType), else number.
 */
export function typeOf(sample: RawSample, spec: CompiledSpec): CompiledSpec['valueType'] {
  if (spec.spec.value_type !== undefined) return spec.valueType;
  const declared: unknown = sample.value_type;
  return VALUE_TYPES.has(declared) ? (declared as CompiledSpec['valueType']) : spec.valueType;
}

function timestamp(sample: RawSample, zone: ZoneClock, ingestMs: number, out: SampleResult): boolean {
  const ts: unknown = sample.ts;
  const unit: unknown = sample.ts_unit;
  const local: unknown = sample.ts_local;
  if (unit !== undefined && unit !== 'ms' && unit !== 's') {
    return out.fail('bad_timestamp', `The ts_unit ${describeValue(unit)} is neither "ms" nor "s".`);
  }
  if (local !== undefined && typeof local !== 'boolean') {
    return out.fail('bad_timestamp', `The ts_local flag ${describeValue(local)} is not a boolean.`);
  }
  let ms: number;
  switch (typeof ts) {
    case 'undefined':
      // The source sent no time: the reading is timed when the gateway received it.
      out.tsMs = ingestMs;
      return true;
    case 'number':
      ms = unit === 's' ? ts * 1000 : ts;
      break;
    case 'bigint':
      ms = ts >= MIN_SAFE_BIG && ts <= MAX_SAFE_BIG ? Number(ts) * (unit === 's' ? 1000 : 1) : Number.NaN;
      break;
    case 'string':
      ms = out.isoMs(ts, local === true ? zone : undefined);
      break;
    default:
      ms = ts instanceof Date ? ts.getTime() : Number.NaN;
  }
  // Sub-millisecond parts are truncated: records carry milliseconds.
  ms = Math.floor(ms);
  if (!(ms >= MIN_TS_MS && ms <= MAX_TS_MS)) {
    return out.fail(
      'bad_timestamp',
      `The timestamp ${describeValue(ts)} is not an epoch time, Date or ISO 8601 date-time within years 0000-9999.`,
    );
  }
  out.tsMs = ms;
  return true;
}

function coerce(
  raw: unknown,
  valueType: CompiledSpec['valueType'],
  spec: CompiledSpec,
  out: SampleResult,
): boolean {
  if (valueType === 'number' || valueType === 'integer') return coerceNumber(raw, valueType, spec, out);
  if (valueType === 'boolean') return coerceBoolean(raw, out);
  return coerceString(raw, out);
}

/** An integer beyond ±(2^53-1), kept exact as decimal text; scaled or converted ones go through a float. */
function bigValue(big: bigint, spec: CompiledSpec, out: SampleResult): boolean | number {
  if (spec.scaled || spec.convert) return Number(big);
  out.value = big.toString();
  out.bigInteger = true;
  return true;
}

function coerceNumber(
  raw: unknown,
  valueType: 'number' | 'integer',
  spec: CompiledSpec,
  out: SampleResult,
): boolean {
  let v: number;
  switch (typeof raw) {
    case 'number':
      v = raw;
      break;
    case 'bigint': {
      if (raw <= MAX_SAFE_BIG && raw >= MIN_SAFE_BIG) {
        v = Number(raw);
        break;
      }
      const big = bigValue(raw, spec, out);
      if (typeof big === 'boolean') return big;
      v = big;
      break;
    }
    case 'string':
      if (
        valueType === 'integer' &&
        raw.length <= MAX_INTEGER_TEXT &&
        INTEGER_TEXT.test(raw) &&
        !Number.isSafeInteger(Number(raw))
      ) {
        const big = bigValue(BigInt(raw.trim()), spec, out);
        if (typeof big === 'boolean') return big;
        v = big;
      } else if (raw.length <= MAX_NUMERIC_TEXT && NUMERIC_TEXT.test(raw)) v = Number(raw);
      else if (raw.length <= MAX_NUMERIC_TEXT && NON_FINITE_TEXT.test(raw)) v = Number.NaN;
      else return out.fail('unparseable', `The text ${describeValue(raw)} is not a decimal number.`);
      break;
    default:
      return out.fail('bad_type', `The value is ${describeValue(raw)}, not a ${valueType}.`);
  }
  if (!Number.isFinite(v))
    return out.fail('not_finite', `The value ${describeValue(raw)} is not a finite number.`);
  if (spec.scaled || spec.convert) {
    if (spec.scaled) v = v * spec.scaleFactor + spec.scaleOffset;
    if (spec.convert) v = spec.convert(v);
    if (!Number.isFinite(v)) {
      return out.fail(
        'not_finite',
        `The value ${describeValue(raw)} is not finite after scaling and conversion.`,
      );
    }
    if (!Number.isInteger(v)) v = roundConverted(v, spec.noiseRef);
  }
  // -0 and 0 are one canonical value (and one id).
  if (v === 0) v = 0;
  if (valueType === 'integer' && !Number.isSafeInteger(v)) {
    return out.fail('not_integer', `The canonical value ${v} is not a safe integer.`);
  }
  out.value = v;
  return true;
}

function coerceBoolean(raw: unknown, out: SampleResult): boolean {
  switch (typeof raw) {
    case 'boolean':
      out.value = raw;
      return true;
    case 'number':
      if (raw === 0 || raw === 1) {
        out.value = raw === 1;
        return true;
      }
      if (!Number.isFinite(raw)) return out.fail('not_finite', `The value ${raw} is not a finite number.`);
      break;
    case 'bigint':
      if (raw === 0n || raw === 1n) {
        out.value = raw === 1n;
        return true;
      }
      break;
    case 'string': {
      const t = raw.length <= 16 ? raw.trim().toLowerCase() : '';
      if (t === 'true' || t === '1') {
        out.value = true;
        return true;
      }
      if (t === 'false' || t === '0') {
        out.value = false;
        return true;
      }
      break;
    }
    default:
      return out.fail('bad_type', `The value is ${describeValue(raw)}, not a boolean.`);
  }
  return out.fail('unparseable', `The value ${describeValue(raw)} is not a boolean (true, false, 1, 0).`);
}

function coerceString(raw: unknown, out: SampleResult): boolean {
  switch (typeof raw) {
    case 'string':
      out.value = raw;
      return true;
    case 'number':
      if (!Number.isFinite(raw)) return out.fail('not_finite', `The value ${raw} is not a finite number.`);
      out.value = String(raw);
      return true;
    case 'boolean':
    case 'bigint':
      out.value = String(raw);
      return true;
    default:
      return out.fail('bad_type', `The value is ${describeValue(raw)}, not a string.`);
  }
}

function attributes(attrs: unknown, out: SampleResult): boolean {
  out.attrs = undefined;
  if (attrs === undefined) return true;
  if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs)) {
    return out.fail('bad_type', `The attributes are ${describeValue(attrs)}, not an object of strings.`);
  }
  const proto = Object.getPrototypeOf(attrs);
  if (proto !== Object.prototype && proto !== null) {
    return out.fail('bad_type', 'The attributes are not a plain object of strings.');
  }
  let any = false;
  for (const k in attrs) {
    const v = (attrs as Record<string, unknown>)[k];
    if (typeof v !== 'string') {
      return out.fail(
        'bad_type',
        `The attribute ${JSON.stringify(k.slice(0, 40))} is ${describeValue(v)}, not a string.`,
      );
    }
    any = true;
  }
  // The adapter's object is passed on as is (adapters must not mutate attrs after emit); empty means none.
  if (any) out.attrs = attrs as Record<string, string>;
  return true;
}
