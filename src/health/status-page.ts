// The operator's status page on the health listener (issue 16): `GET /` plus its script and stylesheet, all
// served from the daemon because plant networks are closed. The page only reads /status (polled), so it adds
// no action to this read-only listener. Every answer carries a Content-Security-Policy that forbids inline
// script and any other origin: text from devices and receivers can then never run even if it reached the DOM
// as markup (the client also sets it with textContent only).
import type { HealthAnswer, HealthRoute } from './health-server.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './status-page-assets.js';

/** Same-origin only, no inline script or style, no framing: the page needs nothing else. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const asset = (type: string, body: string): HealthAnswer => ({
  code: 200,
  type,
  body,
  headers: { 'content-security-policy': PAGE_CSP, 'x-content-type-options': 'nosniff' },
});

export function pageRoutes(): HealthRoute[] {
  return [
    { path: '/', answer: () => asset('text/html; charset=utf-8', PAGE_HTML) },
    { path: '/page.js', answer: () => asset('text/javascript; charset=utf-8', PAGE_JS) },
    { path: '/page.css', answer: () => asset('text/css; charset=utf-8', PAGE_CSS) },
    // Browsers ask for it on their own; an empty answer keeps a 404 out of the console.
    { path: '/favicon.ico', answer: () => ({ code: 204, type: 'image/x-icon', body: '' }) },
  ];
}
