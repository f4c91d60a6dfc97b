// Harrier console: one page, views chosen by ?view=..., filters in the URL.
'use strict';
const $ = (s) => document.querySelector(s);
const FACETS = ['priority', 'rule', 'source', 'hostname', 'tag', 'container', 'pod', 'namespace'];
const PRIOS = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];
const COLORS = {Emergency: '#7b0d1e', Alert: '#a4161a', Critical: '#d62828', Error: '#e76f51', Warning: '#f4a261', Notice: '#2a9d8f', Informational: '#4d8fd6', Debug: '#9aa5b1'};
let me = null, live = null, oldest = 0;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : String(k ?? ''));
  return e;
}

async function api(path, opts = {}) {
  opts.headers = Object.assign({'Accept': 'application/json'}, opts.headers || {});
  if (opts.method && opts.method !== 'GET') {
    opts.headers['Content-Type'] = 'application/json';
    if (me) opts.headers['X-CSRF-Token'] = me.csrf;
  }
  const r = await fetch('/ui/api/' + path, opts);
  const body = r.status === 204 ? {} : await r.json().catch(() => ({}));
  if (r.status === 401 && path !== 'login') { showLogin(body.oidc_login); throw new Error('sign in first'); }
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function params() { return new URLSearchParams(location.search); }
function filterParams() {
  const p = params(), out = new URLSearchParams();
  for (const [k, v] of p) if (k !== 'view' && k !== 'alert' && v) out.append(k, v);
  if (!p.has('from') && !p.has('all')) out.set('from', '24h');
  if (p.get('from') === '') out.delete('from');
  return out;
}
function go(q, push = true) {
  const url = '?' + q.toString();
  if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
  route();
}

function fieldOf(a, k) { const v = (a.output_fields || {})[k]; return v == null ? '' : String(v); }
function prio(p) { return el('span', {class: 'prio p-' + p}, p); }
function when(t) { const d = new Date(t); return isNaN(d) ? '' : d.toLocaleString(); }

function alertRow(hit) {
  const a = hit.alert, ns = fieldOf(a, 'k8s.ns.name');
  return el('tr', {class: 'alert-row' + (hit.muted ? ' is-muted' : ''), title: hit.muted ? 'muted incident' : '', 'data-priority': a.priority, 'data-namespace': ns, 'data-rule': a.rule, 'data-id': a.uuid || '',
    onclick: () => { const q = params(); q.set('view', 'alert'); q.set('alert', hit.seq || a.uuid); go(q); }},
    el('td', {}, when(a.time)), el('td', {}, prio(a.priority)), el('td', {}, a.rule), el('td', {}, a.hostname || ''),
    el('td', {}, ns), el('td', {class: 'out', title: a.output}, a.output));
}

function showLogin(oidc) {
  document.querySelectorAll('.view').forEach((v) => v.hidden = true);
  if (oidc !== undefined) $('#oidc-login').hidden = !oidc;
  $('#filters').hidden = true;
  $('#login').hidden = false;
}

async function loadMe() {
  try { me = await api('me'); } catch (e) { me = null; return false; }
  $('#who').replaceChildren(me.user + ' (' + me.role + ')');
  if (!me.open) $('#who').append(el('button', {class: 'secondary', onclick: async () => {
    const r = await api('logout', {method: 'POST'}); me = null;
    if (r.logout_url) location.assign(r.logout_url); else showLogin(); // the provider ends its session too
  }}, 'Sign out'));
  document.body.classList.toggle('can-respond', me.role === 'responder');
  return true;
}

function fillFilters() {
  const p = params(), f = $('#filters');
  for (const k of ['from', ...FACETS, 'q']) if (f.elements[k]) f.elements[k].value = p.has(k) ? p.get(k) : (k === 'from' ? '24h' : '');
}

async function route() {
  if (live) { live.close(); live = null; }
  $('#error').textContent = '';
  $('#login').hidden = true;
  const view = params().get('view') || 'live';
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.view === view));
  document.querySelectorAll('.view').forEach((v) => v.hidden = v.id !== 'view-' + view);
  $('#filters').hidden = !(view === 'live' || view === 'search');
  fillFilters();
  try {
    await ({live: showLive, search: showSearch, alert: showAlert, incidents: showIncidents, deadletters: showDeadLetters, sensors: showSensors}[view] || showLive)();
  } catch (e) { $('#error').textContent = e.message; }
}

async function showLive() {
  const rows = $('#live-rows');
  const q = filterParams(); q.set('limit', '50'); q.delete('muted'); // live never shows muted incidents
  const res = await api('search?' + q);
  rows.replaceChildren(...res.alerts.map(alertRow));
  q.delete('from'); q.delete('limit');
  live = new EventSource('/ui/api/stream?' + q);
  live.onopen = () => { $('#live-state').textContent = 'connected'; };
  live.onerror = () => {
    $('#live-state').textContent = 'reconnecting...';
    // A refused stream (the session ended, e.g. with its ID token) is not
    // retried by the browser: check the session, which offers sign-in.
    const es = live;
    if (es.readyState === EventSource.CLOSED) setTimeout(async () => { if (live === es && await loadMe()) route(); }, 2000);
  };
  live.addEventListener('alert', (ev) => {
    const a = JSON.parse(ev.data);
    rows.prepend(alertRow({alert: a, seq: a.uuid}));
    while (rows.children.length > 200) rows.lastChild.remove();
  });
}

async function showSearch(append) {
  const q = filterParams();
  if (append && oldest) q.set('before', oldest);
  const res = await api('search?' + q);
  const rows = $('#search-rows');
  if (!append) rows.replaceChildren();
  rows.append(...res.alerts.map(alertRow));
  oldest = res.next_before || 0;
  const seen = res.alerts.length + res.muted_hidden, lim = Number(q.get('limit')) || 100;
  $('#more').hidden = !oldest || seen < lim || (!append && seen >= res.total);
  if (!append) {
    const showing = params().get('muted') === 'show';
    $('#muted-note').hidden = !res.muted_hidden && !showing;
    $('#muted-note').replaceChildren(showing ? 'Alerts of muted incidents are shown, marked. ' : res.muted_hidden + ' alerts of muted incidents hidden. ',
      el('a', {id: 'muted-toggle', href: '#', onclick: (e) => { e.preventDefault(); const p = params(); if (showing) p.delete('muted'); else p.set('muted', 'show'); go(p); }}, showing ? 'Hide them' : 'Show them'));
    $('#total').textContent = res.total + ' matching of ' + res.indexed + ' indexed';
    chart(res.timeline);
    facets(res.counts);
  }
}

function chart(tl) {
  const W = 600, H = 110, n = tl.length || 1, bw = W / n;
  let maxv = 1;
  for (const b of tl) { let s = 0; for (const v of Object.values(b.by_priority)) s += v; maxv = Math.max(maxv, s); }
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`); svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img'); svg.setAttribute('aria-label', 'Alerts over time by priority');
  tl.forEach((b, i) => {
    let y = H;
    for (const p of PRIOS) {
      const v = b.by_priority[p] || 0; if (!v) continue;
      const h = v / maxv * (H - 4);
      y -= h;
      const r = document.createElementNS(NS, 'rect');
      r.setAttribute('x', i * bw + 1); r.setAttribute('y', y); r.setAttribute('width', Math.max(bw - 2, 1)); r.setAttribute('height', h);
      r.setAttribute('fill', COLORS[p]);
      const t = document.createElementNS(NS, 'title'); t.textContent = `${when(b.start)} ${p}: ${v}`; r.append(t);
      svg.append(r);
    }
  });
  const legend = el('div', {class: 'legend'}, ...PRIOS.map((p) => { const i = el('i'); i.style.background = COLORS[p]; return el('span', {}, i, p); }));
  $('#chart').replaceChildren(svg, legend);
}

function facets(counts) {
  const aside = $('#facets');
  aside.replaceChildren();
  const titles = {rule: 'Top rules', hostname: 'Top hosts', namespace: 'Top namespaces', priority: 'Priority', source: 'Source', tag: 'Tags', container: 'Containers', pod: 'Pods'};
  for (const f of ['rule', 'hostname', 'namespace', 'priority', 'source', 'tag', 'container', 'pod']) {
    const cs = (counts[f] || []).filter((c) => c.value !== '');
    if (!cs.length) continue;
    aside.append(el('h3', {}, titles[f]), el('ul', {class: 'facet-' + f}, ...cs.map((c) => el('li', {},
      el('a', {title: c.value, onclick: () => { const q = params(); q.set(f, c.value); q.set('view', 'search'); go(q); }}, c.value), el('span', {class: 'muted'}, c.count)))));
  }
}

async function showAlert() {
  const key = params().get('alert');
  const res = await api('alerts/' + encodeURIComponent(key));
  const a = res.alert;
  $('#alert-title').replaceChildren(prio(a.priority), ' ', a.rule);
  const kv = [['time', a.time], ['priority', a.priority], ['rule', a.rule], ['source', a.source], ['hostname', a.hostname],
    ['tags', (a.tags || []).join(', ')], ['output', a.output], ['sensor', res.sensor_id], ['ruleset', res.ruleset_version], ['journal seq', res.seq]];
  for (const [k, v] of Object.entries(a.output_fields || {})) kv.push([k, v == null ? '<NA>' : String(v)]);
  $('#alert-fields').replaceChildren(...kv.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, v))));
  $('#alert-raw').textContent = JSON.stringify(a, null, 2);
  $('#alert-filter').textContent = res.filter;
  $('#alert-link').setAttribute('href', '?view=search&' + res.filter);
  $('#copy-filter').onclick = () => navigator.clipboard && navigator.clipboard.writeText(location.origin + '/ui/?view=search&' + res.filter);
}

async function showIncidents() {
  const res = await api('incidents');
  const set = async (key, body) => { await api('incidents/' + key, {method: 'POST', body: JSON.stringify(body)}); showIncidents(); };
  $('#incident-rows').replaceChildren(...res.incidents.map((i) => el('tr', {class: 'incident', 'data-key': i.key, 'data-state': i.state, 'data-rule': i.rule},
    el('td', {class: 'state-' + i.state}, i.state, i.by ? el('div', {class: 'muted'}, 'by ' + i.by) : ''),
    el('td', {}, prio(i.priority)),
    el('td', {}, el('a', {href: '?view=search&' + i.filter}, i.rule)),
    el('td', {}, Object.entries(i.fields || {}).map(([k, v]) => k + '=' + v).join(' ')),
    el('td', {class: 'count'}, i.count), el('td', {class: 'sensors'}, (i.sensors || []).length),
    el('td', {}, when(i.first_seen)), el('td', {}, when(i.last_seen)),
    el('td', {class: 'responder'},
      el('button', {class: 'ack', onclick: () => set(i.key, {state: 'acknowledged'})}, 'Ack'), ' ',
      el('button', {class: 'resolve', onclick: () => set(i.key, {state: 'resolved'})}, 'Resolve'), ' ',
      i.state === 'muted'
        ? el('button', {class: 'unmute secondary', title: 'muted until ' + when(i.muted_until), onclick: () => set(i.key, {state: 'open'})}, 'Unmute')
        : el('button', {class: 'mute secondary', onclick: () => set(i.key, {state: 'muted', mute_for: '1h'})}, 'Mute 1h')))));
}

async function showDeadLetters() {
  const res = await api('deadletters');
  $('#dl-total').textContent = res.total + ' stored';
  const replay = async (output) => {
    try {
      const r = await api('deadletters/replay', {method: 'POST', body: JSON.stringify({output})});
      $('#replay-result').textContent = `replayed ${r.replayed}, failed ${r.failed}`;
      showDeadLetters();
    } catch (e) { $('#replay-result').textContent = e.message; }
  };
  $('#replay-all').onclick = () => replay('');
  $('#dl-rows').replaceChildren(...res.dead_letters.map((l) => el('tr', {class: 'dead-letter'},
    el('td', {}, when(l.time)), el('td', {}, l.output), el('td', {}, l.alert.rule), el('td', {}, l.reason),
    el('td', {class: 'responder'}, el('button', {onclick: () => replay(l.output)}, 'Replay ' + l.output)))));
}

async function showSensors() {
  const res = await api('sensors');
  $('#sensor-rows').replaceChildren(...res.sensors.map((s) => el('tr', {class: 'sensor'},
    el('td', {}, s.id), el('td', {}, s.hostname), el('td', {}, s.connected ? 'yes' : 'no'), el('td', {}, when(s.last_seen)),
    el('td', {}, s.version || ''), el('td', {}, s.ruleset_version || ''), el('td', {}, s.alerts))));
}

document.addEventListener('DOMContentLoaded', async () => {
  $('#nav').addEventListener('click', (e) => {
    const a = e.target.closest('a'); if (!a) return;
    e.preventDefault();
    const q = filterParams(); q.delete('before'); q.set('view', a.dataset.view); go(q);
  });
  $('#filters').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    q.set('view', params().get('view') || 'live');
    for (const [k, v] of new FormData(e.target)) if (v || k === 'from') q.set(k, v);
    go(q);
  });
  $('#clear').onclick = () => go(new URLSearchParams({view: params().get('view') || 'live'}));
  $('#more').onclick = () => showSearch(true).catch((e) => { $('#error').textContent = e.message; });
  $('#login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await api('login', {method: 'POST', body: JSON.stringify({user: f.get('user'), password: f.get('password')})});
      await loadMe(); route();
    } catch (err) { $('#login-error').textContent = err.message; }
  });
  window.addEventListener('popstate', route);
  if (await loadMe()) route(); else showLogin();
});
