// The journal contract suites' shared fixture: the factory and hooks a backend passes, the sink selectors and
// record builders the tests use, and a journal opened in its own temp folder and closed after each test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import type { CanonicalRecord } from '../../model/records.js';
import { reading } from '../test-support.js';
import type { Journal, JournalOptions, SinkSelector } from '../types.js';

export type JournalFactory = (options: JournalOptions) => Journal;

export interface ContractHooks {
  /**
   * Recounts what the store really holds, for backends that can: the suite then checks `records` and `bytes`
   * against the store after deletions, drops and restarts.
   */
  check?: (j: Journal) => Promise<{
    records: number;
    bytes: number;
    counted_records: number;
    counted_bytes: number;
    /** The quarantine's and dead letters' byte counters and what the store holds, when the backend can recount. */
    quarantine_bytes?: number;
    counted_quarantine_bytes?: number;
    dead_letter_bytes?: number;
    counted_dead_letter_bytes?: number;
  }>;
}

export const all: SinkSelector = { id: 'all', select: () => true };
export const readingsOnly: SinkSelector = { id: 'readings', select: (r) => r.kind === 'reading' };
export const eventsOnly: SinkSelector = { id: 'events', select: (r) => r.kind === 'event' };
/** Selects readings with an even value (every other reading built by `reading(i)` for consecutive i). */
export const even: SinkSelector = {
  id: 'even',
  select: (r) => r.kind === 'reading' && typeof r.value === 'number' && r.value % 2 === 0,
};

export const readings = (from: number, n: number): CanonicalRecord[] =>
  Array.from({ length: n }, (_, i) => reading(from + i));

/** What a contract test gets: call inside a `describe`, it registers the cleanup. */
export function contractFixture(factory: JournalFactory, hooks: ContractHooks) {
  const dirs: string[] = [];
  const open: Journal[] = [];

  afterEach(async () => {
    for (const j of open.splice(0)) await j.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), 'journal-contract-'));
    dirs.push(d);
    return d;
  }

  async function start(
    opts: Partial<JournalOptions> & { dir?: string } = {},
    sinks = [all],
  ): Promise<Journal> {
    const j = factory({
      dir: opts.dir ?? tempDir(),
      maxBytes: 1024 ** 3,
      whenFull: 'block',
      commitIntervalMs: 5,
      ...opts,
    });
    open.push(j);
    await j.open();
    await j.setSinks(sinks);
    return j;
  }

  async function restart(j: Journal, opts: Partial<JournalOptions> & { dir: string }, sinks = [all]) {
    await j.close();
    open.splice(open.indexOf(j), 1);
    return start(opts, sinks);
  }

  /** The counters agree with what the store holds (when the backend can recount). */
  async function expectCountersTrue(j: Journal): Promise<void> {
    if (!hooks.check) return;
    const c = await hooks.check(j);
    expect(c.counted_records, 'records in the store vs the records counter').toBe(c.records);
    expect(c.counted_bytes, 'bytes in the store vs the bytes counter').toBe(c.bytes);
    expect(c.counted_quarantine_bytes, 'quarantine bytes in the store vs its counter').toBe(
      c.quarantine_bytes,
    );
    expect(c.counted_dead_letter_bytes, 'dead-letter bytes in the store vs its counter').toBe(
      c.dead_letter_bytes,
    );
  }

  /** The stored size of `records`, measured in a scratch journal (the contract does not know the encoding). */
  async function sizeOf(records: CanonicalRecord[]): Promise<number> {
    const j = await start();
    await j.append(records);
    const b = j.stats().bytes;
    await j.close();
    open.splice(open.indexOf(j), 1);
    return b;
  }
  return { tempDir, start, restart, expectCountersTrue, sizeOf };
}

export type ContractFixture = ReturnType<typeof contractFixture>;
