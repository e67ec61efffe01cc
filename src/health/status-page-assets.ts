// The status page's HTML and stylesheet, kept as strings so `tsc` at `npm run build` carries them into dist/
// with no bundler or copy step; the browser script is in status-page-script.ts (re-exported here). The layout
// fits 1366x768 and a 10" tablet: flow and charts first (the answer to "is data flowing?"), then the tables.
// Every state is shown as text as well as by colour.
export { PAGE_JS } from './status-page-script.js';

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>plantgate status</title>
<link rel="stylesheet" href="/uplot.css">
<link rel="stylesheet" href="/page.css">
<script src="/uplot.js" defer></script>
<script src="/page.js" defer></script>
</head>
<body>
<header>
  <div class="title"><span id="gateway">plantgate</span> <span id="site" class="muted"></span></div>
  <div id="overall" class="state unknown">loading…</div>
  <div class="meta"><span id="version"></span> · up <span id="uptime"></span> · <span id="updated" class="muted"></span></div>
  <div id="unreachable" class="banner" hidden></div>
  <ul id="reasons"></ul>
</header>
<main>
<section>
  <h2>Flow</h2>
  <div id="flow" class="flow"></div>
</section>
<section>
  <h2 id="history-title">Last hour</h2>
  <div class="charts">
    <figure><figcaption>Ingest rate per source (samples/s)</figcaption><div id="chart-rate" class="chart"></div></figure>
    <figure><figcaption>Backlog per sink (records)</figcaption><div id="chart-backlog" class="chart"></div></figure>
    <figure><figcaption>Delivery latency per sink (ms, request round trip)</figcaption><div id="chart-latency" class="chart"></div></figure>
  </div>
</section>
<section>
  <h2>Sources</h2>
  <table id="sources"><thead><tr><th>source</th><th>state</th><th>rate/s</th><th>last sample</th><th>completeness</th><th>timeliness p50/p95</th><th>conformity</th><th>duplication</th><th>quarantined</th><th>detail</th></tr></thead><tbody></tbody></table>
</section>
<section>
  <h2>Sinks</h2>
  <table id="sinks"><thead><tr><th>sink</th><th>state</th><th>backlog</th><th>oldest</th><th>ETA to drain</th><th>last success</th><th>last error</th><th>ledger</th></tr></thead><tbody></tbody></table>
</section>
<section>
  <h2>Recent alarms and events <span class="muted">(newest first)</span></h2>
  <ol id="events" class="events"></ol>
</section>
</main>
</body>
</html>
`;

export const PAGE_CSS = `
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #1b1b1b; background: #f6f7f8; }
header { padding: 10px 16px; background: #fff; border-bottom: 1px solid #ccd; }
main { padding: 8px 16px; }
.title { font-size: 18px; font-weight: 600; }
.muted { color: #5a5f66; font-weight: normal; }
.meta { color: #3d4248; }
h2 { font-size: 16px; margin: 12px 0 4px; }
table { width: 100%; border-collapse: collapse; background: #fff; table-layout: fixed; }
th, td { padding: 4px 6px; border-bottom: 1px solid #e2e4e8; text-align: left; vertical-align: top; overflow-wrap: anywhere; white-space: pre-wrap; }
th { background: #eceef1; font-weight: 600; font-size: 13px; }
.state { display: inline-block; padding: 1px 8px; border-radius: 4px; font-weight: 600; }
#overall { font-size: 16px; margin: 4px 0; }
.ok { background: #cdeccf; color: #0d4a12; }
.degraded { background: #fbe7b5; color: #5c3d00; }
.failing { background: #f7c4c0; color: #6b0c05; }
.unknown { background: #dfe1e5; color: #333; }
.banner { background: #6b0c05; color: #fff; padding: 6px 10px; margin: 6px 0; font-weight: 600; }
#reasons { margin: 4px 0 0; padding-left: 20px; }
.flow { display: flex; align-items: center; background: #fff; border: 1px solid #e2e4e8; padding: 8px 0; }
.flow-col { display: flex; flex-direction: column; gap: 6px; }
.flow-sources, .flow-sinks { flex: 1 1 40%; min-width: 0; }
.flow-journal { flex: 0 1 24%; }
.flow-sources { border-right: 3px solid #8a9099; }
.flow-sinks { border-left: 3px solid #8a9099; }
.flow-row { display: flex; align-items: center; }
.node { flex: 0 1 210px; min-width: 0; max-width: 210px; border: 2px solid #8a9099; border-radius: 6px; padding: 3px 8px; font-size: 13px; }
.node.ok { border-color: #2e7d32; }
.node.degraded { border-color: #b07800; }
.node.failing { border-color: #b71c1c; }
.node-name { font-weight: 600; overflow-wrap: anywhere; }
.node-state { font-weight: 600; text-transform: uppercase; font-size: 12px; }
.node-why { overflow-wrap: anywhere; font-size: 12px; display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; line-clamp: 2; overflow: hidden; }
.link { flex: 1 1 auto; min-width: 16px; border-top: 3px solid #2e7d32; }
.link.broken { border-top: 3px dashed #b71c1c; }
.charts { display: flex; gap: 8px; }
.charts figure { flex: 1 1 0; min-width: 0; margin: 0; background: #fff; border: 1px solid #e2e4e8; padding: 4px; }
.charts figcaption { font-size: 13px; font-weight: 600; }
.chart { min-height: 150px; overflow: hidden; }
.chart .u-legend { font-size: 12px; }
.events { margin: 0; padding: 0; list-style: none; background: #fff; border: 1px solid #e2e4e8; max-height: 260px; overflow-y: auto; }
.event { display: flex; gap: 8px; padding: 3px 8px; border-bottom: 1px solid #eceef1; }
.event-time { flex: 0 0 auto; color: #3d4248; font-variant-numeric: tabular-nums; }
.event-level { flex: 0 0 auto; font-weight: 600; text-transform: uppercase; font-size: 12px; }
.event.alarm .event-level { color: #6b0c05; }
.event-subject { flex: 0 0 auto; font-weight: 600; }
.event-text { flex: 1 1 auto; min-width: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
td .state { overflow-wrap: normal; }
@media (max-width: 900px) {
  .charts { flex-direction: column; }
  .flow { flex-direction: column; align-items: stretch; padding: 4px; }
  .link { display: none; }
  .node { max-width: none; flex: 1 1 auto; }
  .flow-sources, .flow-sinks { border: 0; }
  th, td { font-size: 12px; padding: 3px 4px; }
  .state { padding: 1px 4px; }
}
`;
