// Source timestamps to UTC epoch ms: a strict, allocation-free ISO 8601 date-time parser, and the site
// time zone (tzdb rules through luxon's IANAZone) with an explicit rule for DST gaps and overlaps.
import { IANAZone } from 'luxon';
import { ConfigError } from '../kit/errors.js';
import { LruCache } from './lru.js';

/**
 * How a local wall-clock time that does not map to exactly one instant is resolved. This is the rule of
 * RFC 5545 (3.3.5) and of java.time's ZonedDateTime.of:
 * - gap (spring forward; Europe/Paris 2026-03-29 02:30 never happens): read the time with the offset in
 *   force BEFORE the gap, i.e. shift it forward by the gap length: 02:30 -> 03:30 CEST = 01:30Z.
 * - overlap (fall back; Europe/Paris 2026-10-25 02:30 happens twice): take the EARLIER instant, the first
 *   occurrence, still in summer time: 02:30 CEST = 00:30Z.
 * luxon shifts gaps forward too, but picks the LATER instant in overlaps (01:30Z above), so the rule is
 * enforced here from zone offsets instead of relying on a library default.
 */
export const DST_POLICY: DstPolicy = Object.freeze({ gap: 'shift_forward', overlap: 'earlier' });

export interface DstPolicy {
  /** shift_forward: use the offset before the gap (the wall time moves forward by the gap length). */
  readonly gap: 'shift_forward' | 'shift_backward';
  readonly overlap: 'earlier' | 'later';
}

/** Earliest and latest instants whose UTC ISO form has a four-digit year (0000-01-01 .. 9999-12-31). */
export const MIN_TS_MS = -62_167_219_200_000;
export const MAX_TS_MS = 253_402_300_799_999;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
// 400 Gregorian years are exactly 146097 days; used to get Date.UTC to take years 0-99 literally.
const FOUR_CENTURIES_MS = 146_097 * DAY_MS;
const OFFSET_CACHE_HOURS = 4096;

/** The site time zone: UTC offsets at instants, cached per hour, and local wall time -> UTC. */
export class ZoneClock {
  readonly zone: string;
  readonly #iana: IANAZone;
  // Intl-based offset lookups cost ~4 us each; an hour whose two ends share an offset is cached as a whole.
  readonly #hours = new LruCache<number, number>(OFFSET_CACHE_HOURS);

  constructor(zone: string) {
    if (typeof zone !== 'string' || !IANAZone.isValidZone(zone)) {
      throw new ConfigError(
        `unknown time zone "${String(zone)}"; expected an IANA zone such as "Europe/Paris"`,
      );
    }
    this.zone = zone;
    this.#iana = IANAZone.create(zone);
  }

  /** Offset from UTC (ms) in force at the instant `utcMs`; NaN outside the range the runtime supports. */
  offsetMs(utcMs: number): number {
    const hour = Math.floor(utcMs / HOUR_MS);
    const cached = this.#hours.get(hour);
    if (cached !== undefined) return cached;
    const start = hour * HOUR_MS;
    const a = this.#rawOffset(start);
    const b = this.#rawOffset(start + HOUR_MS - 1);
    // tzdb never changes an offset twice within one hour, so equal ends mean a constant offset all hour.
    if (a === b) {
      if (!Number.isNaN(a)) this.#hours.set(hour, a);
      return a;
    }
    return this.#rawOffset(utcMs);
  }

  #rawOffset(utcMs: number): number {
    return Math.round(this.#iana.offset(utcMs) * 60_000);
  }

  /**
   * The UTC instant of a local wall-clock time (given as the epoch ms it would have in UTC), resolving DST
   * gaps and overlaps by `policy`. Assumes at most one offset change within a day either side, which holds
   * for every tzdb zone.
   */
  localToUtc(wallMs: number, policy: DstPolicy = DST_POLICY): number {
    const before = this.offsetMs(wallMs - DAY_MS);
    const after = this.offsetMs(wallMs + DAY_MS);
    const tBefore = wallMs - before;
    const tAfter = wallMs - after;
    const beforeFits = this.offsetMs(tBefore) === before;
    const afterFits = before !== after && this.offsetMs(tAfter) === after;
    if (beforeFits && afterFits) {
      // Overlap: the wall time happens twice.
      return policy.overlap === 'earlier' ? Math.min(tBefore, tAfter) : Math.max(tBefore, tAfter);
    }
    if (beforeFits) return tBefore;
    if (afterFits) return tAfter;
    // Gap: the wall time never happens; shift_forward reads it with the offset in force before the gap.
    return policy.gap === 'shift_forward' ? tBefore : tAfter;
  }
}

function digit(s: string, i: number): number {
  const d = s.charCodeAt(i) - 48;
  // charCodeAt past the end gives NaN, which fails this test too.
  return d >= 0 && d <= 9 ? d : -1;
}

function two(s: string, i: number): number {
  const a = digit(s, i);
  const b = digit(s, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Longest ISO text considered (a date-time with nanoseconds and an offset is 35 characters). */
const MAX_ISO_LENGTH = 64;

/**
 * Parses an extended ISO 8601 / RFC 3339 date-time: `YYYY-MM-DD(T|t|space)hh:mm[:ss[(.|,)fraction]][Z|±hh[:mm]]`.
 * Fractions beyond milliseconds are truncated. Without an offset the time is local in `zone` when given,
 * else UTC. Returns UTC epoch ms, or NaN when the text is not such a date-time or names a day that does
 * not exist. Hand-written rather than a regex or luxon's fromISO: it allocates nothing and rejects
 * anything lenient parsers would guess at (dates without a time, week dates, 24:00, leap seconds).
 */
export function parseIsoTimestamp(s: string, zone: ZoneClock | undefined): number {
  const n = s.length;
  if (n < 16 || n > MAX_ISO_LENGTH) return Number.NaN;
  const y0 = two(s, 0);
  const y1 = two(s, 2);
  const mo = two(s, 5);
  const d = two(s, 8);
  const h = two(s, 11);
  const mi = two(s, 14);
  const sep = s.charCodeAt(10);
  if (
    y0 < 0 ||
    y1 < 0 ||
    mo < 1 ||
    mo > 12 ||
    d < 1 ||
    h < 0 ||
    h > 23 ||
    mi < 0 ||
    mi > 59 ||
    s.charCodeAt(4) !== 45 ||
    s.charCodeAt(7) !== 45 ||
    s.charCodeAt(13) !== 58 ||
    (sep !== 84 && sep !== 116 && sep !== 32)
  ) {
    return Number.NaN;
  }
  const y = y0 * 100 + y1;
  if (d > daysInMonth(y, mo)) return Number.NaN;
  let i = 16;
  let sec = 0;
  let ms = 0;
  if (s.charCodeAt(i) === 58) {
    sec = two(s, i + 1);
    if (sec < 0 || sec > 59) return Number.NaN;
    i += 3;
    const c = s.charCodeAt(i);
    if (c === 46 || c === 44) {
      i += 1;
      const start = i;
      // Only the first three digits count (truncation to ms); the rest must still be digits.
      for (let dg = digit(s, i); dg >= 0; dg = digit(s, ++i)) {
        const k = i - start;
        if (k < 3) ms += dg * (k === 0 ? 100 : k === 1 ? 10 : 1);
      }
      if (i === start) return Number.NaN;
    }
  }
  let offset = Number.NaN;
  if (i < n) {
    const c = s.charCodeAt(i);
    if (c === 90 || c === 122) {
      offset = 0;
      i += 1;
    } else if (c === 43 || c === 45) {
      const oh = two(s, i + 1);
      i += 3;
      let om = 0;
      if (i < n) {
        if (s.charCodeAt(i) === 58) i += 1;
        om = two(s, i);
        i += 2;
      }
      if (oh < 0 || oh > 23 || om < 0 || om > 59) return Number.NaN;
      offset = (c === 45 ? -1 : 1) * (oh * 60 + om) * 60_000;
    } else {
      return Number.NaN;
    }
    if (i !== n) return Number.NaN;
  }
  // Date.UTC maps years 0-99 to 1900-1999; shifting by four centuries keeps the calendar and avoids that.
  const wall =
    y < 100
      ? Date.UTC(y + 400, mo - 1, d, h, mi, sec, ms) - FOUR_CENTURIES_MS
      : Date.UTC(y, mo - 1, d, h, mi, sec, ms);
  if (!Number.isNaN(offset)) return wall - offset;
  return zone ? zone.localToUtc(wall) : wall;
}
