// The embedded host's dashboard: reads the status API on this (loopback admin) port every 2 s and redraws.
// Plain DOM, no framework and no build step; every value from the API is set as text, never as HTML.
'use strict';

const REFRESH_MS = 2000;
const TRAFFIC_MINUTES = 120;

// unavailableToo: the router's health answers 503 with its document while it cannot route; that is what to show.
async function get(path, unavailableToo = false) {
  const response = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } });
  if (!response.ok && !(unavailableToo && response.status === 503)) {
    throw new Error(`${path} answered ${response.status}`);
  }
  return response.json();
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) {
      node.setAttribute(name, value);
    }
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function svg(tag, attributes) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    node.setAttribute(name, value);
  }
  return node;
}

const time = (iso) => (iso ? new Date(iso).toISOString().slice(11, 16) : '–');
const minutes = (span) => { const [h, m, s] = String(span).split(':').map(Number); return h * 60 + m + (s || 0) / 60; };

function table(headers, rows, testId) {
  return el('table', { 'data-testid': testId },
    el('thead', null, el('tr', null, headers.map((h) => el('th', null, h)))),
    el('tbody', null, rows.length ? rows : [el('tr', null, el('td', { colspan: headers.length, class: 'muted' }, 'none'))]));
}

function endpointRows(status, health) {
  const routing = status.routingTable || { production: [], shadows: [] };
  const probes = new Map((health?.endpoints || []).filter((e) => e.service === status.service).map((e) => [e.id, e]));
  const all = [
    ...(routing.production || []).map((e) => ({ id: e.id, role: 'production', address: e.address })),
    ...(routing.shadows || []).map((e) => ({ id: e.id, role: 'shadow', address: e.address })),
    ...(routing.default ? [{ id: routing.default.id, role: 'default', address: routing.default.address }] : []),
  ];
  return all.map((e) => {
    const probe = probes.get(e.id);
    const available = probe ? (probe.available ? 'available' : 'unavailable') : '–';
    return el('tr', { 'data-endpoint': e.id },
      el('td', null, e.id), el('td', null, e.role), el('td', null, e.address),
      el('td', { class: probe ? (probe.available ? 'ok' : 'bad') : '' }, `${available}${probe ? ` (${probe.probe})` : ''}${probe?.ejectedUntil ? `, ejected until ${time(probe.ejectedUntil)}` : ''}`),
      el('td', null, probe ? probe.inFlight : '–'),
      el('td', null, probe && probe.latencyEwmaMs != null ? `${probe.latencyEwmaMs.toFixed(1)} ms` : '–'));
  });
}

function shadowRows(status) {
  return (status.shadows || []).map((s) => el('tr', { 'data-shadow': s.id },
    el('td', null, s.id),
    el('td', { class: `phase ${s.phase}`, 'data-testid': 'phase' }, s.phase),
    el('td', null, time(s.phaseSince)),
    el('td', { class: s.verdict || '' }, s.verdict || '–'),
    el('td', { class: 'muted' }, (s.reasons || []).slice(0, 2).join('; '))));
}

function requestRows(status) {
  return (status.requests || []).map((r) => el('tr', null,
    el('td', null, r.request.id),
    el('td', null, r.request.count),
    el('td', null, `${time(r.request.windowStart)}–${time(r.request.windowEnd)}`),
    el('td', null, (r.request.kinds || []).join(', ')),
    el('td', null, r.plan ? r.plan.decision : 'pending'),
    el('td', null, r.workflow ? `${r.workflow.runtimeStatus}${r.workflow.phase ? ` (${r.workflow.phase})` : ''}` : '–')));
}

// Actual demand per minute from the router's records, and the PAE's latest forecast per minute (p50 and the p90 band).
function demandChart(status, traffic) {
  const width = 800, height = 180, left = 36, bottom = 16;
  const actual = (traffic.minutes || []).map((m) => ({ t: Date.parse(m.minute), v: m.production + m.shadow + m.default }));
  const forecast = status.forecast;
  const perMinute = forecast ? minutes(forecast.step) : 1;
  const points = (forecast?.points || []).map((p) => ({ t: Date.parse(p.time), p50: p.p50 / perMinute, p90: p.p90 / perMinute }));
  const capacity = forecast?.productionCapacity != null ? forecast.productionCapacity / perMinute : null;
  const times = [Date.parse(traffic.from), Date.parse(traffic.to), ...points.map((p) => p.t)];
  const t0 = Math.min(...times), t1 = Math.max(...times);
  const top = Math.max(1, ...actual.map((a) => a.v), ...points.map((p) => p.p90), capacity || 0) * 1.1;
  const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (width - left - 4);
  const y = (v) => height - bottom - (v / top) * (height - bottom - 4);
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', 'data-testid': 'demand-chart' });
  if (points.length > 1) {
    const band = points.map((p) => `${x(p.t)},${y(p.p90)}`).concat([...points].reverse().map((p) => `${x(p.t)},${y(p.p50)}`));
    chart.append(svg('polygon', { class: 'band', points: band.join(' ') }));
    chart.append(svg('polyline', { class: 'p50', points: points.map((p) => `${x(p.t)},${y(p.p50)}`).join(' ') }));
  }
  if (actual.length > 1) {
    chart.append(svg('polyline', { class: 'actual', points: actual.map((a) => `${x(a.t)},${y(a.v)}`).join(' ') }));
  }
  if (capacity != null) {
    chart.append(svg('line', { class: 'capacity', x1: left, x2: width - 4, y1: y(capacity), y2: y(capacity) }));
  }
  const now = Date.parse(traffic.to);
  chart.append(svg('line', { class: 'now', x1: x(now), x2: x(now), y1: 0, y2: height - bottom }));
  for (const [value, label] of [[0, '0'], [top / 1.1, (top / 1.1).toFixed(0)]]) {
    const text = svg('text', { x: 2, y: y(value) + 3 });
    text.textContent = label;
    chart.append(text);
  }
  for (const t of [t0, now, t1]) {
    const text = svg('text', { x: Math.min(x(t), width - 30), y: height - 3 });
    text.textContent = time(new Date(t).toISOString());
    chart.append(text);
  }
  return chart;
}

function split(traffic) {
  // The last recorded minute: who served the requests.
  const last = (traffic.minutes || []).at(-1);
  if (!last) {
    return el('p', { class: 'muted', 'data-testid': 'split' }, 'no traffic recorded yet');
  }
  const total = Math.max(1, last.production + last.shadow + last.default);
  const parts = [['production', last.production], ['shadow', last.shadow], ['default', last.default]];
  return el('div', { 'data-testid': 'split' },
    el('div', { class: 'split' }, parts.map(([name, n]) => {
      const bar = el('span', { class: name });
      bar.style.width = `${(100 * n) / total}%`; // through CSSOM: the page's CSP allows no inline style attributes
      return bar;
    })),
    el('div', { class: 'legend' }, parts.map(([name, n]) => el('span', null, el('i', { class: name }), `${name} ${((100 * n) / total).toFixed(0)} %`)),
      el('span', null, `errors ${last.errors}`), el('span', { class: 'muted' }, `minute ${time(last.minute)}`)));
}

function service(status, traffic, health) {
  const forecast = status.forecast;
  const why = status.pae?.decision || status.pae?.problem;
  return el('section', { class: 'service', 'data-service': status.service },
    el('h2', null, status.service),
    el('div', { class: 'grid' },
      el('div', null,
        el('h3', null, 'Endpoints'),
        table(['id', 'role', 'address', 'health', 'in flight', 'latency'], endpointRows(status, health), 'endpoints'),
        el('h3', null, 'Shadows'),
        table(['shadow', 'phase', 'since', 'verdict', 'why'], shadowRows(status), 'shadows'),
        el('h3', null, 'Shadow requests'),
        table(['request', 'count', 'window', 'kinds', 'decision', 'workflow'], requestRows(status), 'requests')),
      el('div', null,
        el('h3', null, 'Requests per minute: as the router recorded them (black; retried attempts count twice), forecast p50 (red) and p50–p90 (band), production capacity (dashed)'),
        demandChart(status, traffic),
        el('p', { class: 'muted' }, forecast ? `forecast made ${time(forecast.generatedAt)} by ${forecast.method}; ${why || ''}` : 'no forecast yet'),
        el('h3', null, 'Routing split'),
        split(traffic))));
}

async function refresh() {
  const refreshed = document.getElementById('refreshed');
  try {
    const [tables, health] = await Promise.all([get('/api/routing'), get('/api/health', true).catch(() => null)]);
    const sections = await Promise.all(tables.map(async (t) => {
      const name = encodeURIComponent(t.service);
      const [status, traffic] = await Promise.all([get(`/api/services/${name}`), get(`/api/services/${name}/traffic?minutes=${TRAFFIC_MINUTES}`)]);
      return service(status, traffic, health);
    }));
    document.getElementById('services').replaceChildren(...(sections.length ? sections : [el('p', { class: 'muted' }, 'No routing tables stored yet.')]));
    const router = document.getElementById('router-status');
    router.textContent = health ? `router ${health.status}` : 'router: no health on this port';
    router.className = `pill ${health?.status || ''}`;
    refreshed.textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    refreshed.textContent = `could not refresh: ${error.message}`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
