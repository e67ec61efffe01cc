// The exception board: counts by owner and reason with first/last seen and one example, top reasons first, bounded
// owners and reasons, and a window per owner that is taken once (one data.exception per owner per window).
import { describe, expect, it } from 'vitest';
import { ExceptionBoard } from './exceptions.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');

describe('ExceptionBoard', () => {
  it('summarises per owner with the top reasons, first and last seen, and one example', () => {
    const metrics: string[] = [];
    const b = new ExceptionBoard((o, r, n) => metrics.push(`${o}/${r}/${n}`));
    for (let i = 0; i < 5; i++)
      b.note({
        owner: 'quality',
        reason: 'out_of_range',
        at: T0 + i,
        signal: 'lyon.p1.t',
        example: `value ${i}`,
      });
    b.note({ owner: 'quality', reason: 'not_finite', at: T0 + 10, signal: 'lyon.p1.t', example: 'NaN' });
    b.note({
      owner: 'erp-team',
      reason: 'dead_letter_422',
      at: T0 + 20,
      sink: 'erp',
      example: 'batch x',
      count: 500,
    });
    const s = b.summary();
    expect(Object.keys(s)).toEqual(['erp-team', 'quality']);
    expect(s.quality).toEqual({
      total: 6,
      reasons: [
        {
          reason: 'out_of_range',
          count: 5,
          first_seen: '2026-12-01T10:00:00.000Z',
          last_seen: '2026-12-01T10:00:00.004Z',
          example: 'value 0',
        },
        {
          reason: 'not_finite',
          count: 1,
          first_seen: '2026-12-01T10:00:00.010Z',
          last_seen: '2026-12-01T10:00:00.010Z',
          example: 'NaN',
        },
      ],
    });
    expect(s['erp-team']?.total).toBe(500);
    expect(metrics).toContain('erp-team/dead_letter_422/500');
  });

  it('takes a window once: one tally per owner, examples one per reason first, signals bounded', () => {
    const b = new ExceptionBoard();
    for (let i = 0; i < 10_000; i++)
      b.note({
        owner: 'quality',
        reason: i % 2 ? 'not_finite' : 'out_of_range',
        at: T0 + i,
        signal: `lyon.s${i % 80}`,
        example: `#${i}`,
      });
    b.note({ owner: 'maintenance', reason: 'stale', at: T0, signal: 'lyon.m.x', example: 'old' });
    const w = b.takeWindow();
    expect(w.map((x) => x.owner)).toEqual(['maintenance', 'quality']);
    const q = w[1];
    expect(q?.total).toBe(10_000);
    expect(q?.by_reason).toEqual({ out_of_range: 5000, not_finite: 5000 });
    expect(Object.keys(q?.by_signal ?? {})).toHaveLength(51); // 50 names + "other"
    expect(Object.values(q?.by_signal ?? {}).reduce((a, n) => a + n, 0)).toBe(10_000);
    expect(q?.examples.map((e) => e.reason)).toEqual(['out_of_range', 'not_finite']);
    // The next window starts empty; the summary since the start keeps counting.
    expect(b.takeWindow()).toEqual([]);
    expect(b.summary().quality?.total).toBe(10_000);
  });

  it('bounds owners and reasons: beyond them, cases are counted under "other"', () => {
    const b = new ExceptionBoard();
    for (let o = 0; o < 70; o++) b.note({ owner: `team-${o}`, reason: 'x', at: T0, example: '' });
    for (let r = 0; r < 40; r++) b.note({ owner: 'team-0', reason: `r${r}`, at: T0, example: '' });
    const s = b.summary();
    expect(Object.keys(s)).toHaveLength(65);
    expect(s.other?.total).toBe(6);
    expect(s['team-0']?.reasons).toHaveLength(5);
    expect(s['team-0']?.total).toBe(41);
    // 32 distinct reasons are kept ("x" and r0..r30); r31..r39 are counted as "other", the most frequent here.
    expect(s['team-0']?.reasons[0]).toMatchObject({ reason: 'other', count: 9 });
    expect(s['team-0']?.other_reasons).toBe(41 - 9 - 4);
  });
});
