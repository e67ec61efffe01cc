// Tests of the ISO parser and the site-zone clock: every accepted form, garbage, and the DST rule
// (gap: shift forward; overlap: earlier instant) against luxon as an independent oracle.
import { DateTime, IANAZone } from 'luxon';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../kit/errors.js';
import { DST_POLICY, MAX_TS_MS, MIN_TS_MS, parseIsoTimestamp, ZoneClock } from './local-time.js';

const paris = new ZoneClock('Europe/Paris');
const iso = (ms: number) => new Date(ms).toISOString();

describe('parseIsoTimestamp', () => {
  it.each([
    ['2026-03-29T10:15:30Z', '2026-03-29T10:15:30.000Z'],
    ['2026-03-29t10:15:30z', '2026-03-29T10:15:30.000Z'],
    ['2026-03-29 10:15:30Z', '2026-03-29T10:15:30.000Z'],
    ['2026-03-29T10:15Z', '2026-03-29T10:15:00.000Z'],
    ['2026-03-29T10:15:30.1Z', '2026-03-29T10:15:30.100Z'],
    ['2026-03-29T10:15:30,25Z', '2026-03-29T10:15:30.250Z'],
    ['2026-03-29T10:15:30.123999999Z', '2026-03-29T10:15:30.123Z'],
    ['2026-03-29T10:15:30.9999999999999999999999Z', '2026-03-29T10:15:30.999Z'],
    ['2026-03-29T12:15:30+02:00', '2026-03-29T10:15:30.000Z'],
    ['2026-03-29T12:15:30+0200', '2026-03-29T10:15:30.000Z'],
    ['2026-03-29T12:15:30+02', '2026-03-29T10:15:30.000Z'],
    ['2026-03-29T05:45:30-04:30', '2026-03-29T10:15:30.000Z'],
    ['2026-03-29T10:15:30-00:00', '2026-03-29T10:15:30.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0099-12-31T23:59:59.999Z', '0099-12-31T23:59:59.999Z'],
    ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
  ])('reads %s as %s', (text, expected) => {
    expect(iso(parseIsoTimestamp(text, undefined))).toBe(expected);
    // An explicit offset wins over the site zone.
    expect(iso(parseIsoTimestamp(text, paris))).toBe(expected);
  });

  it('reads a time without offset as UTC without a zone and as local time with one', () => {
    expect(iso(parseIsoTimestamp('2026-07-01T12:00:00', undefined))).toBe('2026-07-01T12:00:00.000Z');
    expect(iso(parseIsoTimestamp('2026-07-01T12:00:00', paris))).toBe('2026-07-01T10:00:00.000Z');
    expect(iso(parseIsoTimestamp('2026-01-15T12:00:00.5', paris))).toBe('2026-01-15T11:00:00.500Z');
  });

  it.each([
    '',
    'yesterday',
    '2026-03-29',
    '2026-03-29T10',
    '2026-03-29T1:15:30Z',
    '2026-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-00-01T00:00:00Z',
    '2026-03-00T00:00:00Z',
    '2026-03-29T24:00:00Z',
    '2026-03-29T10:60:00Z',
    '2026-03-29T10:15:60Z',
    '2026-03-29T10:15:30.Z',
    '2026-03-29T10:15:30ZZ',
    '2026-03-29T10:15:30+2',
    '2026-03-29T10:15:30+24:00',
    '2026-03-29T10:15:30+02:60',
    '2026-03-29T10:15:30 UTC',
    '2026-03-29X10:15:30Z',
    '2026/03/29T10:15:30Z',
    '+02026-03-29T10:15:30Z',
    '20260329T101530Z',
    '2026-W13-7T10:15:30Z',
    ' 2026-03-29T10:15:30Z',
    '2026-03-29T10:15:30Z ',
    `2026-03-29T10:15:30.${'1'.repeat(60)}Z`,
    '２０２６-03-29T10:15:30Z',
  ])('rejects %j', (text) => {
    expect(parseIsoTimestamp(text, undefined)).toBeNaN();
  });
});

describe('ZoneClock', () => {
  it('refuses an unknown zone with a ConfigError', () => {
    expect(() => new ZoneClock('Europe/Pariss')).toThrow(ConfigError);
  });

  it('resolves the Europe/Paris spring-forward gap by shifting forward by the gap length', () => {
    // 2026-03-29 02:30 does not exist in Paris: read as 03:30 CEST = 01:30Z.
    expect(iso(paris.localToUtc(Date.UTC(2026, 2, 29, 2, 30)))).toBe('2026-03-29T01:30:00.000Z');
    expect(iso(paris.localToUtc(Date.UTC(2026, 2, 29, 2, 0)))).toBe('2026-03-29T01:00:00.000Z');
    expect(iso(paris.localToUtc(Date.UTC(2026, 2, 29, 1, 59, 59, 999)))).toBe('2026-03-29T00:59:59.999Z');
    expect(iso(paris.localToUtc(Date.UTC(2026, 2, 29, 3, 0)))).toBe('2026-03-29T01:00:00.000Z');
  });

  it('resolves the Europe/Paris fall-back overlap to the earlier instant (still summer time)', () => {
    expect(iso(paris.localToUtc(Date.UTC(2026, 9, 25, 2, 30)))).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(paris.localToUtc(Date.UTC(2026, 9, 25, 2, 0)))).toBe('2026-10-25T00:00:00.000Z');
    expect(iso(paris.localToUtc(Date.UTC(2026, 9, 25, 3, 0)))).toBe('2026-10-25T02:00:00.000Z');
    expect(iso(paris.localToUtc(Date.UTC(2026, 9, 25, 1, 59)))).toBe('2026-10-24T23:59:00.000Z');
  });

  it('enforces the rule where luxon would pick the later instant', () => {
    expect(DST_POLICY).toEqual({ gap: 'shift_forward', overlap: 'earlier' });
    const luxon = DateTime.fromISO('2026-10-25T02:30:00', { zone: 'Europe/Paris' }).toUTC().toISO();
    const ours = iso(paris.localToUtc(Date.UTC(2026, 9, 25, 2, 30)));
    // If luxon ever changes its default this documents it; our result must not change with it.
    expect(luxon).toBe('2026-10-25T01:30:00.000Z');
    expect(ours).toBe('2026-10-25T00:30:00.000Z');
    expect(
      iso(paris.localToUtc(Date.UTC(2026, 9, 25, 2, 30), { gap: 'shift_forward', overlap: 'later' })),
    ).toBe('2026-10-25T01:30:00.000Z');
    expect(
      iso(paris.localToUtc(Date.UTC(2026, 2, 29, 2, 30), { gap: 'shift_backward', overlap: 'earlier' })),
    ).toBe('2026-03-29T00:30:00.000Z');
  });

  it('resolves New York and southern-hemisphere and half-hour DST zones by the same rule', () => {
    const ny = new ZoneClock('America/New_York');
    expect(iso(ny.localToUtc(Date.UTC(2026, 2, 8, 2, 30)))).toBe('2026-03-08T07:30:00.000Z'); // gap -> 03:30 EDT
    expect(iso(ny.localToUtc(Date.UTC(2026, 10, 1, 1, 30)))).toBe('2026-11-01T05:30:00.000Z'); // overlap -> EDT
    const lordHowe = new ZoneClock('Australia/Lord_Howe'); // DST is +30 min there
    expect(iso(lordHowe.localToUtc(Date.UTC(2026, 9, 4, 2, 15)))).toBe('2026-10-03T15:45:00.000Z'); // gap
    expect(iso(lordHowe.localToUtc(Date.UTC(2026, 3, 5, 1, 45)))).toBe('2026-04-04T14:45:00.000Z'); // overlap
  });

  it('maps local time in a zone without DST by its fixed offset, even on European DST days', () => {
    const tokyo = new ZoneClock('Asia/Tokyo');
    expect(iso(tokyo.localToUtc(Date.UTC(2026, 2, 29, 2, 30)))).toBe('2026-03-28T17:30:00.000Z');
    expect(iso(tokyo.localToUtc(Date.UTC(2026, 9, 25, 2, 30)))).toBe('2026-10-24T17:30:00.000Z');
    const utc = new ZoneClock('UTC');
    expect(iso(utc.localToUtc(Date.UTC(2026, 9, 25, 2, 30)))).toBe('2026-10-25T02:30:00.000Z');
  });

  it.each(['Europe/Paris', 'America/New_York', 'Australia/Lord_Howe', 'Australia/Sydney', 'Asia/Kolkata'])(
    'agrees with a brute-force oracle around every 2026 transition and across the year in %s',
    (zone) => {
      const clock = new ZoneClock(zone);
      const lz = IANAZone.create(zone);
      const rawOffset = (t: number) => Math.round(lz.offset(t) * 60_000);
      // Transitions of the year, found hour by hour; walls are checked every 5 minutes within a day of each
      // one, and every 7 hours elsewhere.
      const offsetsMs = new Set<number>();
      const walls: number[] = [];
      const yearStart = Date.UTC(2026, 0, 1);
      const yearEnd = Date.UTC(2027, 0, 1);
      for (let t = yearStart - 86_400_000; t < yearEnd + 86_400_000; t += 3_600_000) {
        offsetsMs.add(rawOffset(t));
        if (rawOffset(t) !== rawOffset(t + 3_600_000)) {
          for (let w = t - 86_400_000; w < t + 86_400_000; w += 5 * 60_000) walls.push(w);
        }
      }
      for (let w = yearStart; w < yearEnd; w += 7 * 3_600_000) walls.push(w);
      let gaps = 0;
      let overlaps = 0;
      let mismatches = 0;
      for (const wall of walls) {
        // Every instant whose local wall time is `wall`, found with luxon's raw offsets.
        const fits = [...offsetsMs].map((o) => wall - o).filter((t) => rawOffset(t) === wall - t);
        const got = clock.localToUtc(wall);
        let want: number;
        if (fits.length === 0) {
          gaps += 1;
          // Shift forward: read with the offset in force before the gap.
          want = wall - rawOffset(wall - 86_400_000);
        } else {
          if (new Set(fits).size > 1) overlaps += 1;
          want = Math.min(...fits);
        }
        if (got !== want) mismatches += 1;
      }
      expect(mismatches).toBe(0);
      if (zone === 'Asia/Kolkata') expect(gaps + overlaps).toBe(0);
      else {
        // One transition each way: 30 or 60 minutes of walls every 5 minutes.
        expect(gaps).toBeGreaterThanOrEqual(6);
        expect(overlaps).toBeGreaterThanOrEqual(6);
      }
    },
  );

  it('caches offsets without changing them, also across the transition hours', () => {
    const lz = IANAZone.create('Europe/Paris');
    const clock = new ZoneClock('Europe/Paris');
    const start = Date.UTC(2026, 2, 28, 22);
    for (let t = start; t < start + 6 * 3_600_000; t += 60_000) {
      expect(clock.offsetMs(t)).toBe(Math.round(lz.offset(t) * 60_000));
      expect(clock.offsetMs(t)).toBe(Math.round(lz.offset(t) * 60_000));
    }
    const fall = Date.UTC(2026, 9, 24, 22);
    for (let t = fall; t < fall + 6 * 3_600_000; t += 60_000) {
      expect(clock.offsetMs(t)).toBe(Math.round(lz.offset(t) * 60_000));
    }
  });

  it('returns NaN, not an exception, far outside the supported range', () => {
    expect(paris.localToUtc(9e15)).toBeNaN();
    expect(MIN_TS_MS).toBe(Date.parse('0000-01-01T00:00:00.000Z'));
    expect(MAX_TS_MS).toBe(Date.parse('9999-12-31T23:59:59.999Z'));
  });
});
