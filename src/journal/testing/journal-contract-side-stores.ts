// The journal contract, its side stores: quarantine and dead letters (listing, paging, bounds by size and
// age, the ledger through dead-lettering). Run by describeJournalContract inside its describe.
import { expect, it } from 'vitest';
import { expectLedgerBalanced, pollUntil, reading } from '../test-support.js';
import { all, type ContractFixture, readings } from './contract-fixture.js';

export function sideStoreContract(fx: ContractFixture): void {
  const { tempDir, start, restart, expectCountersTrue } = fx;

  it('quarantines raw samples losslessly, lists by reason with paging, and counts removals by outcome', async () => {
    const dir = tempDir();
    let j = await start({ dir });
    const at = Date.now();
    const source = { id: 'press-1', type: 'opcua' };
    const sample = {
      signal: 'lyon.press1.hydraulic_pressure',
      value: Number.NaN,
      ts: new Date(Date.UTC(2026, 2, 29, 1, 30)),
      address: 'ns=3;i=1001',
      attrs: { lot: 'L1' },
    };
    await j.quarantine([
      { at, source, reason: 'not_a_number', detail: 'NaN', sample },
      { at, source, reason: 'out_of_range', detail: 'above 400', sample: { ...sample, value: 123n ** 5n } },
      {
        at,
        source,
        reason: 'out_of_range',
        detail: 'inf',
        sample: { ...sample, value: Number.POSITIVE_INFINITY },
      },
      { at, source, reason: 'unparseable', detail: 'bad JSON', raw: '{"v":' },
    ]);
    j = await restart(j, { dir });
    const listed = await j.listQuarantine();
    expect(listed.map((e) => e.id)).toEqual([1, 2, 3, 4]);
    expect(listed[0]?.sample?.value).toBeNaN();
    expect(listed[0]?.sample?.ts).toEqual(sample.ts);
    expect(listed[1]?.sample?.value).toBe(123n ** 5n);
    expect(listed[2]?.sample?.value).toBe(Number.POSITIVE_INFINITY);
    expect(listed[3]?.raw).toBe('{"v":');
    expect(await j.getQuarantine(2)).toEqual(listed[1]);
    expect(await j.getQuarantine(99)).toBeUndefined();
    expect((await j.listQuarantine({ reason: 'out_of_range' })).map((e) => e.id)).toEqual([2, 3]);
    expect((await j.listQuarantine({ afterId: 2, limit: 1 })).map((e) => e.id)).toEqual([3]);
    expect(await j.removeQuarantine([1, 2, 77], 'replayed')).toBe(2);
    expect(await j.removeQuarantine([3], 'purged')).toBe(1);
    expect(await j.removeQuarantine([3], 'purged')).toBe(0);
    const q = j.stats().quarantine;
    expect(q).toMatchObject({ total: 4, by_reason: { not_a_number: 1, out_of_range: 2, unparseable: 1 } });
    expect(q).toMatchObject({ held: 1, held_by_reason: { unparseable: 1 }, replayed: 2, purged: 1 });
    await j.quarantine([{ at, source, reason: 'unparseable', detail: 'again', raw: 'x' }]);
    expect((await j.listQuarantine()).map((e) => e.id)).toEqual([4, 5]);
  });

  it('pages quarantine entries and dead letters with a cursor, exports them page by page, and refuses bad limits', async () => {
    const dir = tempDir();
    const j = await start({ dir }, [all]);
    const at = Date.now();
    const source = { id: 'line-2', type: 'mqtt' };
    await j.quarantine(
      Array.from({ length: 25 }, (_, i) => ({
        at,
        source,
        reason: i % 5 === 0 ? 'oversize' : 'unparseable',
        detail: `#${i}`,
        raw: `${i}`,
      })),
    );
    const ids: number[] = [];
    let after: number | undefined;
    let pages = 0;
    for (;;) {
      const page = await j.pageQuarantine({ after, limit: 10 });
      pages++;
      expect(page.items.length).toBeLessThanOrEqual(10);
      ids.push(...page.items.map((e) => e.id));
      if (page.next === undefined) break;
      after = page.next;
    }
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(pages).toBe(3);
    const oversize = await j.pageQuarantine({ limit: 100, reason: 'oversize' });
    expect(oversize.items.map((e) => e.id)).toEqual([1, 6, 11, 16, 21]);
    expect(oversize.next).toBeUndefined();
    const exported: number[] = [];
    for await (const e of j.exportQuarantine({ pageSize: 4 })) exported.push(e.id);
    expect(exported).toEqual(ids);
    const exportedOversize: number[] = [];
    for await (const e of j.exportQuarantine({ reason: 'oversize', pageSize: 2 }))
      exportedOversize.push(e.id);
    expect(exportedOversize).toEqual([1, 6, 11, 16, 21]);
    for (const limit of [0, -1, 1.5, Number.NaN, 10_001, '5' as unknown as number]) {
      await expect(j.pageQuarantine({ limit }), `limit ${String(limit)}`).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(j.pageDeadLetters({ limit }), `limit ${String(limit)}`).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    await expect(j.pageQuarantine({ limit: 1, after: -3 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });

    await j.append(readings(1, 12));
    for (let i = 0; i < 6; i++) {
      const first = i * 2 + 1;
      await j.deadLetter(
        {
          batch_id: `gw:all:${first}-${first + 1}`,
          sink: 'all',
          at,
          status: 400,
          error: 'bad',
          records: [reading(first), reading(first + 1)],
        },
        first + 1,
      );
    }
    const batchIds: string[] = [];
    let dlAfter: string | undefined;
    for (;;) {
      const page = await j.pageDeadLetters({ after: dlAfter, limit: 4 });
      batchIds.push(...page.items.map((l) => l.batch_id));
      if (page.next === undefined) break;
      dlAfter = page.next;
    }
    expect(batchIds).toHaveLength(6);
    expect(new Set(batchIds).size).toBe(6);
    expect((await j.pageDeadLetters({ limit: 10, sink: 'other' })).items).toEqual([]);
    const exportedLetters: string[] = [];
    for await (const l of j.exportDeadLetters({ sink: 'all', pageSize: 1 })) exportedLetters.push(l.batch_id);
    expect(exportedLetters).toEqual(batchIds);
    expect((await j.getDeadLetter('gw:all:3-4'))?.records.length).toBe(2);
    expect(await j.getDeadLetter('gw:all:99-100')).toBeUndefined();
  });

  /** `n` quarantine entries of about `payload` bytes each, as an MQTT source quarantines oversize messages. */
  const oversize = (from: number, n: number, payload = 1000, at = Date.now()) =>
    Array.from({ length: n }, (_, i) => ({
      at,
      source: { id: 'line-2', type: 'mqtt' },
      reason: 'oversize',
      detail: `message ${from + i} is larger than max_payload`,
      raw: `${from + i}:`.padEnd(payload, 'x'),
    }));

  it('bounds the quarantine (drop_oldest): bytes stay under max_bytes, the newest are kept, drops are counted and persisted', async () => {
    const dir = tempDir();
    const bound = { maxBytes: 50_000, whenFull: 'drop_oldest' as const };
    let j = await start({ dir, quarantine: bound });
    // 400 entries of ~1 kB (400 kB) against a 50 kB bound, 10 per call and several calls per commit.
    for (let i = 0; i < 40; i += 4) {
      await Promise.all([0, 1, 2, 3].map((k) => j.quarantine(oversize((i + k) * 10 + 1, 10))));
      const q = j.stats().quarantine;
      expect(q.bytes, `after ${(i + 4) * 10} entries`).toBeLessThanOrEqual(bound.maxBytes);
    }
    let q = j.stats().quarantine;
    expect(q.held).toBeGreaterThan(30);
    expect(q.held).toBeLessThan(60);
    expect(q).toMatchObject({ total: 400, max_bytes: 50_000, when_full: 'drop_oldest' });
    expect(q.dropped?.max_bytes).toBe(400 - (q.held ?? 0));
    expect(q.held_by_reason).toEqual({ oversize: q.held });
    expect(q.dropping_since).toBeGreaterThan(0);
    // The newest entries are the ones kept.
    const ids: number[] = [];
    for await (const e of j.exportQuarantine({ pageSize: 7 })) ids.push(e.id);
    expect(ids).toHaveLength(q.held as number);
    expect(ids.at(-1)).toBe(400);
    expect(ids[0]).toBe(400 - ids.length + 1);
    await expectCountersTrue(j);

    j = await restart(j, { dir, quarantine: bound });
    const after = j.stats().quarantine;
    expect(after).toMatchObject({ total: 400, held: q.held, bytes: q.bytes, dropped: q.dropped });
    // Purging below the bound ends the episode: /status stops saying it is dropping.
    await j.quarantine(oversize(401, 5));
    expect(j.stats().quarantine.dropping_since).toBeGreaterThan(0);
    const held = [];
    for await (const e of j.exportQuarantine()) held.push(e.id);
    expect(await j.removeQuarantine(held.slice(0, 20), 'purged')).toBe(20);
    q = j.stats().quarantine;
    expect(q.dropping_since).toBeUndefined();
    expect(q.bytes).toBeLessThan(0.9 * bound.maxBytes);
    expect(q.total).toBe((q.held ?? 0) + (q.replayed ?? 0) + (q.purged ?? 0) + (q.dropped?.max_bytes ?? 0));
    await expectCountersTrue(j);
  });

  it('bounds the quarantine (drop_newest): the oldest are kept and what does not fit is refused and counted', async () => {
    const j = await start({ quarantine: { maxBytes: 20_000, whenFull: 'drop_newest' } });
    for (let i = 0; i < 10; i++) await j.quarantine(oversize(i * 10 + 1, 10));
    const q = j.stats().quarantine;
    expect(q.bytes).toBeLessThanOrEqual(20_000);
    expect(q.total).toBe(100);
    expect((q.held ?? 0) + (q.dropped?.max_bytes ?? 0)).toBe(100);
    expect(q.held).toBeGreaterThan(10);
    expect(q.dropping_since).toBeGreaterThan(0);
    const first = await j.pageQuarantine({ limit: 1 });
    expect(first.items[0]?.id).toBe(1);
    // An entry larger than the whole bound is refused under either policy, never stored.
    await j.quarantine(oversize(1000, 1, 30_000));
    expect(j.stats().quarantine.dropped?.max_bytes).toBe((q.dropped?.max_bytes ?? 0) + 1);
    await expectCountersTrue(j);
  });

  it('drops quarantine entries and dead letters older than their max_age, and keeps the younger ones', async () => {
    const dir = tempDir();
    const opts = {
      dir,
      quarantine: { maxBytes: 1e9, maxAgeMs: 2_000, whenFull: 'drop_oldest' as const },
      deadLetters: { maxBytes: 1e9, maxAgeMs: 2_000, whenFull: 'drop_oldest' as const },
    };
    const j = await start(opts, [all]);
    const old = Date.now() - 60_000;
    await j.quarantine(oversize(1, 3, 100, old));
    await j.quarantine(oversize(4, 2, 100));
    await j.append(readings(1, 6));
    await j.deadLetter(
      { batch_id: 'gw:all:1-3', sink: 'all', at: old, status: 400, error: 'bad', records: readings(1, 3) },
      3,
    );
    await j.deadLetter(
      {
        batch_id: 'gw:all:4-6',
        sink: 'all',
        at: Date.now(),
        status: 400,
        error: 'bad',
        records: readings(4, 3),
      },
      6,
    );
    await pollUntil(
      () => j.stats().quarantine.dropped?.max_age === 3 && j.stats().dead_letters.dropped?.max_age === 1,
      'the age bound to drop the old entries',
    );
    expect((await j.pageQuarantine({ limit: 10 })).items.map((e) => e.id)).toEqual([4, 5]);
    expect((await j.pageDeadLetters({ limit: 10 })).items.map((l) => l.batch_id)).toEqual(['gw:all:4-6']);
    const s = j.stats();
    expect(s.quarantine).toMatchObject({ held: 2, total: 5 });
    expect(s.quarantine.dropping_since).toBeUndefined();
    expect(s.dead_letters).toMatchObject({ batches: 1, records: 3, dropped_records: 3 });
    expect(s.sinks.all).toMatchObject({ dead_lettered: 3, dropped: { dead_letters_max_age: 3 } });
    expectLedgerBalanced(s);
    await expectCountersTrue(j);
  });

  it('bounds the dead letters: the oldest batches are dropped, their records counted dropped for the sink', async () => {
    const dir = tempDir();
    const letterOf = (first: number) => ({
      batch_id: `gw:all:${first}-${first + 1}`,
      sink: 'all',
      at: Date.now(),
      status: 400,
      error: 'rejected',
      records: [reading(first), reading(first + 1)],
    });
    // Measure one stored letter, then allow about three.
    const probe = await start({ dir: tempDir() }, [all]);
    await probe.append(readings(1, 2));
    await probe.deadLetter(letterOf(1), 2);
    const one = probe.stats().dead_letters.bytes as number;
    expect(one).toBeGreaterThan(0);
    const bound = { maxBytes: Math.floor(one * 3.5), whenFull: 'drop_oldest' as const };
    let j = await start({ dir, deadLetters: bound }, [all]);
    await j.append(readings(1, 20));
    for (let first = 1; first < 20; first += 2) await j.deadLetter(letterOf(first), first + 1);
    let s = j.stats();
    expect(s.dead_letters.bytes).toBeLessThanOrEqual(bound.maxBytes);
    expect(s.dead_letters).toMatchObject({
      batches: 3,
      records: 6,
      dropped: { max_bytes: 7 },
      dropped_records: 14,
    });
    expect(s.dead_letters.dropping_since).toBeGreaterThan(0);
    expect(s.sinks.all).toMatchObject({
      dead_lettered: 6,
      dropped: { dead_letters_max_bytes: 14 },
      queued: 0,
    });
    expectLedgerBalanced(s);
    expect((await j.pageDeadLetters({ limit: 10 })).items.map((l) => l.batch_id)).toEqual([
      'gw:all:15-16',
      'gw:all:17-18',
      'gw:all:19-20',
    ]);
    j = await restart(j, { dir, deadLetters: bound }, [all]);
    s = j.stats();
    expect(s.dead_letters).toMatchObject({ batches: 3, dropped: { max_bytes: 7 }, dropped_records: 14 });
    expectLedgerBalanced(s);
    await expectCountersTrue(j);

    // drop_newest: a full store refuses the new batch; the cursor still moves past it and its records count dropped.
    j = await restart(j, { dir, deadLetters: { ...bound, whenFull: 'drop_newest' } }, [all]);
    await j.append(readings(21, 2));
    await j.deadLetter(letterOf(21), 22);
    s = j.stats();
    expect(j.cursor('all')).toBe(22);
    expect(s.dead_letters).toMatchObject({ batches: 3, dropped: { max_bytes: 8 }, dropped_records: 16 });
    expect(await j.getDeadLetter('gw:all:21-22')).toBeUndefined();
    expectLedgerBalanced(s);
    await expectCountersTrue(j);
  });

  it('dead-letters a batch, moves the cursor past it, and keeps the ledger exact through delivered and purged', async () => {
    const dir = tempDir();
    let j = await start({ dir }, [all]);
    await j.append(readings(1, 10));
    const batch = await j.read('all', 0, 4, 1e9);
    const letter = {
      batch_id: 'gw:all:1-4',
      sink: 'all',
      at: Date.now(),
      status: 422,
      error: 'rejected',
      records: batch.map((e) => e.record),
    };
    await j.deadLetter(letter, 4);
    expect(j.cursor('all')).toBe(4);
    expect(j.stats().sinks.all).toMatchObject({ dead_lettered: 4, queued: 6, delivered: 0 });
    expect(j.stats().dead_letters).toMatchObject({ batches: 1, records: 4 });
    await j.deadLetter({ ...letter, batch_id: 'gw:all:5-6', records: [] }, 6);
    j = await restart(j, { dir }, [all]);
    expect((await j.listDeadLetters('all')).map((l) => l.batch_id)).toEqual(['gw:all:1-4', 'gw:all:5-6']);
    expect(await j.listDeadLetters('other')).toEqual([]);
    expect((await j.listDeadLetters(undefined, 1)).length).toBe(1);
    const removed = await j.removeDeadLetter('gw:all:1-4', 'delivered');
    expect(removed?.records).toEqual(letter.records);
    expect(j.stats().sinks.all).toMatchObject({ dead_lettered: 2, delivered: 4 });
    await j.removeDeadLetter('gw:all:5-6', 'purged');
    expect(await j.removeDeadLetter('gw:all:5-6', 'purged')).toBeUndefined();
    expect(j.stats().sinks.all).toMatchObject({ dead_lettered: 0, delivered: 4, dropped: { purged: 2 } });
    expect(j.stats().dead_letters).toMatchObject({ batches: 0, records: 0, bytes: 0 });
    expectLedgerBalanced(j.stats());
  });
}
