// The status page (issue 16) in a real Chromium against the built daemon: it loads with no console error and
// shows what /status says; a receiver that fails with a hostile body shows the sink retrying with a growing
// backlog and the body as inert text (no dialog fires); a stopped daemon shows "daemon unreachable since …" and
// the open page picks the restarted daemon up by itself; a stopped Modbus simulator turns its source away from
// `connected` on the page, with the reason. Screenshots go to the test's temp dir.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

/** A page at 1366x768 (the plant PC) that records console errors, page errors and dialogs. */
async function openPage(url: string): Promise<{ page: Page; errors: string[]; dialogs: string[] }> {
  if (!browser) throw new Error('no browser');
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
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
      await page.screenshot({ path: join(dir, 'status-page.png'), fullPage: true });
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
      await page.screenshot({ path: join(dir, 'status-page-retrying.png'), fullPage: true });
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
      await page.screenshot({ path: join(dir, 'status-page-unreachable.png'), fullPage: true });
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
      expect(errors).toEqual([]);
      await page.close();
    });
  },
);
