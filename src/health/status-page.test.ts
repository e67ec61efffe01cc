// The status page over the real health listener on a port the OS picks: `/` and its assets answer with a
// Content-Security-Policy that forbids inline script and other origins, the HTML holds no inline script or
// style and no external address, the browser script parses and never writes markup from data (no innerHTML),
// and the assets stay under the 200 KB budget. The page next to /status in one server, as the daemon wires it.
import { Script } from 'node:vm';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthServer, healthRoutes } from './health-server.js';
import { PAGE_CSP, pageRoutes } from './status-page.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './status-page-assets.js';

const log = pino({ level: 'silent' });
let server: HealthServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

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
      ...pageRoutes(),
    ],
    log,
  });
  await server.start();
  return `http://127.0.0.1:${server.address?.port}`;
}

describe('status page', () => {
  it('serves /, /page.js and /page.css with a CSP that forbids inline script', async () => {
    const url = await start();
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/page.js', 'text/javascript'],
      ['/page.css', 'text/css'],
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

  it('has no inline script or style and no external address', () => {
    const scripts = [...PAGE_HTML.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBe(1);
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

  it('stays under the 200 KB asset budget', () => {
    const bytes = [PAGE_HTML, PAGE_CSS, PAGE_JS].reduce((n, s) => n + Buffer.byteLength(s), 0);
    expect(bytes).toBeLessThan(200 * 1024);
  });
});
