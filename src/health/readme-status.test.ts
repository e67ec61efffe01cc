// The README's /status messages are the daemon's real messages (issue 18.10): the example reasons under
// "Status and metrics" must each be produced, word for word, by the judge in a matching situation, and every
// status message in the Troubleshooting table (X = an id, N/M = figures, ... = any text) must match one.
// The sink error comes from the real HTTP classification, not from a string written here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyHttpOutcome } from '../forward/http/classify.js';
import type { JournalStats } from '../journal/types.js';
import { judge, type SinkSnapshot, type SourceSnapshot } from './status.js';

const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
const NOW = Date.parse('2026-11-30T10:00:00Z');
const MIN = 60_000;

type SinkLedgerStats = JournalStats['sinks'][string];

function ledger(over: Partial<SinkLedgerStats> = {}): SinkLedgerStats {
  return { ingested: 0, delivered: 0, queued: 0, dead_lettered: 0, dropped: {}, cursor: 0, ...over };
}

function journal(over: Partial<JournalStats> = {}): JournalStats {
  return {
    records: 0,
    bytes: 0,
    first_seq: 0,
    last_seq: 0,
    sinks: {},
    quarantine: { total: 0, by_reason: {} },
    dead_letters: { batches: 0, records: 0 },
    blocked: false,
    ...over,
  } as JournalStats;
}

/** Every kind of reason the judge gives, in situations named like the README's examples. */
function producedReasons(): string[] {
  const rules = { stallAfterIntervals: 10, backlogDegradedAfterMs: 5 * MIN, backlogFailingAfterMs: 60 * MIN };
  const sources: SourceSnapshot[] = [
    {
      id: 'packer-3',
      type: 'modbus',
      health: { state: 'connected' },
      expectedIntervalMs: 500,
      lastSampleAt: NOW - 30_000,
      startedAt: NOW - 10 * MIN,
    },
    {
      id: 'press-1',
      type: 'opcua',
      health: { state: 'reconnecting', detail: 'connection refused by 10.0.1.20:4840' },
      startedAt: NOW - 10 * MIN,
    },
    {
      // A signal whose browse path does not resolve (the OPC UA adapter's sentence, see adapters/opcua).
      id: 'press-2',
      type: 'opcua',
      health: {
        state: 'connected',
        problems: [
          'signal lyon.press2.oil_temp is never read: browse_path "Objects/3:Press2/3:Oil" does not resolve on opc.tcp://10.0.1.21:4840 (BadNoMatch); check the browse names and namespace indexes (plantgate opcua browse press-2 lists them)',
        ],
      },
      startedAt: NOW - 10 * MIN,
    },
  ];
  const http503 = classifyHttpOutcome({ status: 503 }, NOW);
  if (http503.ok) throw new Error('503 must be a failure');
  const sinks: SinkSnapshot[] = [
    { id: 'erp', state: 'retrying', lastError: http503.error },
    { id: 'central', state: 'connected', oldestUnackedAt: NOW - 12 * MIN },
    { id: 'archive', state: 'connected' },
  ];
  const stats = journal({
    blocked: true,
    damaged: { moved_to: '/var/lib/plantgate/journal.damaged-1', at: NOW, error: 'Corruption: bad block' },
    sinks: {
      erp: ledger(),
      central: ledger({ queued: 5000, oldest_unacked_at: NOW - 12 * MIN }),
      archive: ledger({ dead_lettered: 40 }),
    },
  });
  const verdict = judge(NOW, rules, sources, sinks, stats, {
    ready: true,
    recentDrops: { archive: 120 },
  });
  return verdict.reasons;
}

/** The fenced block after "for example" in the Status and metrics section. */
function readmeExamples(): string[] {
  const section = README.slice(README.indexOf('## Status and metrics'));
  const m = /for example[\s\S]*?\n```\n([\s\S]*?)\n```/.exec(section);
  if (!m?.[1]) throw new Error('the README has no example block of /status reasons');
  return m[1].split('\n').filter((l) => l.trim() !== '');
}

/** First-column entries of the Troubleshooting table that are /status messages. */
function troubleshootingMessages(): string[] {
  const section = README.slice(README.indexOf('## Troubleshooting'), README.indexOf('## Benchmarks'));
  const out: string[] = [];
  for (const line of section.split('\n')) {
    const m = /^\| `([^`]+)`/.exec(line);
    if (m?.[1] && /^(source|sink|journal) /.test(m[1])) out.push(m[1]);
  }
  return out;
}

/** X: an id; N, M: a figure (M with its unit); "...": any text. */
function templateToRegExp(t: string): RegExp {
  const esc = t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = esc
    .replace(/\\\.\\\.\\\./g, '.*')
    .replace(/\bX\b/g, '\\S+')
    .replace(/\bN\b/g, '[\\d.]+')
    .replace(/\bM\b/g, '[\\d.]+ \\S+');
  return new RegExp(`^${re}`);
}

describe('the README status messages', () => {
  const produced = producedReasons();

  it('finds the examples and the table (so this test cannot pass on an empty README section)', () => {
    expect(readmeExamples().length).toBeGreaterThanOrEqual(4);
    expect(troubleshootingMessages().length).toBeGreaterThanOrEqual(6);
  });

  it('each example reason is one the judge produces, word for word', () => {
    for (const example of readmeExamples()) expect(produced).toContain(example);
  });

  it('each Troubleshooting message matches a reason the judge produces', () => {
    for (const t of troubleshootingMessages()) {
      const re = templateToRegExp(t);
      expect(
        produced.some((r) => re.test(r)),
        `README: "${t}" matches none of:\n${produced.join('\n')}`,
      ).toBe(true);
    }
  });

  it('names the overall verdict by its real field, `status`', () => {
    const section = README.slice(README.indexOf('## Status and metrics'), README.indexOf('## Operator CLI'));
    expect(section).toMatch(/field `status`/);
    expect(section).not.toMatch(/overall `ok/);
  });
});
