// Test fixture for crash.test.ts (not product code): appends and consumes in a loop and prints, synchronously,
// every append the journal acknowledged (`A <from> <to>`) and every record a sink was handed before its ack
// (`D <sink> <from>-<to>,...`), so the test can SIGKILL it at any moment and check that nothing acknowledged is lost.
// Usage: node --import tsx crash-child.ts <dir> <first n> <keep|drop>
import { writeSync } from 'node:fs';
import type { Reading } from '../model/records.js';
import { LevelJournal } from './level-journal.js';
import type { SinkSelector } from './types.js';

const [dir, startArg, mode] = process.argv.slice(2) as [string, string, string];

/** The same sinks as in crash.test.ts, which reopens the store with them. */
const CRASH_SINKS: SinkSelector[] = [
  { id: 'all', select: () => true },
  { id: 'even', select: (r) => r.kind === 'reading' && typeof r.value === 'number' && r.value % 2 === 0 },
];

function line(text: string): void {
  const buf = Buffer.from(`${text}\n`);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(1, buf, off);
    } catch (err) {
      // A full pipe: the parent reads continuously, so try again.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

function rec(n: number): Reading {
  const ts = new Date(1_800_000_000_000 + n).toISOString();
  return {
    id: `c${n}`,
    kind: 'reading',
    signal: 'crash.test.value',
    value: n,
    ts,
    ingest_ts: ts,
    quality: 'good',
    source: { id: 'crash', type: 'test', address: 'a' },
  };
}

/** `1-3,7-9` from [1,2,3,7,8,9]. */
function ranges(ns: number[]): string {
  const out: string[] = [];
  let a = ns[0] as number;
  let b = a;
  for (const n of ns.slice(1)) {
    if (n === b + 1) b = n;
    else {
      out.push(`${a}-${b}`);
      a = b = n;
    }
  }
  out.push(`${a}-${b}`);
  return out.join(',');
}

async function consume(j: LevelJournal, sink: string, max: number, pauseMs: number): Promise<never> {
  for (;;) {
    const got = await j.read(sink, j.cursor(sink), max, 1e9);
    const last = got.at(-1);
    if (last) {
      // Printed before the ack: once acked, the journal may delete them.
      line(`D ${sink} ${ranges(got.map((e) => (e.record as Reading).value as number))}`);
      await j.ack(sink, last.seq, got.length);
    } else {
      await j.waitFor(j.cursor(sink), AbortSignal.timeout(200), sink);
    }
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
}

async function main(): Promise<void> {
  const j = new LevelJournal({
    dir,
    maxBytes: mode === 'drop' ? 200_000 : 1024 ** 3,
    whenFull: 'drop_oldest',
    commitIntervalMs: 5,
  });
  await j.open();
  await j.setSinks(CRASH_SINKS);
  line('READY');
  let next = Number(startArg);
  const appender = async () => {
    for (;;) {
      const from = next;
      next += 50;
      await j.append(Array.from({ length: 50 }, (_, i) => rec(from + i)));
      line(`A ${from} ${from + 49}`);
    }
  };
  await Promise.all([
    appender(),
    appender(),
    appender(),
    appender(),
    consume(j, 'all', 500, 0),
    consume(j, 'even', 300, 15),
  ]);
}

main().catch((err: unknown) => {
  process.stderr.write(`crash child failed: ${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
