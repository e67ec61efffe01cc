// Property tests of the read planner (every signal covered, no request over the limits, never more requests
// than signals, gaps bridged only up to the limit) and examples of the plan an engineer sees.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBitTable, type ModbusTable, parseRegister } from './address.js';
import { modbusSourceSchema } from './config.js';
import { describePlan, minimumRequests, type PlanItem, type PlanLimits, planReads } from './plan.js';

const tableArb = fc.constantFrom<ModbusTable>('holding', 'input', 'coil', 'discrete');

const itemsArb = fc
  .array(
    fc.record({
      table: tableArb,
      start: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 65535 })),
      count: fc.constantFrom(1, 1, 2, 4, 8, 20),
    }),
    { minLength: 0, maxLength: 80 },
  )
  .map((raw) =>
    raw.map((r, index): PlanItem => {
      const count = isBitTable(r.table) ? 1 : r.count;
      return { table: r.table, start: Math.min(r.start, 65536 - count), count, index };
    }),
  );

const limitsArb: fc.Arbitrary<PlanLimits> = fc.record({
  maxRegisters: fc.oneof(fc.constant(125), fc.integer({ min: 20, max: 125 })),
  maxBits: fc.oneof(fc.constant(2000), fc.integer({ min: 1, max: 2000 })),
  maxGap: fc.integer({ min: 0, max: 125 }),
  maxBitGap: fc.integer({ min: 0, max: 2000 }),
});

describe('planReads properties', () => {
  it('covers every item inside one request of its table', () => {
    fc.assert(
      fc.property(itemsArb, limitsArb, (items, limits) => {
        const blocks = planReads(items, limits);
        const owner = new Map<number, number>();
        blocks.forEach((b, k) => {
          for (const it of b.items) {
            expect(owner.has(it.index)).toBe(false);
            owner.set(it.index, k);
            expect(it.table).toBe(b.table);
            expect(it.start).toBeGreaterThanOrEqual(b.start);
            expect(it.start + it.count).toBeLessThanOrEqual(b.start + b.count);
          }
        });
        expect(owner.size).toBe(items.length);
      }),
      { numRuns: 400 },
    );
  });

  it('never exceeds the protocol or device limits, nor the address space', () => {
    fc.assert(
      fc.property(itemsArb, limitsArb, (items, limits) => {
        for (const b of planReads(items, limits)) {
          expect(b.count).toBeGreaterThan(0);
          expect(b.count).toBeLessThanOrEqual(
            isBitTable(b.table) ? Math.min(limits.maxBits, 2000) : Math.min(limits.maxRegisters, 125),
          );
          expect(b.start).toBeGreaterThanOrEqual(0);
          expect(b.start + b.count).toBeLessThanOrEqual(65536);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('never sends more requests than signals, nor fewer than the lower bound', () => {
    fc.assert(
      fc.property(itemsArb, limitsArb, (items, limits) => {
        const n = planReads(items, limits).length;
        expect(n).toBeLessThanOrEqual(items.length);
        expect(n).toBeGreaterThanOrEqual(minimumRequests(items, limits));
      }),
      { numRuns: 400 },
    );
  });

  it('bridges no gap larger than allowed, and reads only what its items and bridged gaps need', () => {
    fc.assert(
      fc.property(itemsArb, limitsArb, (items, limits) => {
        for (const b of planReads(items, limits)) {
          const gap = isBitTable(b.table) ? limits.maxBitGap : limits.maxGap;
          const sorted = [...b.items].sort((x, y) => x.start - y.start);
          expect((sorted[0] as PlanItem).start).toBe(b.start);
          let end = b.start;
          for (const it of sorted) {
            expect(it.start - end).toBeLessThanOrEqual(gap);
            end = Math.max(end, it.start + it.count);
          }
          expect(end).toBe(b.start + b.count);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('reaches the lower bound for a contiguous map', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 125 }), (n, limit) => {
        const items: PlanItem[] = Array.from({ length: n }, (_, i) => ({
          table: 'holding',
          start: i,
          count: 1,
          index: i,
        }));
        expect(planReads(items, { maxRegisters: limit, maxBits: 2000, maxGap: 0, maxBitGap: 0 }).length).toBe(
          Math.ceil(n / limit),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('splits where a gap is larger than max_gap and joins where it is not', () => {
    const items: PlanItem[] = [
      { table: 'holding', start: 0, count: 2, index: 0 },
      { table: 'holding', start: 10, count: 2, index: 1 }, // gap 8
      { table: 'holding', start: 40, count: 1, index: 2 }, // gap 28
    ];
    const blocks = planReads(items, { maxRegisters: 125, maxBits: 2000, maxGap: 8, maxBitGap: 0 });
    expect(blocks.map((b) => [b.start, b.count])).toEqual([
      [0, 12],
      [40, 1],
    ]);
  });
});

describe('register addressing', () => {
  it('maps Modicon numbers one-based onto protocol addresses', () => {
    expect(parseRegister('40001')).toEqual({ table: 'holding', address: 0 });
    expect(parseRegister('40101')).toEqual({ table: 'holding', address: 100 });
    expect(parseRegister('465536')).toEqual({ table: 'holding', address: 65535 });
    expect(parseRegister('30001')).toEqual({ table: 'input', address: 0 });
    expect(parseRegister('10010')).toEqual({ table: 'discrete', address: 9 });
    expect(parseRegister('00001')).toEqual({ table: 'coil', address: 0 });
    expect(parseRegister(40101)).toEqual({ table: 'holding', address: 100 });
    expect(parseRegister('Holding:7')).toEqual({ table: 'holding', address: 7 });
    expect(parseRegister('40000')).toMatch(/one-based/);
  });
});

describe('describePlan', () => {
  it('prints every request with its signals, per device', () => {
    const cfg = modbusSourceSchema.parse({
      id: 'packer-3',
      type: 'modbus',
      tcp: '10.0.2.15:502',
      poll_interval: '500ms',
      devices: [
        {
          unit_id: 1,
          name: 'press',
          signals: [
            { name: 'lyon.press1.pressure', register: 'holding:0', type: 'float32' },
            { name: 'lyon.press1.count', register: 'holding:100', type: 'uint32', word_order: 'little' },
            { name: 'lyon.press1.running', register: 'coil:0' },
          ],
        },
        { unit_id: 2, signals: [{ name: 'lyon.packer3.temp', register: '40005', type: 'int16' }] },
      ],
    });
    const text = describePlan(cfg);
    expect(text).toBe(
      [
        'Source packer-3: Modbus TCP 10.0.2.15:502, polled every 500 ms.',
        'press (unit 1): 3 requests per poll for 3 signals (lower bound 2; at most 125 registers and 2000 bits per request, gaps up to 16 registers / 256 bits bridged; timeout 1000 ms, 1 retry).',
        '  1. FC1 read coils 0..0 (1 bit):',
        '       coil:0 bool -> lyon.press1.running',
        '  2. FC3 read holding registers 0..1 (2 registers):',
        '       holding:0 float32 ABCD -> lyon.press1.pressure',
        '  3. FC3 read holding registers 100..101 (2 registers):',
        '       holding:100 uint32 CDAB -> lyon.press1.count',
        'unit 2: 1 request per poll for 1 signal (lower bound 1; at most 125 registers and 2000 bits per request, gaps up to 16 registers / 256 bits bridged; timeout 1000 ms, 1 retry).',
        '  1. FC3 read holding registers 4..4 (1 register):',
        '       holding:4 int16 -> lyon.packer3.temp',
      ].join('\n'),
    );
  });
});
