// The status page's HTML, stylesheet and browser script, kept as strings so `tsc` at `npm run build` carries
// them into dist/ with no bundler or copy step. The script is plain ES2020 for the browser: it polls /status
// every 2 s and writes every value with textContent (never innerHTML), because signal names and receiver error
// bodies are untrusted text.

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>plantgate status</title>
<link rel="stylesheet" href="/page.css">
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
  <h2>Sources</h2>
  <table id="sources"><thead><tr><th>source</th><th>state</th><th>rate/s</th><th>last sample</th><th>completeness</th><th>timeliness p50/p95</th><th>conformity</th><th>duplication</th><th>quarantined</th><th>detail</th></tr></thead><tbody></tbody></table>
</section>
<section>
  <h2>Sinks</h2>
  <table id="sinks"><thead><tr><th>sink</th><th>state</th><th>backlog</th><th>oldest</th><th>ETA to drain</th><th>last success</th><th>last error</th><th>ledger</th></tr></thead><tbody></tbody></table>
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
`;

export const PAGE_JS = `'use strict';
(function () {
  var POLL_MS = 2000;
  var unreachableSince = null;
  function $(id) { return document.getElementById(id); }
  function txt(el, s) { el.textContent = s == null ? '' : String(s); return el; }
  function el(tag, s, cls) { var e = document.createElement(tag); txt(e, s); if (cls) e.className = cls; return e; }
  function stateClass(s) {
    if (s === 'ok' || s === 'connected') return 'ok';
    if (s === 'failing' || s === 'down') return 'failing';
    if (s == null || s === 'stopped') return 'unknown';
    return 'degraded';
  }
  function dur(s) {
    if (s == null || !isFinite(s)) return '—';
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    var h = Math.floor(s / 3600);
    if (h < 48) return h + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }
  function pct(x) { return x == null ? '—' : (x * 100).toFixed(1) + ' %'; }
  function ago(iso, now) {
    if (!iso) return '—';
    var t = Date.parse(iso);
    return isFinite(t) ? dur((now - t) / 1000) + ' ago' : String(iso);
  }
  // Backlog drains at the sink's recent delivery rate; the rate comes from two successive polls.
  var lastDelivered = {};
  function eta(id, sink, nowMs) {
    var delivered = sink.ledger ? sink.ledger.delivered : undefined;
    var prev = lastDelivered[id];
    lastDelivered[id] = { at: nowMs, delivered: delivered, rate: prev ? prev.rate : undefined };
    if (prev && delivered != null && prev.delivered != null && nowMs > prev.at) {
      var r = (delivered - prev.delivered) / ((nowMs - prev.at) / 1000);
      lastDelivered[id].rate = prev.rate == null ? r : 0.5 * prev.rate + 0.5 * r;
    }
    if (!sink.backlog) return '—';
    var rate = lastDelivered[id].rate;
    if (sink.state !== 'connected' || !rate || rate <= 0) return 'not draining';
    return dur(sink.backlog / rate);
  }
  function row(cells) {
    var tr = document.createElement('tr');
    for (var i = 0; i < cells.length; i++) {
      var c = cells[i];
      tr.appendChild(c instanceof Node ? wrap(c) : el('td', c));
    }
    return tr;
  }
  function wrap(node) { var td = document.createElement('td'); td.appendChild(node); return td; }
  function fill(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function render(doc) {
    var now = Date.now();
    txt($('gateway'), doc.gateway && doc.gateway.id);
    txt($('site'), doc.gateway && doc.gateway.site ? 'site ' + doc.gateway.site : '');
    var o = $('overall');
    txt(o, doc.status);
    o.className = 'state ' + stateClass(doc.status);
    o.setAttribute('data-state', String(doc.status));
    var reasons = $('reasons');
    fill(reasons, (doc.reasons || []).map(function (r) { return el('li', r); }));
    var fp = doc.config && doc.config.fingerprint ? ' · config ' + doc.config.fingerprint : '';
    txt($('version'), 'version ' + (doc.version || '?') + fp);
    txt($('uptime'), dur(doc.uptime_s));
    txt($('updated'), 'updated ' + new Date(now).toLocaleTimeString());
    var sources = doc.sources || {};
    fill($('sources').tBodies[0], Object.keys(sources).map(function (id) {
      var s = sources[id], q = s.quality || {};
      var qr = s.quarantined_by_reason || {};
      var qtext = String(s.quarantined || 0) + Object.keys(qr).map(function (k) { return '\\n' + k + ': ' + qr[k]; }).join('');
      var tr = row([id, el('span', s.state, 'state ' + stateClass(s.state)), s.rate_per_s == null ? '—' : s.rate_per_s,
        s.last_sample_age_s == null ? '—' : dur(s.last_sample_age_s) + ' ago', pct(q.completeness),
        q.timeliness_p50_ms == null ? '—' : q.timeliness_p50_ms + ' / ' + q.timeliness_p95_ms + ' ms',
        pct(q.conformity), pct(q.duplication), qtext,
        [s.detail, s.last_error ? 'last error ' + (s.last_error_at || '') + ': ' + s.last_error : null].filter(Boolean).join('\\n')]);
      tr.setAttribute('data-id', id);
      tr.setAttribute('data-state', String(s.state));
      return tr;
    }));
    var sinks = doc.sinks || {};
    fill($('sinks').tBodies[0], Object.keys(sinks).map(function (id) {
      var k = sinks[id], l = k.ledger || {};
      var err = k.last_error ? (k.last_error_at ? k.last_error_at + ': ' : '') + k.last_error : (k.past_error || '—');
      if (k.config_problem) err += '\\n' + k.config_problem;
      var tr = row([id, el('span', k.state, 'state ' + stateClass(k.state)), k.backlog == null ? '—' : k.backlog,
        k.oldest_unacked_age_s == null ? '—' : dur(k.oldest_unacked_age_s), eta(id, k, now), ago(k.last_ack_at, now), err,
        (l.balanced ? 'balanced' : 'NOT balanced') + '\\n' + l.ingested + ' in = ' + l.delivered + ' delivered + ' + l.queued + ' queued + ' + (l.dead_lettered || 0) + ' dead']);
      tr.setAttribute('data-id', id);
      tr.setAttribute('data-state', String(k.state));
      return tr;
    }));
  }
  function unreachable(why) {
    if (unreachableSince == null) unreachableSince = new Date();
    var b = $('unreachable');
    b.hidden = false;
    txt(b, 'daemon unreachable since ' + unreachableSince.toLocaleTimeString() + ' (' + why + ')');
    var o = $('overall');
    o.className = 'state unknown';
    o.setAttribute('data-state', 'unreachable');
  }
  function poll() {
    fetch('/status', { cache: 'no-store' }).then(function (res) {
      if (res.status === 503) throw new Error('daemon starting');
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    }).then(function (doc) {
      unreachableSince = null;
      $('unreachable').hidden = true;
      render(doc);
    }).catch(function (e) {
      unreachable(e && e.message ? e.message : String(e));
    }).then(function () { setTimeout(poll, POLL_MS); });
  }
  document.addEventListener('DOMContentLoaded', poll);
})();
`;
