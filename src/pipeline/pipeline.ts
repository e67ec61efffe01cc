// The pipeline stage between adapters and the journal: raw samples -> normalize -> validate -> canonical
// readings, and everything else -> rejects (for quarantine) with a stable reason code. Every input sample
// ends in exactly one of the two outputs; process() never throws.
import { isoUtc, type RawSample, type Reading, readingId } from '../model/records.js';
import { MAX_TS_MS, MIN_TS_MS, ZoneClock } from './local-time.js';
import { describeValue, normalize, SampleResult } from './normalize.js';
import type { ReasonCode } from './reasons.js';
import type { SpecRegistry } from './specs.js';
import { TimedReading } from './timed-reading.js';
import { Validator } from './validate.js';

export { DST_POLICY, type DstPolicy } from './local-time.js';
export { isReasonCode, REASON_CODES, REASONS, type ReasonCode } from './reasons.js';
export { type CompiledSpec, type SpecEntry, SpecRegistry } from './specs.js';
export { readingTsMs } from './timed-reading.js';

export interface Reject {
  /** The sample exactly as the adapter emitted it. */
  sample: RawSample;
  reason: ReasonCode;
  /** One sentence for people (values cut short). */
  detail: string;
}

export interface ProcessResult {
  records: Reading[];
  rejects: Reject[];
}

export interface PipelineOptions {
  gatewayId: string;
  /** IANA zone of the site, for sources that send local time. */
  timezone: string;
  /** A timestamp further than this after the ingest time is rejected as clock_skew. */
  maxFutureSkewMs: number;
  specs: SpecRegistry;
  /** Signals remembered for rate_of_change (bounded; default 100,000). */
  rateStateSize?: number;
}

const MAX_ERROR_DETAIL = 200;

/**
 * normalize then validate, per sample, in this order (the first failure is the reason):
 * sample is an object -> signal declared (unknown_signal) -> address (bad_type) -> status (bad_status) ->
 * timestamp (bad_timestamp) -> value (bad_type, not_finite, unparseable, not_integer) -> attrs (bad_type) ->
 * clock_skew -> missing_attr -> too_long -> not_in_enum -> out_of_range -> rate_of_change.
 * Local times follow DST_POLICY; bad quality is kept as quality 'bad', never a reject.
 */
export class Pipeline {
  readonly #gatewayId: string;
  readonly #zone: ZoneClock;
  readonly #validator: Validator;
  #specs: SpecRegistry;
  // Reused for every sample: normalize and validate write their outcome here instead of allocating.
  readonly #result = new SampleResult();
  // Samples of one poll usually share a timestamp; formatting it once saves a Date and a string each.
  #lastTsMs = Number.NaN;
  #lastTsIso = '';

  /** Throws a ConfigError for an unknown time zone. */
  constructor(opts: PipelineOptions) {
    this.#gatewayId = opts.gatewayId;
    this.#zone = new ZoneClock(opts.timezone);
    this.#specs = opts.specs;
    const validatorOpts: { maxFutureSkewMs: number; rateStateSize?: number } = {
      maxFutureSkewMs: opts.maxFutureSkewMs,
    };
    if (opts.rateStateSize !== undefined) validatorOpts.rateStateSize = opts.rateStateSize;
    this.#validator = new Validator(validatorOpts);
  }

  /** Swaps in the specs of a reloaded configuration; rate-of-change references are kept. */
  replaceSpecs(specs: SpecRegistry): void {
    this.#specs = specs;
  }

  /**
   * Turns `samples` from `source` into readings and rejects. `ingestMs` is when the gateway received them:
   * it times samples without a timestamp and is the reference for clock_skew.
   */
  process(
    source: { id: string; type: string },
    samples: readonly RawSample[],
    ingestMs: number,
  ): ProcessResult {
    const records: Reading[] = [];
    const rejects: Reject[] = [];
    const n = Array.isArray(samples) ? samples.length : 0;
    if (!(Number.isFinite(ingestMs) && ingestMs >= MIN_TS_MS && ingestMs <= MAX_TS_MS)) {
      // A caller bug, but the samples must still land somewhere: in quarantine, to be replayed.
      for (let i = 0; i < n; i++) {
        rejects.push({
          sample: samples[i] as RawSample,
          reason: 'internal_error',
          detail: `The ingest time ${describeValue(ingestMs)} is not a valid epoch time in milliseconds.`,
        });
      }
      return { records, rejects };
    }
    const ingestIso = isoUtc(ingestMs);
    const specs = this.#specs;
    const zone = this.#zone;
    const validator = this.#validator;
    const out = this.#result;
    const gatewayId = this.#gatewayId;
    let src: Reading['source'] | undefined;
    let srcAddress: string | undefined;
    for (let i = 0; i < n; i++) {
      const sample = samples[i] as RawSample;
      try {
        if (sample === null || typeof sample !== 'object') {
          rejects.push({
            sample,
            reason: 'bad_type',
            detail: `The sample is ${describeValue(sample)}, not an object.`,
          });
          continue;
        }
        const signal = sample.signal;
        const spec = typeof signal === 'string' ? specs.lookup(signal) : undefined;
        if (spec === undefined) {
          rejects.push({
            sample,
            reason: 'unknown_signal',
            detail: `The signal ${describeValue(signal)} is not declared by any source.`,
          });
          continue;
        }
        if (!normalize(sample, spec, zone, ingestMs, out) || !validator.check(signal, spec, ingestMs, out)) {
          rejects.push({ sample, reason: out.reason, detail: out.detail });
          continue;
        }
        const tsMs = out.tsMs;
        let ts = this.#lastTsIso;
        if (tsMs !== this.#lastTsMs) {
          ts = isoUtc(tsMs);
          this.#lastTsMs = tsMs;
          this.#lastTsIso = ts;
        }
        const value = out.value;
        const id = readingId(gatewayId, signal, ts, value);
        // Samples of one message or register block share their address: they share its source reference too.
        const address = sample.address as string; // normalize refused any other
        if (src === undefined || address !== srcAddress) {
          srcAddress = address;
          src = { id: source.id, type: source.type, address };
        }
        const unit = spec.unit;
        const attrs = out.attrs;
        // Absent unit and attrs are left out rather than set to undefined, so records compare and print cleanly.
        // The epoch ms travels with the record (not in its JSON) so later stages never parse `ts` back.
        const record = new TimedReading(id, signal, value, ts, tsMs, ingestIso, out.quality, src);
        // A 64-bit integer beyond ±(2^53-1) travels as exact decimal text, marked so receivers know it is one.
        if (out.bigInteger) record.value_type = 'integer';
        if (unit !== undefined) record.unit = unit;
        if (attrs) record.attrs = attrs;
        validator.accept(signal, spec, value, tsMs, out.quality);
        records.push(record);
      } catch (err) {
        rejects.push({ sample, reason: 'internal_error', detail: describeError(err) });
      }
    }
    return { records, rejects };
  }
}

/** Never throws, whatever was thrown (objects with throwing getters or toString included). */
function describeError(err: unknown): string {
  let text: string;
  try {
    text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    text = 'an unprintable error';
  }
  if (typeof text !== 'string') text = 'an unprintable error';
  if (text.length > MAX_ERROR_DETAIL) text = `${text.slice(0, MAX_ERROR_DETAIL)}...`;
  return `Handling the sample failed unexpectedly (${text}).`;
}
