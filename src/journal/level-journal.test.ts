// LevelJournal: the shared journal contract, plus what only a LevelDB store has: a damaged store moved aside,
// a store held by another process, and the persisted last seq checked against the records.
import { execFileSync, spawn } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JournalInUseError, LevelJournal, type LevelJournalOptions } from './level-journal.js';
import { expectLedgerBalanced, pollUntil, reading, track } from './test-support.js';
import { describeJournalContract } from './testing/journal-contract.js';
import type { Journal } from './types.js';

const check = (j: Journal) => (j as LevelJournal).check();
describeJournalContract('LevelJournal', (options) => new LevelJournal(options), { check });
describeJournalContract(
  'LevelJournal (interval commits)',
  (options) => new LevelJournal({ ...options, commitPolicy: 'interval' }),
  { check },
);

describe('LevelJournal store', () => {
  const roots: string[] = [];
  const journals: LevelJournal[] = [];
  afterEach(async () => {
    for (const j of journals.splice(0)) await j.close();
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });

  function setup(): {
    dir: string;
    lines: Array<Record<string, unknown>>;
    make: (o?: Partial<LevelJournalOptions>) => LevelJournal;
  } {
    const root = mkdtempSync(join(tmpdir(), 'level-journal-'));
    roots.push(root);
    const dir = join(root, 'journal');
    const lines: Array<Record<string, unknown>> = [];
    const log = pino(
      { level: 'debug' },
      { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) },
    );
    const make = (o: Partial<LevelJournalOptions> = {}) => {
      const j = new LevelJournal({
        dir,
        maxBytes: 1024 ** 3,
        whenFull: 'block',
        commitIntervalMs: 5,
        log,
        ...o,
      });
      journals.push(j);
      return j;
    };
    return { dir, lines, make };
  }

  /** A store with records flushed into table files (reopening turns the write-ahead log into a table). */
  async function filledStore(make: () => LevelJournal): Promise<void> {
    let j = make();
    await j.open();
    await j.setSinks([{ id: 'all', select: () => true }]);
    for (let i = 0; i < 20; i++) await j.append(Array.from({ length: 100 }, (_, k) => reading(i * 100 + k)));
    await j.close();
    j = make();
    await j.open();
    await j.close();
  }

  const corruptions: Array<[string, (dir: string) => void]> = [
    ['CURRENT overwritten', (dir) => writeFileSync(join(dir, 'CURRENT'), 'garbage')],
    [
      'MANIFEST truncated',
      (dir) => {
        const m = readdirSync(dir).find((f) => f.startsWith('MANIFEST-')) as string;
        writeFileSync(join(dir, m), Buffer.alloc(64, 7));
      },
    ],
    [
      'a table file overwritten',
      (dir) => {
        for (const f of readdirSync(dir).filter((n) => n.endsWith('.ldb'))) {
          writeFileSync(join(dir, f), Buffer.alloc(statSync(join(dir, f)).size, 0x41));
        }
      },
    ],
    ['CURRENT deleted', (dir) => rmSync(join(dir, 'CURRENT'))],
  ];

  for (const [what, corrupt] of corruptions) {
    it(`moves a damaged store aside and starts fresh (${what})`, async () => {
      const { dir, lines, make } = setup();
      await filledStore(make);
      corrupt(dir);
      const j = make();
      await j.open();
      const damaged = j.stats().damaged;
      expect(damaged).toBeDefined();
      expect(damaged?.moved_to).toMatch(/journal\.damaged-\d{8}T\d{9}Z$/);
      // Nothing is deleted: the old files are all in the moved directory.
      expect(readdirSync(damaged?.moved_to as string).length).toBeGreaterThan(2);
      expect(j.stats()).toMatchObject({ records: 0, last_seq: 0 });
      const err = lines.find((l) => l.level === 50);
      expect(err?.msg).toContain(dir);
      expect(err?.msg).toContain(damaged?.moved_to as string);
      // The fresh store works, and remembers that it replaced a damaged one.
      await j.setSinks([{ id: 'all', select: () => true }]);
      await j.append([reading(1)]);
      await j.close();
      const k = make();
      await k.open();
      expect(k.stats().damaged?.moved_to).toBe(damaged?.moved_to);
      expect(k.stats().last_seq).toBe(1);
      expect(readdirSync(dirname(dir)).filter((f) => f.includes('.damaged-')).length).toBe(1);
    });
  }

  it('attaches one abort listener per signal however many appends and waits share it (no MaxListenersExceededWarning)', async () => {
    const { make } = setup();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      // A tiny block-mode journal: once full, every further append stays pending on the shared signal.
      const j = make({ maxBytes: 40 * 300 });
      await j.open();
      await j.setSinks([{ id: 'all', select: () => true }]);
      const source = new AbortController();
      await j.append(
        Array.from({ length: 30 }, (_, k) => reading(k)),
        source.signal,
      );
      const pending = Array.from({ length: 50 }, (_, k) =>
        track(j.append([reading(100 + k)], source.signal)),
      );
      const forwarder = new AbortController();
      const waits = Array.from({ length: 20 }, () => track(j.waitFor(1e9, forwarder.signal, 'all')));
      await pollUntil(() => j.stats().blocked, 'the journal to block');
      expect(getEventListeners(source.signal, 'abort')).toHaveLength(1);
      expect(getEventListeners(forwarder.signal, 'abort')).toHaveLength(1);
      // Appends taken into a commit detach: acknowledging frees room, some pending appends commit.
      await j.ack('all', 30, 30);
      await pollUntil(
        () => pending.filter((p) => p.settled()).length >= 10,
        'appends to commit after the ack',
      );
      expect(getEventListeners(source.signal, 'abort')).toHaveLength(1);
      source.abort();
      forwarder.abort();
      const outcomes = await Promise.allSettled(pending.map((p) => p.promise));
      const aborted = outcomes.filter((o) => o.status === 'rejected');
      expect(aborted.length).toBeGreaterThan(0);
      for (const o of aborted) expect((o as PromiseRejectedResult).reason).toMatchObject({ code: 'ABORTED' });
      await Promise.all(waits.map((w) => w.promise));
      expect(getEventListeners(source.signal, 'abort')).toHaveLength(0);
      expect(getEventListeners(forwarder.signal, 'abort')).toHaveLength(0);
      // A long-lived signal that never aborts keeps no listener once its appends settled.
      const s = j.stats();
      await j.ack('all', s.last_seq, s.sinks.all?.queued ?? 0);
      const live = new AbortController();
      await Promise.all(Array.from({ length: 30 }, (_, k) => j.append([reading(500 + k)], live.signal)));
      expect(getEventListeners(live.signal, 'abort')).toHaveLength(0);
      expectLedgerBalanced(j.stats());
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });

  it('keeps the state directory 0700 and every file 0600 under umask 022, also files LevelDB creates while open', async () => {
    const root = mkdtempSync(join(tmpdir(), 'level-journal-modes-'));
    roots.push(root);
    const state = join(root, 'state');
    const dir = join(state, 'journal');
    const modes = (d: string) =>
      Object.fromEntries(readdirSync(d).map((f) => [f, (statSync(join(d, f)).mode & 0o777).toString(8)]));
    const old = process.umask(0o022);
    try {
      const j = new LevelJournal({ dir, maxBytes: 1024 ** 3, whenFull: 'block', commitIntervalMs: 5 });
      journals.push(j);
      await j.open();
      await j.setSinks([{ id: 'all', select: () => true }]);
      // About 6 MB: more than LevelDB's 4 MiB write buffer, so it writes a table file while the journal is open.
      for (let i = 0; i < 20; i++)
        await j.append(Array.from({ length: 1000 }, (_, k) => reading(i * 1000 + k)));
      await pollUntil(() => readdirSync(dir).some((f) => f.endsWith('.ldb')), 'a table file', 30_000);
      expect((statSync(state).mode & 0o777).toString(8)).toBe('700');
      expect((statSync(dir).mode & 0o777).toString(8)).toBe('700');
      const open = modes(dir);
      expect(Object.keys(open)).toEqual(expect.arrayContaining(['CURRENT', 'LOCK', 'plantgate-owner.json']));
      for (const [f, m] of Object.entries(open))
        expect(m, `${f} while open: ${JSON.stringify(open)}`).toBe('600');
      await j.close();
      // The umask is the caller's again once no journal is open.
      expect(process.umask(0o022).toString(8)).toBe('22');

      // A store an older version left readable is made private at the next open.
      chmodSync(dir, 0o755);
      for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
      const k = new LevelJournal({ dir, maxBytes: 1024 ** 3, whenFull: 'block', commitIntervalMs: 5 });
      journals.push(k);
      await k.open();
      expect((statSync(dir).mode & 0o777).toString(8)).toBe('700');
      for (const [f, m] of Object.entries(modes(dir))) expect(m, `${f} after reopen`).toBe('600');
      expect(k.stats().last_seq).toBe(20_000);
      await k.close();
    } finally {
      process.umask(old);
    }
  });

  it('counts the quarantine and dead letters of a store written before they were bounded, once, at open', async () => {
    const { dir, lines, make } = setup();
    let j = make();
    await j.open();
    await j.setSinks([{ id: 'all', select: () => true }]);
    const at = Date.now();
    await j.quarantine(
      Array.from({ length: 5 }, (_, i) => ({
        at,
        source: { id: 'line-2', type: 'mqtt' },
        reason: 'oversize',
        detail: 'too big',
        raw: 'x'.repeat(100 * i),
      })),
    );
    await j.append(Array.from({ length: 4 }, (_, k) => reading(k)));
    for (const first of [1, 3]) {
      await j.deadLetter(
        {
          batch_id: `gw:all:${first}-${first + 1}`,
          sink: 'all',
          at: at + first,
          status: 400,
          error: 'bad',
          records: [reading(first - 1), reading(first)],
        },
        first + 1,
      );
    }
    const before = j.stats();
    await j.close();
    // Turn it into what an older version wrote: no byte counters, no time index.
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open();
    const meta = JSON.parse((await db.get('m!journal')) as string) as Record<string, unknown>;
    for (const k of [
      'kept_v',
      'q_bytes',
      'q_low',
      'q_dropped',
      'dl_bytes',
      'dl_dropped',
      'dl_dropped_records',
    ])
      delete meta[k];
    await db.put('m!journal', JSON.stringify(meta));
    await db.clear({ gte: 't!', lt: 't"' });
    await db.close();

    j = make();
    await j.open();
    await j.setSinks([{ id: 'all', select: () => true }]);
    const after = j.stats();
    expect(after.quarantine.bytes).toBe(before.quarantine.bytes);
    expect(after.dead_letters.bytes).toBe(before.dead_letters.bytes);
    expect(after.quarantine.dropped).toEqual({});
    expect((await j.pageDeadLetters({ limit: 10 })).items.map((l) => l.batch_id)).toEqual([
      'gw:all:1-2',
      'gw:all:3-4',
    ]);
    const c = await j.check();
    expect(c.counted_quarantine_bytes).toBe(c.quarantine_bytes);
    expect(c.counted_dead_letter_bytes).toBe(c.dead_letter_bytes);
    expect(lines.some((l) => String(l.msg).includes('older version'))).toBe(true);
  });

  it('moves the store aside at the next open after damage was found at runtime', async () => {
    const { dir, make } = setup();
    await filledStore(make);
    const j = make();
    await j.open();
    await j.setSinks([{ id: 'all', select: () => true }]);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ldb'))) {
      writeFileSync(join(dir, f), Buffer.alloc(statSync(join(dir, f)).size, 0x41));
    }
    // Reads hit the damaged table (open had already read what it needed from the memtable and caches).
    const failed = await j.read('all', 0, 5000, 1e9).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failed).toMatchObject({ code: 'JOURNAL_DAMAGED' });
    expect(existsSync(join(dir, 'plantgate-damaged.json'))).toBe(true);
    await j.close();
    const k = make();
    await k.open();
    expect(k.stats().damaged?.error).toContain('previous run');
    expect(k.stats().records).toBe(0);
  });

  it('says the store is in use (and by whom) instead of calling it damaged when another process holds it', async () => {
    const { dir, make } = setup();
    const j = make();
    await j.open();
    await expect(make().open()).rejects.toThrow(/in use by this process/);
    await expect(make().open()).rejects.toBeInstanceOf(JournalInUseError);
    await j.close();
    // Another process holding the LevelDB lock.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const {ClassicLevel}=require('classic-level');const fs=require('fs');const db=new ClassicLevel(${JSON.stringify(dir)});` +
          `db.open().then(()=>{fs.writeFileSync(${JSON.stringify(join(dir, 'plantgate-owner.json'))},JSON.stringify({pid:process.pid,host:'h',since:'t'}));console.log('held')});setInterval(()=>{},1000);`,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => (d.toString().includes('held') ? resolve() : undefined));
        holder.on('exit', (c) => reject(new Error(`holder exited ${c}`)));
      });
      const err = await make()
        .open()
        .catch((e: unknown) => e as Error);
      expect(String((err as Error).message)).toContain(`in use by another process (pid ${holder.pid}`);
      expect(readdirSync(dirname(dir)).some((f) => f.includes('.damaged-'))).toBe(false);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
  });

  it('continues seq after the last record even when meta lags behind it, and recounts', async () => {
    const { dir, lines, make } = setup();
    let j = make();
    await j.open();
    await j.setSinks([{ id: 'all', select: () => true }]);
    await j.append([reading(1), reading(2)]);
    await j.close();
    // Simulate a meta that lags the records (cannot happen through the journal, which writes both in one batch).
    const db = new ClassicLevel<string, string>(dir);
    await db.open();
    const meta = JSON.parse((await db.get('m!journal')) as string) as Record<string, number>;
    await db.put('m!journal', JSON.stringify({ ...meta, last_seq: 1, records: 1, bytes: 1 }));
    await db.close();
    j = make();
    await j.open();
    expect(j.stats()).toMatchObject({ last_seq: 2, records: 2 });
    expect(lines.some((l) => String(l.msg).includes('behind its newest record'))).toBe(true);
    await j.setSinks([{ id: 'all', select: () => true }]);
    await j.append([reading(3)]);
    expect((await j.read('all', 0, 10, 1e9)).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('logs per episode, not per record: a long drop_oldest run writes a handful of lines', async () => {
    const { lines, make } = setup();
    const j = make({ maxBytes: 20_000, whenFull: 'drop_oldest' });
    await j.open();
    await j.setSinks([{ id: 'all', select: () => true }]);
    for (let i = 0; i < 50; i++) await j.append(Array.from({ length: 20 }, (_, k) => reading(i * 20 + k)));
    const s = j.stats();
    expect(s.sinks.all?.dropped.max_bytes).toBeGreaterThan(800);
    expect(lines.filter((l) => String(l.msg).includes('dropped')).length).toBe(1);
    expect(s.bytes).toBeLessThanOrEqual(20_000);
  });
});

describe('LevelJournal housekeeping', () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });

  it('compacts the deleted range in the background and reports the oldest unacknowledged record per sink', async () => {
    const root = mkdtempSync(join(tmpdir(), 'level-journal-'));
    roots.push(root);
    const j = new LevelJournal({
      dir: root,
      maxBytes: 1024 ** 3,
      whenFull: 'block',
      commitIntervalMs: 5,
      compactEvery: 500,
    });
    await j.open();
    try {
      await j.setSinks([{ id: 'all', select: () => true }]);
      for (let i = 0; i < 10; i++)
        await j.append(Array.from({ length: 100 }, (_, k) => reading(i * 100 + k)));
      expect(j.stats().sinks.all?.oldest_unacked_at).toBeUndefined();
      const got = await j.read('all', 0, 600, 1e9);
      expect(j.stats().sinks.all?.oldest_unacked_at).toBe(j.stats().oldest_ts);
      await j.ack('all', (got.at(-1) as { seq: number }).seq, got.length);
      await pollUntil(() => j.diagnostics().compactions >= 1, 'a background compaction');
      expect(j.stats()).toMatchObject({ records: 400, first_seq: 601 });
      expect(await j.check()).toMatchObject({ counted_records: 400 });
    } finally {
      await j.close();
    }
  });
});

describe('LevelJournal on a full disk', () => {
  let mountPoint = '';
  let mounted = false;
  beforeAll(() => {
    mountPoint = mkdtempSync(join(tmpdir(), 'journal-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint], { stdio: 'ignore' });
      mounted = true;
    } catch {
      mounted = false;
    }
  });
  afterAll(() => {
    try {
      if (mounted) execFileSync('umount', [mountPoint], { stdio: 'ignore' });
      rmSync(mountPoint, { recursive: true, force: true });
    } catch {
      // A busy mount point is left for the OS; it holds nothing but a test store.
    }
  });

  it('rejects appends with JOURNAL_FULL while the disk is full, says so in stats, and recovers when space returns', async (ctx) => {
    // A small file system is the only honest way to fill a disk; mounting one needs root (CI runners may lack it).
    if (!mounted) ctx.skip('mounting a 4 MiB tmpfs needs root; run as root to exercise a full disk');
    const filler = join(mountPoint, 'filler');
    writeFileSync(filler, Buffer.alloc(1024 * 1024));
    const j = new LevelJournal({
      dir: join(mountPoint, 'journal'),
      maxBytes: 1024 ** 3,
      whenFull: 'block',
      commitIntervalMs: 5,
    });
    await j.open();
    try {
      await j.setSinks([{ id: 'all', select: () => true }]);
      let failure: unknown;
      for (let i = 0; i < 1000 && failure === undefined; i++) {
        await j.append(Array.from({ length: 100 }, (_, k) => reading(i * 100 + k))).catch((e: unknown) => {
          failure = e;
        });
      }
      expect(failure).toMatchObject({ code: 'JOURNAL_FULL', retryable: true });
      expect(j.stats().write_error?.error).toContain('full');
      const before = j.stats();
      expectLedgerBalanced(before);
      rmSync(filler);
      await j.append([reading(999_999)]);
      expect(j.stats().write_error).toBeUndefined();
      expect(j.stats().last_seq).toBe(before.last_seq + 1);
      expectLedgerBalanced(j.stats());
      expect(await j.check()).toMatchObject({ counted_records: before.records + 1 });
    } finally {
      await j.close();
    }
  });
});
