// validate: the configured rules, applied after normalize on canonical values. A failure quarantines the
// sample with its reason. Bad quality is not a failure: the source's own verdict travels with the reading
// as quality 'bad', so consumers see it and nothing the PLC reported is hidden in quarantine.
import type { Quality } from '../model/records.js';
import { LruCache } from './lru.js';
import { describeValue, type SampleResult } from './normalize.js';
import type { CompiledSpec } from './specs.js';

/** Signals whose last accepted value is remembered for rate_of_change; beyond it the least recently seen are forgotten. */
export const DEFAULT_RATE_STATE_SIZE = 100_000;
/** The decimal text normalize makes of an integer beyond ±(2^53-1) (16 digits or more). */
const BIG_INTEGER_TEXT = /^-?\d{16,}$/;

interface RateState {
  tsMs: number;
  value: number;
}

export class Validator {
  readonly #maxFutureSkewMs: number;
  // Per signal: the last ACCEPTED value. Forgetting one (eviction of the least recently seen signals when more
  // than the bound arrive) only means its next sample is not compared.
  readonly #rate: LruCache<string, RateState>;

  constructor(opts: { maxFutureSkewMs: number; rateStateSize?: number }) {
    this.#maxFutureSkewMs = opts.maxFutureSkewMs;
    this.#rate = new LruCache(opts.rateStateSize ?? DEFAULT_RATE_STATE_SIZE);
  }

  /**
   * Checks one normalized sample; false (with out.reason/out.detail) when a rule fails. Order: clock_skew,
   * missing_attr, too_long, not_in_enum, out_of_range, rate_of_change.
   */
  check(signal: string, spec: CompiledSpec, ingestMs: number, out: SampleResult): boolean {
    const skew = out.tsMs - ingestMs;
    if (skew > this.#maxFutureSkewMs) {
      return out.fail(
        'clock_skew',
        `The timestamp is ${skew} ms after the time it was received (tolerance ${this.#maxFutureSkewMs} ms).`,
      );
    }
    const required = spec.requiredAttrs;
    for (let i = 0; i < required.length; i++) {
      const name = required[i] as string;
      const v = out.attrs?.[name];
      // Present but empty is as useless as absent (an empty work order identifies nothing).
      if (v === undefined || v === '')
        return out.fail('missing_attr', `The required attribute "${name}" is missing.`);
    }
    const value = out.value;
    if (spec.maxLength !== undefined && typeof value === 'string' && value.length > spec.maxLength) {
      // length counts UTF-16 units; only when that exceeds the limit are code points counted (they are fewer).
      const chars = codePoints(value, spec.maxLength);
      if (chars > spec.maxLength) {
        return out.fail('too_long', `The text has more than ${spec.maxLength} characters (max_length).`);
      }
    }
    if (spec.enumValues !== undefined && !spec.enumValues.has(value)) {
      return out.fail('not_in_enum', `The value ${describeValue(value)} is not one of the enum values.`);
    }
    if (typeof value === 'number' || out.bigInteger) {
      // A big integer (exact decimal text) is compared as a BigInt: comparisons between a BigInt and a number
      // are exact in JavaScript, so 2^53+1 is never taken for 2^53 as a float would be.
      const exact = out.bigInteger ? BigInt(value as string) : (value as number);
      if (spec.hasRange && (exact < spec.rangeMin || exact > spec.rangeMax)) {
        return out.fail(
          'out_of_range',
          `The value ${value}${spec.unit ? ` ${spec.unit}` : ''} is outside the range [${spec.rangeMin}, ${spec.rangeMax}].`,
        );
      }
      if (spec.maxRateOfChange !== undefined && out.quality !== 'bad') {
        const last = this.#rate.get(signal);
        // Only a newer sample is compared; older or same-instant ones (out of order, resent) have no rate.
        if (last !== undefined && out.tsMs > last.tsMs) {
          // A rate is a float anyway: big integers take part through their nearest double.
          const rate = Math.abs(Number(value) - last.value) / ((out.tsMs - last.tsMs) / 1000);
          if (rate > spec.maxRateOfChange) {
            return out.fail(
              'rate_of_change',
              `The value changed by ${formatRate(rate)}${spec.unit ? ` ${spec.unit}` : ''}/s since the last accepted value; the limit is ${spec.maxRateOfChange}/s.`,
            );
          }
        }
      }
    }
    return true;
  }

  /** Records an accepted reading as its signal's reference for rate_of_change. */
  accept(signal: string, spec: CompiledSpec, raw: unknown, tsMs: number, quality: Quality): void {
    // Bad-quality values (often a PLC's placeholder 0) are neither checked nor used as the reference.
    if (spec.maxRateOfChange === undefined || quality === 'bad') return;
    // A numeric signal's value is a number, or the decimal text of a big integer (its nearest double here).
    const value =
      typeof raw === 'number'
        ? raw
        : typeof raw === 'string' && BIG_INTEGER_TEXT.test(raw)
          ? Number(raw)
          : NaN;
    if (Number.isNaN(value)) return;
    const last = this.#rate.get(signal);
    if (last === undefined) this.#rate.set(signal, { tsMs, value });
    else if (tsMs > last.tsMs) {
      last.tsMs = tsMs;
      last.value = value;
    }
  }

  /** Number of signals with a remembered value (for /status and tests). */
  get rateStateSize(): number {
    return this.#rate.size;
  }
}

function codePoints(s: string, stopAbove: number): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate followed by a low one is one character.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i += 1;
    }
    n += 1;
    if (n > stopAbove) return n;
  }
  return n;
}

function formatRate(rate: number): string {
  return Number.isFinite(rate) ? String(Number(rate.toPrecision(6))) : String(rate);
}
