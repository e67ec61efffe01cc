// The operator's status page on the health listener (issue 16): `GET /` plus its script and stylesheet, the
// chart library (uPlot, read from node_modules once at start) and GET /history for the charts and the recent
// events, all served from the daemon because plant networks are closed. The page only reads /status and
// /history (polled), so it adds no action to this read-only listener. Every answer carries a
// Content-Security-Policy that forbids inline script and any other origin: text from devices and receivers can
// then never run even if it reached the DOM as markup (the client also sets it with textContent only).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { HealthAnswer, HealthRoute } from './health-server.js';
import type { HistorySnapshot } from './history-ring.js';
import type { RecentEvent } from './recent-events.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './status-page-assets.js';

/** Same-origin only, no inline script or style, no framing: the page needs nothing else. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** uPlot's browser build and stylesheet, as the page loads them (/uplot.js, /uplot.css). */
export const UPLOT_FILES = {
  '/uplot.js': 'uplot/dist/uPlot.iife.min.js',
  '/uplot.css': 'uplot/dist/uPlot.min.css',
} as const;

/** What GET /history serves: the charts' ring and the recent alarms and events, newest first. */
export interface PageData {
  history(): HistorySnapshot;
  recentEvents(): RecentEvent[];
}

const asset = (type: string, body: string): HealthAnswer => ({
  code: 200,
  type,
  body,
  headers: { 'content-security-policy': PAGE_CSP, 'x-content-type-options': 'nosniff' },
});

/** A production dependency, so missing only in a broken install: the page then says charts are unavailable. */
function readUplot(path: keyof typeof UPLOT_FILES): string | undefined {
  try {
    return readFileSync(createRequire(import.meta.url).resolve(UPLOT_FILES[path]), 'utf8');
  } catch {
    return undefined;
  }
}

/** Every asset the page loads, as served (the 200 KB budget is checked on these). */
export function pageAssets(): Array<{ path: string; type: string; body: string | undefined }> {
  return [
    { path: '/', type: 'text/html; charset=utf-8', body: PAGE_HTML },
    { path: '/page.js', type: 'text/javascript; charset=utf-8', body: PAGE_JS },
    { path: '/page.css', type: 'text/css; charset=utf-8', body: PAGE_CSS },
    { path: '/uplot.js', type: 'text/javascript; charset=utf-8', body: readUplot('/uplot.js') },
    { path: '/uplot.css', type: 'text/css; charset=utf-8', body: readUplot('/uplot.css') },
  ];
}

export function pageRoutes(data?: PageData): HealthRoute[] {
  const routes: HealthRoute[] = pageAssets().map(({ path, type, body }) => ({
    path,
    answer: () =>
      body === undefined
        ? {
            code: 500,
            type: 'text/plain',
            body: `${path} is missing from this installation (uplot package)\n`,
          }
        : asset(type, body),
  }));
  if (data) {
    routes.push({
      path: '/history',
      // Compact JSON: the page fetches it every 2 s (about 10 KB for a full hour of three series).
      answer: () =>
        asset(
          'application/json',
          `${JSON.stringify({ ...data.history(), recent_events: data.recentEvents() })}\n`,
        ),
    });
  }
  // Browsers ask for it on their own; an empty answer keeps a 404 out of the console.
  routes.push({ path: '/favicon.ico', answer: () => ({ code: 204, type: 'image/x-icon', body: '' }) });
  return routes;
}
