// The status page (issue 16) in a real Chromium against the built daemon: it loads with no console error and
// shows what /status says; a receiver that fails with a hostile body shows the sink retrying with a growing
// backlog and the body as inert text (no dialog fires); a stopped daemon shows "daemon unreachable since …" and
// the open page picks the restarted daemon up by itself; a stopped Modbus simulator turns its source away from
// `connected` on the page, with the reason, and its node in the flow picture not ok with the reason. The charts
// are drawn by uPlot (a canvas and a series per source and sink, more points at each poll), the page's numbers
// are exactly those of the /status answer it rendered, a receiver outage adds an alarm to the recent events,
// no Content-Security-Policy violation happens, and /history stays the same size after many sampling ticks
// (PLANTGATE_HISTORY_SAMPLE_MS shortens the 10 s sampling interval for these tests only).
// Screenshots are kept as artifacts in $PLANTGATE_TEST_ARTIFACTS, or in a temp dir of their own whose path is
// printed (the suite's temp dirs are removed at the end).
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModbusSim } from '../../simulators/modbus/server.js';
import { baseConfig, edgeSuite, startDaemon, waitFor, writeConfig } from '../lib/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const suite = edgeSuite();
let browser: Browser | undefined;

beforeAll(async () => {
  if (!haveChromium) return;
  // Chromium's profile and crash folders go to the test's temp dir, not the home folder.
  const home = suite.dir();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home, XDG_CACHE_HOME: home },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
});

let shotsDir: string | undefined;
/** Where screenshots are kept after the run (the suite's temp dirs are removed): printed once. */
function shot(name: string): string {
  if (!shotsDir) {
    const wanted = process.env.PLANTGATE_TEST_ARTIFACTS;
    if (wanted) mkdirSync(wanted, { recursive: true });
    shotsDir = wanted ?? mkdtempSync(join(tmpdir(), 'plantgate-status-page-shots-'));
    process.stdout.write(`status page screenshots: ${shotsDir}\n`);
  }
  return join(shotsDir, name);
}

/** A page at 1366x768 (the plant PC) that records console errors, page errors and dialogs. */
async function openPage(url: string): Promise<{ page: Page; errors: string[]; dialogs: string[] }> {
  if (!browser) throw new Error('no browser');
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  // Every Content-Security-Policy violation, as the page sees it (Chromium also logs them as console errors).
  await page.addInitScript(
    "window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });",
  );
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(url);
  return { page, errors, dialogs };
}

const rowText = (page: Page, table: string, id: string) =>
  page
    .locator(`#${table} tr[data-id="${id}"]`)
    .textContent({ timeout: 1000 })
    .catch(() => '');
const rowState = (page: Page, table: string, id: string) =>
  page
    .locator(`#${table} tr[data-id="${id}"]`)
    .getAttribute('data-state', { timeout: 1000 })
    .catch(() => null);

const cspViolations = (page: Page) => page.evaluate('window.__csp') as Promise<string[]>;
const attr = (page: Page, sel: string, name: string) =>
  page
    .locator(sel)
    .getAttribute(name, { timeout: 1000 })
    .catch(() => null);
const seriesOf = async (page: Page, chart: string): Promise<string[]> =>
  JSON.parse((await attr(page, `#${chart}`, 'data-series')) ?? '[]') as string[];
const pointsOf = async (page: Page, chart: string) =>
  Number((await attr(page, `#${chart}`, 'data-points')) ?? 0);
const polls = async (page: Page) => Number((await attr(page, 'body', 'data-polls')) ?? 0);
const flowNode = (page: Page, kind: string, id: string) =>
  page.locator(`#flow .node[data-kind="${kind}"][data-id="${id}"]`);

interface HistoryDoc {
  capacity: number;
  interval_ms: number;
  t: number[];
  series: Array<{ metric: string; id: string; values: Array<number | null> }>;
  recent_events: Array<{ kind: string; text: string }>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe.skipIf(!haveChromium)(
  `status page in Chromium (skipped: ${CHROMIUM} is absent; .ci/run installs it)`,
  () => {
    it('loads with no console error, shows what /status says, fits 1366 wide', async () => {
      const dir = suite.dir();
      const d = await startDaemon(
        writeConfig(dir, 'plant.yaml', baseConfig(join(dir, 'state'), suite.receiver.url)),
      );
      const { page, errors } = await openPage(`${d.healthUrl}/`);
      await waitFor('sink row', async () => (await rowState(page, 'sinks', 'central')) === 'connected');
      const st = await d.status();
      expect(await page.locator('#gateway').textContent()).toBe((st.gateway as { id: string }).id);
      expect(await page.locator('#overall').getAttribute('data-state')).toBe(st.status);
      expect(await rowState(page, 'sources', 'gen-1')).toBe(st.sources['gen-1']?.state);
      expect(await rowText(page, 'sinks', 'central')).toContain('balanced');
      const scroll = await page.evaluate('document.documentElement.scrollWidth');
      expect(scroll).toBeLessThanOrEqual(1366);
      await page.screenshot({ path: shot('status-page.png'), fullPage: true });
      expect(errors).toEqual([]);
      await page.close();
    });

    it('shows a failing receiver: sink retrying, backlog growing, its hostile body as inert text', async () => {
      const hostile = '<script>alert(1)</script>\u001b[31mred\u001b[0m';
      const bad: Server = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(503, { 'content-type': 'text/html' });
          res.end(hostile);
        });
      });
      await new Promise<void>((r) => bad.listen(0, '127.0.0.1', () => r()));
      suite.onCleanup(() => bad.close());
      const dir = suite.dir();
      const url = `http://127.0.0.1:${(bad.address() as AddressInfo).port}/batches`;
      const d = await startDaemon(writeConfig(dir, 'plant.yaml', baseConfig(join(dir, 'state'), url)));
      const { page, errors, dialogs } = await openPage(`${d.healthUrl}/`);
      await waitFor('the error body shown as text', async () =>
        ((await rowText(page, 'sinks', 'central')) ?? '').includes('<script>alert(1)</script>'),
      );
      expect(await rowState(page, 'sinks', 'central')).toBe('retrying');
      const backlog = async () =>
        Number((await page.locator('#sinks tr[data-id="central"] td').nth(2).textContent()) || 0);
      const first = await backlog();
      await waitFor('a growing backlog', async () => (await backlog()) > first);
      expect(await page.locator('#overall').textContent()).not.toBe('ok');
      await page.screenshot({ path: shot('status-page-retrying.png'), fullPage: true });
      expect(dialogs).toEqual([]);
      expect(await page.locator('#sinks script').count()).toBe(0);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('shows "daemon unreachable since" when the daemon stops and picks the restarted daemon up', async () => {
      const dir = suite.dir();
      const port = await freePort();
      const cfg = writeConfig(
        dir,
        'plant.yaml',
        baseConfig(join(dir, 'state'), suite.receiver.url, { health: { listen: `127.0.0.1:${port}` } }),
      );
      const d1 = await startDaemon(cfg);
      const { page } = await openPage(`${d1.healthUrl}/`);
      await waitFor('first render', async () => (await rowState(page, 'sources', 'gen-1')) !== null);
      const pid1 = await page.locator('#updated').textContent();
      expect(pid1).toContain('updated');
      await d1.stop();
      await waitFor('the unreachable banner', async () =>
        (
          await page
            .locator('#unreachable')
            .textContent()
            .then(
              (t) => t ?? '',
              () => '',
            )
        ).startsWith('daemon unreachable since'),
      );
      await page.screenshot({ path: shot('status-page-unreachable.png'), fullPage: true });
      await startDaemon(cfg);
      await waitFor('the page recovered', async () => !(await page.locator('#unreachable').isVisible()));
      expect(await rowState(page, 'sources', 'gen-1')).not.toBeNull();
      await page.close();
    });

    it('shows a stopped Modbus simulator as a source that is no longer connected, with the reason', async () => {
      const plc = await startModbusSim({ port: 0, units: [1] });
      let plcUp = true;
      suite.onCleanup(() => {
        if (plcUp) void plc.stop();
      });
      const dir = suite.dir();
      const d = await startDaemon(
        writeConfig(
          dir,
          'plant.yaml',
          baseConfig(join(dir, 'state'), suite.receiver.url, {
            sources: [
              {
                id: 'plc-1',
                type: 'modbus',
                tcp: `127.0.0.1:${plc.port}`,
                unit_id: 1,
                poll_interval: '100ms',
                reconnect: { initial: '100ms', max: '1s' },
                signals: [
                  {
                    name: 'lab.line1.counter',
                    register: 'holding:100',
                    type: 'uint32',
                    value_type: 'integer',
                  },
                ],
              },
            ],
          }),
        ),
      );
      const { page, errors } = await openPage(`${d.healthUrl}/`);
      await waitFor(
        'source connected',
        async () => (await rowState(page, 'sources', 'plc-1')) === 'connected',
      );
      await plc.stop();
      plcUp = false;
      await waitFor('source not connected', async () => {
        const state = await rowState(page, 'sources', 'plc-1');
        return state !== null && state !== 'connected';
      });
      await waitFor('the reason on the page', async () =>
        ((await page.locator('#reasons').textContent()) ?? '').includes('source plc-1'),
      );
      const st = await d.status();
      expect(st.reasons.some((r) => r.startsWith('source plc-1'))).toBe(true);
      expect(await page.locator('#overall').getAttribute('data-state')).not.toBe('ok');
      // The flow picture: the source's node is not ok, says why, and its link to the journal is broken.
      const node = flowNode(page, 'source', 'plc-1');
      await waitFor('the flow node not ok, with its reason', async () => {
        const state = await node.getAttribute('data-state', { timeout: 1000 }).catch(() => null);
        const why = await node
          .locator('.node-why')
          .textContent({ timeout: 1000 })
          .catch(() => '');
        return state !== null && state !== 'connected' && (why ?? '').length > 0;
      });
      expect(await node.getAttribute('class')).not.toContain(' ok');
      expect(await node.locator('.node-state').textContent()).toBe(await node.getAttribute('data-state'));
      const src = (await d.status()).sources['plc-1'] as { detail?: string; last_error?: string };
      const why = (await node.locator('.node-why').textContent()) ?? '';
      expect([src.last_error, src.detail].filter(Boolean).length).toBeGreaterThan(0);
      expect(why.length).toBeGreaterThan(3);
      expect(await page.locator('#flow .flow-row:has(.node[data-id="plc-1"]) .link.broken').count()).toBe(1);
      await page.screenshot({ path: shot('status-page-source-down.png') });
      expect(errors).toEqual([]);
      await page.close();
    });

    it('draws the last hour with uPlot and the flow picture; its numbers are those of /status', async () => {
      const dir = suite.dir();
      const d = await startDaemon(
        writeConfig(dir, 'plant.yaml', baseConfig(join(dir, 'state'), suite.receiver.url)),
        { env: { PLANTGATE_HISTORY_SAMPLE_MS: '500' } },
      );
      const { page, errors } = await openPage(`${d.healthUrl}/`);
      await waitFor(
        'a series per source and sink in every chart',
        async () =>
          (await seriesOf(page, 'chart-rate')).includes('gen-1') &&
          (await seriesOf(page, 'chart-backlog')).includes('central') &&
          (await seriesOf(page, 'chart-latency')).includes('central'),
        { detail: () => d.get('/history').then((r) => r.body.slice(0, 500)) },
      );
      for (const chart of ['chart-rate', 'chart-backlog', 'chart-latency']) {
        expect(await page.locator(`#${chart} canvas`).count(), chart).toBeGreaterThan(0);
      }
      expect(await page.locator('#chart-rate .u-legend').textContent()).toContain('gen-1');
      expect(await page.locator('#chart-backlog .u-legend').textContent()).toContain('central');
      // More points between two polls (the ring samples every 500 ms here, the page polls every 2 s).
      const p1 = await pointsOf(page, 'chart-backlog');
      const poll1 = await polls(page);
      await waitFor('more points at a later poll', async () => (await pointsOf(page, 'chart-backlog')) > p1);
      expect(await polls(page)).toBeGreaterThan(poll1);
      const h = JSON.parse((await d.get('/history')).body) as HistoryDoc;
      expect(h.series.map((x) => `${x.metric}/${x.id}`)).toEqual(
        expect.arrayContaining(['ingest_rate_per_s/gen-1', 'backlog_records/central', 'latency_ms/central']),
      );
      expect(h.recent_events.map((e) => e.kind)).toContain('started');

      // Hold /status at one answer: after two renders the page must show exactly its numbers.
      let served: string | undefined;
      await page.route('**/status', async (route) => {
        if (served === undefined) served = await (await route.fetch()).text();
        await route.fulfill({ status: 200, contentType: 'application/json', body: served });
      });
      const before = await polls(page);
      await waitFor('two renders of the held answer', async () => (await polls(page)) >= before + 2);
      const st = JSON.parse(served as string) as {
        status: string;
        reasons: string[];
        sources: Record<string, { state: string; rate_per_s: number }>;
        sinks: Record<
          string,
          { state: string; backlog: number; ledger: { ingested: number; delivered: number; queued: number } }
        >;
        journal: { records: number };
      };
      const gen = st.sources['gen-1'] as { state: string; rate_per_s: number };
      const central = st.sinks.central as (typeof st.sinks)[string];
      expect(await page.locator('#overall').getAttribute('data-state')).toBe(st.status);
      expect(await page.locator('#reasons li').allTextContents()).toEqual(st.reasons);
      const srcCells = await page.locator('#sources tr[data-id="gen-1"] td').allTextContents();
      expect(srcCells[1]).toBe(gen.state);
      expect(srcCells[2]).toBe(String(gen.rate_per_s));
      const sinkCells = await page.locator('#sinks tr[data-id="central"] td').allTextContents();
      expect(sinkCells[1]).toBe(central.state);
      expect(sinkCells[2]).toBe(String(central.backlog));
      const l = central.ledger;
      expect(sinkCells[7]).toContain(`${l.ingested} in = ${l.delivered} delivered + ${l.queued} queued`);
      const genNode = flowNode(page, 'source', 'gen-1');
      expect(await genNode.getAttribute('data-state')).toBe(gen.state);
      expect(await genNode.textContent()).toContain(`${gen.rate_per_s} /s`);
      const sinkNode = flowNode(page, 'sink', 'central');
      expect(await sinkNode.getAttribute('data-state')).toBe(central.state);
      expect(await sinkNode.textContent()).toContain(`backlog ${central.backlog}`);
      expect(await flowNode(page, 'journal', 'journal').textContent()).toContain(
        `${st.journal.records} records`,
      );
      expect(await page.locator('#flow .link.broken').count()).toBe(0);
      await page.unroute('**/status');

      const scroll = await page.evaluate('document.documentElement.scrollWidth');
      expect(scroll).toBeLessThanOrEqual(1366);
      await page.screenshot({ path: shot('status-page-charts.png') });
      // A 10" tablet held upright: no horizontal scrolling either (the charts and the flow stack).
      await page.setViewportSize({ width: 800, height: 1280 });
      await waitFor('the page laid out for 800 wide', async () =>
        Number(await page.evaluate('document.documentElement.scrollWidth')) <= 800 ? true : undefined,
      );
      await page.screenshot({ path: shot('status-page-tablet.png'), fullPage: true });
      expect(await cspViolations(page)).toEqual([]);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('adds an alarm to the recent events when the receiver fails, and an entry when it is back', async () => {
      const dir = suite.dir();
      const d = await startDaemon(
        writeConfig(dir, 'plant.yaml', baseConfig(join(dir, 'state'), suite.receiver.url)),
      );
      const { page, errors } = await openPage(`${d.healthUrl}/`);
      await waitFor('a delivery', async () => (await d.status()).sinks.central?.ledger.delivered ?? 0);
      await waitFor('the start in the recent events', async () =>
        (await page.locator('#events li[data-kind="started"]').count()) === 1 ? true : undefined,
      );
      suite.receiver.setFaults({ status: 503 });
      const down = page.locator('#events li[data-kind="sink_down"]').first();
      await waitFor('an alarm for the outage', async () => (await down.count()) > 0);
      expect(await down.getAttribute('class')).toContain('alarm');
      expect(await down.locator('.event-subject').textContent()).toBe('sink central');
      expect(await down.locator('.event-text').textContent()).toMatch(/^connected → (retrying|failing)/);
      // Newest first: the alarm is above the start.
      const kinds = await page
        .locator('#events li')
        .evaluateAll((lis) => lis.map((li) => li.getAttribute('data-kind')));
      expect(kinds.indexOf('sink_down')).toBeLessThan(kinds.indexOf('started'));
      await waitFor('the sink node not ok with a broken link', async () =>
        (await page.locator('#flow .flow-row:has(.node[data-id="central"]) .link.broken').count()) === 1
          ? true
          : undefined,
      );
      await page.screenshot({ path: shot('status-page-outage.png') });
      suite.receiver.setFaults({ clear: true });
      await waitFor('the recovery in the recent events', async () =>
        (await page.locator('#events li[data-kind="sink_up"]').count()) > 0 ? true : undefined,
      );
      const h = JSON.parse((await d.get('/history')).body) as HistoryDoc;
      expect(h.recent_events[0]?.kind).toBe('sink_up');
      expect(h.recent_events.some((e) => e.kind === 'sink_down' && e.text.includes('503'))).toBe(true);
      expect(await cspViolations(page)).toEqual([]);
      expect(errors).toEqual([]);
      await page.close();
    });
  },
);

describe('/history on the built daemon', () => {
  it('keeps the same size after many sampling ticks (a whole window overwritten)', async () => {
    const dir = suite.dir();
    const d = await startDaemon(
      writeConfig(dir, 'plant.yaml', baseConfig(join(dir, 'state'), suite.receiver.url)),
      { env: { PLANTGATE_HISTORY_SAMPLE_MS: '50' } },
    );
    const get = async () => {
      const r = await d.get('/history');
      return { body: r.body, h: JSON.parse(r.body) as HistoryDoc };
    };
    const full = await waitFor(
      'a full ring',
      async () => {
        const r = await get();
        return r.h.t.length === r.h.capacity ? r : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    expect(full.h.interval_ms).toBe(50);
    const lastT = full.h.t.at(-1) as number;
    const later = await waitFor(
      'every point of the full ring overwritten',
      async () => {
        const r = await get();
        return (r.h.t[0] ?? 0) > lastT ? r : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    expect(later.h.t.length).toBe(later.h.capacity);
    expect(later.h.series.map((x) => `${x.metric}/${x.id}`).sort()).toEqual(
      full.h.series.map((x) => `${x.metric}/${x.id}`).sort(),
    );
    for (const x of later.h.series) expect(x.values.length).toBe(later.h.capacity);
    // Same shape, so the same size up to the digits of the figures; and never above a bound computed from
    // the ring's capacity (at most 24 characters a value) and the recent events' cap (50 entries).
    expect(later.body.length).toBeLessThan(full.body.length * 1.25);
    expect(later.body.length).toBeLessThan(later.h.capacity * (later.h.series.length + 1) * 24 + 50 * 2000);
    process.stdout.write(
      `/history: ${full.body.length} bytes when full, ${later.body.length} bytes a window later (${later.h.series.length} series x ${later.h.capacity} points)\n`,
    );
  }, 360_000);
});
