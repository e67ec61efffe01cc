// The forwarder tests' harness: a real receiver simulator, a real LevelDB journal in a temp folder, an HTTP sink
// and a forwarder on them, a log the tests can search, and waits that show the forwarder's and the receiver's
// state when they time out. Shared by forwarder.test.ts and forwarder-window.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type Receiver, type ReceiverOptions, startReceiver } from '../../simulators/receiver/receiver.js';
import { LevelJournal } from '../journal/level-journal.js';
import { waitFor } from '../kit/testing/wait.js';
import { Forwarder, type ForwarderMetrics } from './forwarder.js';
import { httpSinkSchema } from './http/config.js';
import { HttpSink, type HttpSinkSettings } from './http/sink.js';
import { sinkSelector } from './select.js';
import { captureLogger, makeReading } from './test-support.js';

export const GW = 'lyon-edge-01';
export const TOKEN = 'tok-9d1e55-do-not-log';

export interface Harness {
  dir: string;
  journal: LevelJournal;
  receiver: Receiver;
  config: HttpSinkSettings;
  log: Logger;
  logText(): string;
  logLines(): Array<Record<string, unknown>>;
  forwarder?: Forwarder;
}

const cleanups: Array<() => Promise<void> | void> = [];

/** Runs `fn` after the current test, before the harness's own clean-up (last registered runs first). */
export function onCleanUp(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** Stops what the last test started and removes its temp folder; each test file runs it in afterEach. */
export async function cleanUp(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c();
}

export async function openJournal(dir: string, config: HttpSinkSettings): Promise<LevelJournal> {
  const journal = new LevelJournal({
    dir,
    maxBytes: 256 * 1024 * 1024,
    whenFull: 'drop_oldest',
    commitIntervalMs: 2,
  });
  await journal.open();
  await journal.setSinks([sinkSelector(config)]);
  return journal;
}

export async function harness(
  opts: {
    sink?: Record<string, unknown>;
    receiver?: ReceiverOptions;
    config?: (url: string) => HttpSinkSettings;
  } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'plantgate-fwd-'));
  const receiver = await startReceiver(opts.receiver);
  const config =
    opts.config?.(receiver.url) ??
    (httpSinkSchema.parse({
      id: 'central',
      type: 'http',
      url: `${receiver.url}/v1/batches`,
      batch: { max_records: 100, max_wait: '30ms' },
      retry: { initial: '20ms', max: '200ms' },
      ...opts.sink,
    }) as HttpSinkSettings);
  const journal = await openJournal(dir, config);
  const cap = captureLogger('trace');
  const h: Harness = { dir, journal, receiver, config, log: cap.log, logText: cap.text, logLines: cap.lines };
  cleanups.push(async () => {
    await h.forwarder?.stop(0);
    await h.journal.close();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return h;
}

export function forwarderFor(
  h: Harness,
  extra: {
    random?: () => number;
    metrics?: ForwarderMetrics;
    growth?: { sampleMs: number; windowMs: number };
  } = {},
): Forwarder {
  const sink = new HttpSink({
    config: h.config,
    gatewayId: GW,
    site: 'lyon',
    log: h.log,
  });
  const f = new Forwarder({
    journal: h.journal,
    sink,
    gatewayId: GW,
    site: 'lyon',
    sinkConfig: h.config,
    log: h.log,
    ...(extra.random ? { random: extra.random } : {}),
    ...(extra.metrics ? { metrics: extra.metrics } : {}),
    ...(extra.growth ? { growth: extra.growth } : {}),
  });
  h.forwarder = f;
  return f;
}

/** Appends n readings numbered from `from`; returns the seqs the journal gave them. */
export async function appendReadings(
  journal: LevelJournal,
  from: number,
  n: number,
): Promise<{ first: number; last: number; ids: string[] }> {
  const records = Array.from({ length: n }, (_, i) => makeReading(from + i));
  const before = journal.stats().last_seq;
  await journal.append(records);
  return { first: before + 1, last: journal.stats().last_seq, ids: records.map((r) => r.id) };
}

/** The shared waitFor with the forwarder's health and the receiver's view attached to a timeout. */
export async function until(
  h: Harness,
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  await waitFor(what, cond, {
    timeoutMs,
    detail: () => ({
      health: h.forwarder?.health(),
      receiver: h.receiver.stats(),
      requests: h.receiver.requests().slice(-20),
      log: h.logLines().slice(-10),
    }),
  });
}

export const bid = (first: number, last: number) => `${GW}:central:${first}-${last}`;
