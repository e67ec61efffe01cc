// Content-derived ids and timestamps of canonical records: stable for the same content, different for any
// change of what identifies a record, and independent of the hashing path.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digest128, eventId, isoUtc, readingId } from './records.js';

describe('digest128', () => {
  it('is the first 128 bits of SHA-256 in hex', () => {
    const full = createHash('sha256').update('plantgate').digest('hex');
    expect(digest128('plantgate')).toBe(full.slice(0, 32));
    expect(digest128('')).toBe('e3b0c44298fc1c149afbf4c8996fb924');
    expect(digest128('é😀')).toBe(createHash('sha256').update('é😀', 'utf8').digest('hex').slice(0, 32));
  });
});

describe('readingId', () => {
  const base = ['lyon-edge-01', 'lyon.press1.pressure', '2026-11-27T10:00:00.000Z', 6.89475729317] as const;

  it('is stable: the same content gives the same id', () => {
    expect(readingId(...base)).toBe(readingId(...base));
    expect(readingId(...base)).toMatch(/^[0-9a-f]{32}$/);
    // Pinned so an accidental change of the id scheme (which would break receivers' de-duplication) fails here.
    expect(readingId('g', 's', '1970-01-01T00:00:00.000Z', 1)).toBe(
      digest128('r\u0000g\u0000s\u00001970-01-01T00:00:00.000Z\u0000number:1'),
    );
  });

  it('changes with the gateway, the signal, the time and the value', () => {
    const ids = new Set([
      readingId(...base),
      readingId('lyon-edge-02', base[1], base[2], base[3]),
      readingId(base[0], 'lyon.press1.pressure2', base[2], base[3]),
      readingId(base[0], base[1], '2026-11-27T10:00:00.001Z', base[3]),
      readingId(base[0], base[1], base[2], 6.89475729318),
      readingId(base[0], base[1], base[2], '6.89475729317'),
      readingId(base[0], base[1], base[2], true),
      readingId(base[0], base[1], base[2], 'true'),
    ]);
    expect(ids.size).toBe(8);
  });

  it('cannot be confused by separators moved between fields', () => {
    expect(readingId('a', 'b.c', 't', 1)).not.toBe(readingId('a.b', 'c', 't', 1));
    expect(readingId('ab', 'c', 't', 1)).not.toBe(readingId('a', 'bc', 't', 1));
  });
});

describe('eventId', () => {
  it('depends on type, subject and identity only', () => {
    const a = eventId('gw', 'production.count', 'lyon.packer3', '2026-11-27T10:00:00.000Z');
    expect(eventId('gw', 'production.count', 'lyon.packer3', '2026-11-27T10:00:00.000Z')).toBe(a);
    expect(eventId('gw', 'machine.downtime', 'lyon.packer3', '2026-11-27T10:00:00.000Z')).not.toBe(a);
    expect(eventId('gw', 'production.count', 'lyon.packer4', '2026-11-27T10:00:00.000Z')).not.toBe(a);
    expect(eventId('gw', 'production.count', 'lyon.packer3', '2026-11-27T10:01:00.000Z')).not.toBe(a);
    expect(eventId('gw2', 'production.count', 'lyon.packer3', '2026-11-27T10:00:00.000Z')).not.toBe(a);
    // A reading and an event never share an id, even with look-alike fields.
    expect(eventId('g', 's', 't', 'number:1')).not.toBe(readingId('g', 's', 't', 1));
  });
});

describe('isoUtc', () => {
  it('formats UTC with milliseconds', () => {
    expect(isoUtc(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(isoUtc(Date.UTC(2026, 2, 29, 1, 30, 0, 7))).toBe('2026-03-29T01:30:00.007Z');
  });
});
