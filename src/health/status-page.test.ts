// The status page over the real health listener on a port the OS picks: `/` and its assets answer with a
// Content-Security-Policy that forbids inline script and other origins, the HTML holds no inline script or
// style and no external address, the browser script parses and never writes markup from data (no innerHTML),
// and every asset it loads (uPlot included, as served) stays under the 200 KB budget. /history serves the
// charts' ring and the recent events. The page next to /status in one server, as the daemon wires it.
import { Script } from 'node:vm';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthServer, healthRoutes } from './health-server.js';
import { HistoryRing } from './history-ring.js';
import { RecentEvents } from './recent-events.js';
import { PAGE_CSP, pageAssets, pageRoutes } from './status-page.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './status-page-assets.js';

const log = pino({ level: 'silent' });
let server: HealthServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const ring = new HistoryRing({ points: 4, maxSeries: 2, intervalMs: 10 });
ring.push(1000, [{ metric: 'backlog_records', id: 'central', value: 3 }]);
const events = new RecentEvents();
events.add(2000, 'reload_failed', 'configuration', 'alarm', '<b>bad</b> yaml');

async function start(): Promise<string> {
  server = new HealthServer({
    listen: { host: '127.0.0.1', port: 0 },
    routes: [
      ...healthRoutes({
        started: () => false,
        ready: () => false,
        status: () => {
          throw new Error('not started');
        },
        registry: new Registry(),
      }),
      ...pageRoutes({ history: () => ring.snapshot(), recentEvents: () => events.list() }),
    ],
    log,
  });
  await server.start();
  return `http://127.0.0.1:${server.address?.port}`;
}

describe('status page', () => {
  it('serves /, /page.js, /page.css and uPlot with a CSP that forbids inline script', async () => {
    const url = await start();
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/page.js', 'text/javascript'],
      ['/page.css', 'text/css'],
      ['/uplot.js', 'text/javascript'],
      ['/uplot.css', 'text/css'],
    ] as const) {
      const res = await fetch(`${url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toContain(type);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toBe(PAGE_CSP);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      await res.text();
    }
    expect(PAGE_CSP).toContain("script-src 'self'");
    expect(PAGE_CSP).toContain("default-src 'none'");
    expect(PAGE_CSP).not.toContain('unsafe');
    // /status still answers next to the page (503 while starting: the page shows "daemon starting").
    expect((await fetch(`${url}/status`)).status).toBe(503);
  });

  it('serves uPlot from node_modules as the page loads it', async () => {
    const url = await start();
    const js = await (await fetch(`${url}/uplot.js`)).text();
    expect(js).toContain('uPlot');
    expect(() => new Script(js, { filename: 'uplot.js' })).not.toThrow();
    expect(await (await fetch(`${url}/uplot.css`)).text()).toContain('.uplot');
  });

  it('serves /history: the ring oldest first and the recent events newest first, as JSON', async () => {
    const url = await start();
    const res = await fetch(`${url}/history`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    const h = (await res.json()) as Record<string, unknown>;
    expect(h).toMatchObject({
      interval_ms: 10,
      capacity: 4,
      max_series: 2,
      t: [1000],
      series: [{ metric: 'backlog_records', id: 'central', values: [3] }],
      refused_values: 0,
      recent_events: [{ kind: 'reload_failed', level: 'alarm', text: '<b>bad</b> yaml' }],
    });
  });

  it('has no inline script or style and no external address', () => {
    const scripts = [...PAGE_HTML.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map(([, attrs]) => attrs?.trim())).toEqual([
      'src="/uplot.js" defer',
      'src="/page.js" defer',
    ]);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\/[^"]+"/);
      expect(body?.trim()).toBe('');
    }
    expect(PAGE_HTML).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    for (const asset of [PAGE_HTML, PAGE_CSS, PAGE_JS])
      expect(asset).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]/i);
  });

  it('has a browser script that parses and never writes markup', () => {
    expect(() => new Script(PAGE_JS, { filename: 'page.js' })).not.toThrow();
    expect(PAGE_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(PAGE_JS).toContain('textContent');
  });

  it('stays under the 200 KB budget with every asset the page loads, as served', async () => {
    const url = await start();
    const assets = pageAssets();
    expect(assets.map((a) => a.path)).toEqual(['/', '/page.js', '/page.css', '/uplot.js', '/uplot.css']);
    let served = 0;
    for (const a of assets) {
      expect(a.body, a.path).toBeTypeOf('string');
      served += (await (await fetch(`${url}${a.path}`)).arrayBuffer()).byteLength;
    }
    // Every stylesheet and script the HTML references is in that list, so nothing escapes the sum.
    const refs = [...PAGE_HTML.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    for (const r of refs) expect(assets.map((a) => a.path)).toContain(r);
    expect(served).toBeGreaterThan(50 * 1024);
    expect(served).toBeLessThan(200 * 1024);
  });
});
