// kill -9 at random moments: a child process appends and consumes in a loop and prints what the journal
// acknowledged; after each SIGKILL the store is reopened and every acknowledged record must still be there (or have
// been handed to the sink before its ack), the ledger must balance and the counters must match the store.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Reading } from '../model/records.js';
import { LevelJournal } from './level-journal.js';
import { expectLedgerBalanced } from './test-support.js';
import type { SinkSelector } from './types.js';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

/** The same sinks as in crash-child.ts. */
const SINKS: SinkSelector[] = [
  { id: 'all', select: () => true },
  { id: 'even', select: (r) => r.kind === 'reading' && typeof r.value === 'number' && r.value % 2 === 0 },
];

interface RunLog {
  acked: Array<[number, number]>;
  delivered: Record<string, Set<number>>;
}

/** Small seeded PRNG so a failing run can be repeated from the seed printed in the failure. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Starts the child, lets it acknowledge `minAcks` appends, waits `extraMs` more, then SIGKILLs it. */
async function runAndKill(
  dir: string,
  first: number,
  mode: 'keep' | 'drop',
  minAcks: number,
  extraMs: number,
  log: RunLog,
) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(first), mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let buf = '';
  let acks = 0;
  let onAck: (() => void) | undefined;
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
      const parts = l.split(' ');
      if (parts[0] === 'A') {
        log.acked.push([Number(parts[1]), Number(parts[2])]);
        acks++;
        onAck?.();
      } else if (parts[0] === 'D') {
        const set = log.delivered[parts[1] as string] ?? new Set<number>();
        log.delivered[parts[1] as string] = set;
        for (const r of (parts[2] as string).split(',')) {
          const [a, b] = r.split('-').map(Number) as [number, number];
          for (let n = a; n <= b; n++) set.add(n);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (Date.now() > deadline) {
        clearInterval(t);
        reject(new Error(`the crash child acknowledged only ${acks} appends in 30 s: ${stderr}`));
      }
    }, 100);
    child.on('exit', (code) => {
      clearInterval(t);
      reject(new Error(`the crash child exited early (${code}): ${stderr}`));
    });
    onAck = () => {
      if (acks >= minAcks) {
        clearInterval(t);
        resolve();
      }
    };
  });
  onAck = undefined;
  if (extraMs > 0) await new Promise((r) => setTimeout(r, extraMs));
  child.kill('SIGKILL');
  await exited;
  children.delete(child);
}

const children = new Set<ChildProcess>();
const roots: string[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

async function reopen(dir: string, mode: 'keep' | 'drop'): Promise<LevelJournal> {
  const j = new LevelJournal({
    dir,
    maxBytes: mode === 'drop' ? 200_000 : 1024 ** 3,
    whenFull: 'drop_oldest',
    commitIntervalMs: 5,
  });
  await j.open();
  await j.setSinks(SINKS);
  return j;
}

async function remaining(j: LevelJournal, sink: string): Promise<number[]> {
  const out: number[] = [];
  let after = j.cursor(sink);
  let lastSeq = after;
  for (;;) {
    const got = await j.read(sink, after, 5000, 1e9);
    const last = got.at(-1);
    if (!last) return out;
    for (const e of got) {
      expect(e.seq).toBeGreaterThan(lastSeq);
      lastSeq = e.seq;
      out.push((e.record as Reading).value as number);
    }
    after = last.seq;
  }
}

describe('LevelJournal under kill -9', () => {
  it('loses no acknowledged record and keeps the ledger exact across 5 SIGKILLs at random moments', async () => {
    const seed = Date.now() % 1_000_000;
    const rnd = prng(seed);
    const root = mkdtempSync(join(tmpdir(), 'journal-crash-'));
    roots.push(root);
    const dir = join(root, 'journal');
    const log: RunLog = { acked: [], delivered: {} };
    let lastSeq = 0;
    for (let cycle = 0; cycle < 5; cycle++) {
      await runAndKill(
        dir,
        cycle * 10_000_000,
        'keep',
        5 + Math.floor(rnd() * 80),
        Math.floor(rnd() * 150),
        log,
      );
      const j = await reopen(dir, 'keep');
      try {
        const s = j.stats();
        expect(s.last_seq, `seed ${seed} cycle ${cycle}`).toBeGreaterThan(lastSeq);
        lastSeq = s.last_seq;
        expectLedgerBalanced(s);
        const c = await j.check();
        expect(c.counted_records, `seed ${seed} cycle ${cycle}: records`).toBe(c.records);
        expect(c.counted_bytes, `seed ${seed} cycle ${cycle}: bytes`).toBe(c.bytes);
        for (const sink of SINKS) {
          const left = await remaining(j, sink.id);
          expect(left.length, `seed ${seed} cycle ${cycle}: ${sink.id} queued`).toBe(
            s.sinks[sink.id]?.queued,
          );
          expect(new Set(left).size, `duplicates in what ${sink.id} would read`).toBe(left.length);
          const have = new Set(left);
          const delivered = log.delivered[sink.id] ?? new Set<number>();
          let missing = 0;
          let example = -1;
          for (const [a, b] of log.acked) {
            for (let n = a; n <= b; n++) {
              if (sink.id === 'even' && n % 2 !== 0) continue;
              if (!have.has(n) && !delivered.has(n)) {
                missing++;
                example = n;
              }
            }
          }
          expect(
            missing,
            `seed ${seed} cycle ${cycle}: ${sink.id} lost acknowledged records, e.g. ${example}`,
          ).toBe(0);
        }
      } finally {
        await j.close();
      }
    }
    expect(log.acked.length).toBeGreaterThan(25);
  });

  it('keeps the ledger and the counters exact when drop_oldest is dropping as the process is killed', async () => {
    const seed = Date.now() % 1_000_000;
    const rnd = prng(seed);
    const root = mkdtempSync(join(tmpdir(), 'journal-crash-'));
    roots.push(root);
    const dir = join(root, 'journal');
    const log: RunLog = { acked: [], delivered: {} };
    for (let cycle = 0; cycle < 2; cycle++) {
      await runAndKill(
        dir,
        cycle * 10_000_000,
        'drop',
        40 + Math.floor(rnd() * 60),
        Math.floor(rnd() * 150),
        log,
      );
      const j = await reopen(dir, 'drop');
      try {
        const s = j.stats();
        expectLedgerBalanced(s);
        expect(s.bytes).toBeLessThanOrEqual(200_000);
        const c = await j.check();
        expect(c.counted_records, `seed ${seed} cycle ${cycle}: records`).toBe(c.records);
        expect(c.counted_bytes, `seed ${seed} cycle ${cycle}: bytes`).toBe(c.bytes);
        for (const sink of SINKS) {
          expect((await remaining(j, sink.id)).length, `seed ${seed}: ${sink.id} queued`).toBe(
            s.sinks[sink.id]?.queued,
          );
        }
      } finally {
        await j.close();
      }
    }
    // 200 kB hold about 1000 records: the slow `even` sink lost some to drop_oldest, and that is counted.
    const j = await reopen(dir, 'drop');
    try {
      expect(j.stats().sinks.even?.dropped.max_bytes ?? 0).toBeGreaterThan(0);
    } finally {
      await j.close();
    }
  });
});
