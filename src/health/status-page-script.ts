// The status page's browser script, kept as a string so `tsc` at `npm run build` carries it into dist/ with no
// bundler. Plain ES2020: it polls /status and /history every 2 s and draws the header, the flow picture, the
// charts (uPlot, served by the daemon as /uplot.js), the tables and the recent events. Every value is written
// with textContent (never innerHTML) because signal names and receiver error bodies are untrusted text; styles
// come from page.css through class names only, so the CSP needs no inline style.

export const PAGE_JS = String.raw`'use strict';
(function () {
  var POLL_MS = 2000;
  var unreachableSince = null;
  var polls = 0;
  function $(id) { return document.getElementById(id); }
  function txt(el, s) { el.textContent = s == null ? '' : String(s); return el; }
  function el(tag, s, cls) { var e = document.createElement(tag); txt(e, s); if (cls) e.className = cls; return e; }
  function stateClass(s) {
    // A rate-limited sink delivers at the pace it was given: shown as ok, its state says why it is slow.
    if (s === 'ok' || s === 'connected' || s === 'rate-limited') return 'ok';
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
  function clock(iso) {
    var t = Date.parse(iso);
    return isFinite(t) ? new Date(t).toLocaleTimeString() : String(iso);
  }
  function num(x) { return x == null ? '—' : String(x); }
  // Backlog drains at the sink's recent delivery rate; the rate comes from two successive polls.
  var lastDelivered = {};
  function deliveryRate(id, sink, nowMs) {
    var delivered = sink.ledger ? sink.ledger.delivered : undefined;
    var prev = lastDelivered[id];
    lastDelivered[id] = { at: nowMs, delivered: delivered, rate: prev ? prev.rate : undefined };
    if (prev && delivered != null && prev.delivered != null && nowMs > prev.at) {
      var r = (delivered - prev.delivered) / ((nowMs - prev.at) / 1000);
      lastDelivered[id].rate = prev.rate == null ? r : 0.5 * prev.rate + 0.5 * r;
    }
    return lastDelivered[id].rate;
  }
  function eta(sink, rate) {
    if (!sink.backlog) return '—';
    if (sink.state === 'rate-limited' && sink.rate_limit && sink.rate_limit.drain_eta_s != null) {
      return dur(sink.rate_limit.drain_eta_s) + ' (rate-limited)';
    }
    if ((sink.state !== 'connected' && sink.state !== 'rate-limited') || !rate || rate <= 0) return 'not draining';
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
  function fill(parent, nodes) {
    while (parent.firstChild) parent.removeChild(parent.firstChild);
    nodes.forEach(function (n) { parent.appendChild(n); });
  }

  // ---- flow: sources -> journal -> sinks ----
  function flowNode(kind, id, state, cls, lines, why) {
    var n = el('div', null, 'node ' + cls);
    n.setAttribute('data-kind', kind);
    n.setAttribute('data-id', id);
    n.setAttribute('data-state', String(state));
    n.appendChild(el('div', id, 'node-name'));
    n.appendChild(el('div', state, 'node-state'));
    lines.forEach(function (l) { n.appendChild(el('div', l, 'node-line')); });
    if (why) {
      var w = el('div', why, 'node-why');
      w.setAttribute('title', why);
      n.appendChild(w);
    }
    return n;
  }
  function flowRow(node, cls, linkFirst) {
    var r = el('div', null, 'flow-row');
    var link = el('div', null, 'link' + (cls === 'ok' ? '' : ' broken'));
    if (linkFirst) { r.appendChild(link); r.appendChild(node); } else { r.appendChild(node); r.appendChild(link); }
    return r;
  }
  function renderFlow(doc, rates) {
    var sources = doc.sources || {}, sinks = doc.sinks || {}, j = doc.journal || {};
    var total = 0;
    var srcRows = Object.keys(sources).map(function (id) {
      var s = sources[id], cls = stateClass(s.state);
      total += s.rate_per_s || 0;
      var why = cls === 'ok' ? null : (s.last_error || s.detail || null);
      return flowRow(flowNode('source', id, s.state, cls, [num(s.rate_per_s) + ' /s'], why), cls, false);
    });
    var jState = j.damaged ? 'damaged' : j.blocked ? 'full, blocked' : 'ok';
    var jCls = j.damaged || j.blocked ? 'failing' : 'ok';
    var fillPct = j.max_bytes ? Math.round((j.bytes / j.max_bytes) * 1000) / 10 : null;
    var journal = flowNode('journal', 'journal', jState, jCls,
      [Math.round(total * 100) / 100 + ' /s in', num(j.records) + ' records', (fillPct == null ? '—' : fillPct + ' %') + ' full'], null);
    var sinkRows = Object.keys(sinks).map(function (id) {
      var k = sinks[id], cls = stateClass(k.state);
      var r = rates[id];
      var why = cls === 'ok' ? null : (k.config_problem || k.last_error || null);
      return flowRow(flowNode('sink', id, k.state, cls, [
        (r == null ? '—' : Math.round(r * 10) / 10) + ' /s out',
        'backlog ' + num(k.backlog),
        'oldest ' + (k.oldest_unacked_age_s == null ? '—' : dur(k.oldest_unacked_age_s)),
      ], why), cls, true);
    });
    if (srcRows.length === 0) srcRows.push(el('div', 'no sources', 'muted'));
    if (sinkRows.length === 0) sinkRows.push(el('div', 'no sinks', 'muted'));
    var cols = [el('div', null, 'flow-col flow-sources'), el('div', null, 'flow-col flow-journal'), el('div', null, 'flow-col flow-sinks')];
    fill(cols[0], srcRows);
    var jRow = el('div', null, 'flow-row');
    jRow.appendChild(el('div', null, 'link' + (jCls === 'ok' ? '' : ' broken')));
    jRow.appendChild(journal);
    jRow.appendChild(el('div', null, 'link' + (jCls === 'ok' ? '' : ' broken')));
    fill(cols[1], [jRow]);
    fill(cols[2], sinkRows);
    fill($('flow'), cols);
  }

  // ---- charts (uPlot) ----
  var COLOURS = ['#1f6fb2', '#c0392b', '#2e8b57', '#8e44ad', '#d35400', '#16a085', '#7f8c8d', '#b7950b'];
  var CHARTS = [
    { metric: 'ingest_rate_per_s', box: 'chart-rate' },
    { metric: 'backlog_records', box: 'chart-backlog' },
    { metric: 'latency_ms', box: 'chart-latency' },
  ];
  var plots = {};
  var xRange = null;
  function chartWidth(box) { return Math.max(200, box.clientWidth - 4); }
  function renderCharts(h) {
    if (typeof uPlot !== 'function') {
      CHARTS.forEach(function (c) { txt($(c.box), 'charts unavailable: /uplot.js did not load'); });
      return;
    }
    var t = (h.t || []).map(function (ms) { return ms / 1000; });
    // The x axis always spans the whole ring (an hour at the default interval), ending at the newest point, so
    // a young daemon's few points sit at the right instead of being stretched across the chart.
    var end = t.length ? t[t.length - 1] : Date.now() / 1000;
    var span = ((h.capacity || 360) * (h.interval_ms || 10000)) / 1000;
    xRange = [end - span, end];
    txt($('history-title'), 'Last ' + (span === 3600 ? 'hour' : span % 60 === 0 ? span / 60 + ' min' : dur(span)));
    CHARTS.forEach(function (c) {
      var box = $(c.box);
      var series = (h.series || []).filter(function (s) { return s.metric === c.metric; });
      var ids = series.map(function (s) { return s.id; });
      var key = ids.join('\u0000');
      var p = plots[c.metric];
      var data = [t].concat(series.map(function (s) { return s.values; }));
      box.setAttribute('data-series', JSON.stringify(ids));
      box.setAttribute('data-points', String(t.length));
      if (!p || p.key !== key) {
        if (p) p.plot.destroy();
        fill(box, []);
        var opts = {
          width: chartWidth(box),
          height: 150,
          legend: { live: false },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true, range: function (u, min, max) { return xRange || [min, max]; } } },
          axes: [{}, { size: 56 }],
          series: [{}].concat(ids.map(function (id, i) {
            return { label: id, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: false };
          })),
        };
        plots[c.metric] = { key: key, plot: new uPlot(opts, data, box) };
        if (ids.length === 0) box.appendChild(el('div', 'nothing measured yet', 'muted chart-empty'));
      } else {
        p.plot.setData(data);
      }
    });
  }
  window.addEventListener('resize', function () {
    CHARTS.forEach(function (c) {
      var p = plots[c.metric];
      if (p) p.plot.setSize({ width: chartWidth($(c.box)), height: 150 });
    });
  });

  // ---- recent alarms and events ----
  function renderEvents(list) {
    var items = (list || []).map(function (e) {
      var li = el('li', null, 'event ' + (e.level === 'alarm' ? 'alarm' : 'info'));
      li.setAttribute('data-kind', String(e.kind));
      li.appendChild(el('span', clock(e.at), 'event-time'));
      li.appendChild(el('span', e.level === 'alarm' ? 'alarm' : 'info', 'event-level'));
      li.appendChild(el('span', e.subject, 'event-subject'));
      li.appendChild(el('span', e.text, 'event-text'));
      return li;
    });
    if (items.length === 0) items.push(el('li', 'nothing yet', 'muted'));
    fill($('events'), items);
  }

  function render(doc) {
    var now = Date.now();
    txt($('gateway'), doc.gateway && doc.gateway.id);
    txt($('site'), doc.gateway && doc.gateway.site ? 'site ' + doc.gateway.site : '');
    var o = $('overall');
    txt(o, doc.status);
    o.className = 'state ' + stateClass(doc.status);
    o.setAttribute('data-state', String(doc.status));
    fill($('reasons'), (doc.reasons || []).map(function (r) { return el('li', r); }));
    var fp = doc.config && doc.config.fingerprint ? ' · config ' + doc.config.fingerprint : '';
    txt($('version'), 'version ' + (doc.version || '?') + fp);
    txt($('uptime'), dur(doc.uptime_s));
    txt($('updated'), 'updated ' + new Date(now).toLocaleTimeString());
    var sources = doc.sources || {};
    fill($('sources').tBodies[0], Object.keys(sources).map(function (id) {
      var s = sources[id], q = s.quality || {};
      var qr = s.quarantined_by_reason || {};
      var qtext = String(s.quarantined || 0) + Object.keys(qr).map(function (k) { return '\n' + k + ': ' + qr[k]; }).join('');
      var tr = row([id, el('span', s.state, 'state ' + stateClass(s.state)), s.rate_per_s == null ? '—' : s.rate_per_s,
        s.last_sample_age_s == null ? '—' : dur(s.last_sample_age_s) + ' ago', pct(q.completeness),
        q.timeliness_p50_ms == null ? '—' : q.timeliness_p50_ms + ' / ' + q.timeliness_p95_ms + ' ms',
        pct(q.conformity), pct(q.duplication), qtext,
        [s.detail, s.last_error ? 'last error ' + (s.last_error_at ? clock(s.last_error_at) : '') + ': ' + s.last_error : null].filter(Boolean).join('\n')]);
      tr.setAttribute('data-id', id);
      tr.setAttribute('data-state', String(s.state));
      return tr;
    }));
    var sinks = doc.sinks || {};
    var rates = {};
    fill($('sinks').tBodies[0], Object.keys(sinks).map(function (id) {
      var k = sinks[id], l = k.ledger || {};
      rates[id] = deliveryRate(id, k, now);
      var err = k.last_error ? (k.last_error_at ? clock(k.last_error_at) + ' (' + ago(k.last_error_at, now) + '): ' : '') + k.last_error : (k.past_error || '—');
      if (k.config_problem) err += '\n' + k.config_problem;
      var tr = row([id, el('span', k.state, 'state ' + stateClass(k.state)), k.backlog == null ? '—' : k.backlog,
        k.oldest_unacked_age_s == null ? '—' : dur(k.oldest_unacked_age_s), eta(k, rates[id]), ago(k.last_ack_at, now), err,
        (l.balanced ? 'balanced' : 'NOT balanced') + '\n' + l.ingested + ' in = ' + l.delivered + ' delivered + ' + l.queued + ' queued + ' + (l.dead_lettered || 0) + ' dead']);
      tr.setAttribute('data-id', id);
      tr.setAttribute('data-state', String(k.state));
      return tr;
    }));
    renderFlow(doc, rates);
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
  function getJson(path) {
    return fetch(path, { cache: 'no-store' }).then(function (res) {
      if (res.status === 503) throw new Error('daemon starting');
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    });
  }
  function poll() {
    getJson('/status').then(function (doc) {
      unreachableSince = null;
      $('unreachable').hidden = true;
      render(doc);
      return getJson('/history').then(function (h) {
        renderCharts(h);
        renderEvents(h.recent_events);
      });
    }).then(function () {
      polls += 1;
      document.body.setAttribute('data-polls', String(polls));
    }).catch(function (e) {
      unreachable(e && e.message ? e.message : String(e));
    }).then(function () { setTimeout(poll, POLL_MS); });
  }
  document.addEventListener('DOMContentLoaded', poll);
})();
`;
