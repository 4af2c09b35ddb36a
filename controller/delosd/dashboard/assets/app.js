// app.js: the dashboard page's logic. Reads the JSON API, renders with DOM text nodes only
// (never HTML from data: names come from guests and requests), refreshes on the server's
// "change" events (/api/stream) and falls back to polling when the stream is down.
'use strict';

const state = {
  bucketOffset: 0,
  bucketLimit: 25,
  bucketSort: 'last',
  bucketCell: '',
  openBucket: null,      // id of the bucket shown in detail
  bucketBefore: 0,       // paging cursor of its fault list
  openFault: null,       // {host, sequence}
  timelineWindow: 3600,
  localHost: '',
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === 'class') node.className = value;
    else if (key === 'onclick') node.addEventListener('click', value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function replace(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
}

async function api(path) {
  const response = await fetch(path, { cache: 'no-store' });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function when(ms) {
  if (!ms) return '-';
  const date = new Date(Number(ms));
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function ago(ms) {
  if (!ms) return '-';
  const seconds = Math.max(0, Math.round((Date.now() - Number(ms)) / 1000));
  return duration(seconds * 1000) + ' ago';
}

function duration(ms) {
  if (ms === null || ms === undefined) return '-';
  let s = Math.floor(Number(ms) / 1000);
  const d = Math.floor(s / 86400); s %= 86400;
  const h = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function hex(value) {
  if (value === undefined || value === null || value === '') return '0x0';
  try { return '0x' + BigInt(value).toString(16); } catch (e) { return String(value); }
}

function shortKind(kind) { return String(kind || '').replace(/^FAULT_KIND_/, '').toLowerCase().replace(/_/g, '-'); }
function shortState(s) { return String(s || '').replace(/^VM_STATE_|^ROLLOUT_STATE_/, '').toLowerCase(); }

// ---- panels ----------------------------------------------------------------------------

async function renderOverview() {
  const o = await api('/api/overview');
  state.localHost = o.host;
  replace(document.getElementById('local-host'), '· ' + o.host);
  const card = (label, value, bad) => el('div', { class: 'card' + (bad ? ' bad' : '') }, el('b', {}, value), label);
  replace(document.getElementById('overview-cards'),
    card('hosts' + (o.hosts_unreachable ? `, ${o.hosts_unreachable} unreachable` : ''), o.hosts, o.hosts_unreachable > 0),
    card(`guests running of ${o.vms}`, o.vms_running, o.vms_running < o.vms),
    card('faults', o.faults, o.faults > 0),
    card('buckets', o.buckets, false),
    card('rollouts in progress', o.rollouts_available ? o.rollouts_active : 'n/a', false));
}

async function renderHosts() {
  const data = await api('/api/hosts');
  const body = document.getElementById('hosts-body');
  const blocks = data.hosts.map((host) => {
    const title = el('h3', {}, host.name, ' ',
      el('span', { class: 'badge' + (host.reachable ? '' : ' bad') }, host.reachable ? 'reachable' : 'unreachable'), ' ',
      el('small', {}, host.local ? 'this delosd' : host.address),
      host.version ? el('small', {}, ` · ${host.version}, up ${duration(host.uptime_ms)}`) : null);
    const parts = [title];
    if (!host.reachable) parts.push(el('p', { class: 'empty' }, host.error, host.last_reachable_unix_ms ? ` (last reachable ${ago(host.last_reachable_unix_ms)})` : ''));
    if (host.fault_watch_error && host.reachable) parts.push(el('p', { class: 'empty' }, host.fault_watch_error));
    if (host.vms.length) {
      const rows = host.vms.map((vm) => el('tr', {},
        el('td', {}, vm.name), el('td', {}, vm.runner),
        el('td', { class: 'state-' + vm.state }, shortState(vm.state)),
        el('td', { title: vm.guest_uptime_ms === null ? '' : `the guest's own clock: ${duration(vm.guest_uptime_ms)}` }, vm.uptime_ms === null ? '-' : duration(vm.uptime_ms)),
        el('td', {}, vm.boot_id), el('td', {}, vm.restarts), el('td', {}, vm.faults),
        el('td', {}, vm.cells.join(', ') || '-'),
        el('td', { class: 'mono' }, vm.last_exit || '')));
      parts.push(el('table', {}, el('thead', {}, el('tr', {}, ...['guest', 'runner', 'state', 'uptime', 'boot', 'restarts', 'faults', 'cells', 'last exit'].map((h) => el('th', {}, h)))),
        el('tbody', {}, ...rows)));
    } else if (host.reachable) {
      parts.push(el('p', { class: 'empty' }, 'no guests'));
    }
    return el('div', { class: 'host' + (host.reachable ? '' : ' unreachable'), 'data-host': host.name }, ...parts);
  });
  replace(body, ...blocks);
}

async function renderCells() {
  const data = await api('/api/cells');
  const rows = [];
  for (const cell of data.cells) {
    for (const version of cell.versions) {
      const guests = version.guests.map((g) => `${g.host}/${g.vm} (${shortState(g.state).replace('cell_state_', '')}, gen ${g.generation})`);
      rows.push(el('tr', {}, el('td', {}, cell.name), el('td', {}, version.version), el('td', { class: 'count' }, version.faults),
        el('td', {}, guests.join(', ') || 'no guest runs it now')));
    }
  }
  replace(document.getElementById('cell-rows'), ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'no cells reported yet'))]));
}

async function renderBuckets() {
  const params = new URLSearchParams({ sort: state.bucketSort, offset: state.bucketOffset, limit: state.bucketLimit });
  if (state.bucketCell) params.set('cell', state.bucketCell);
  const page = await api('/api/buckets?' + params);
  const rows = page.buckets.map((b) => {
    const guests = b.guests.slice(0, 3).map((g) => `${g.host}/${g.vm}`).join(', ') + (b.guest_count > 3 ? ` +${b.guest_count - 3}` : '');
    return el('tr', { class: 'clickable bucket', id: 'bucket-' + b.id, 'data-bucket': b.id, onclick: () => openBucket(b.id) },
      el('td', { class: 'count' }, b.count),
      el('td', {}, `${b.cell}@${b.version}`),
      el('td', { class: 'mono', title: b.frame }, b.frame_demangled),
      el('td', {}, b.kinds.map(shortKind).join(', ')),
      el('td', {}, when(b.first_seen_unix_ms)),
      el('td', {}, ago(b.last_seen_unix_ms)),
      el('td', {}, guests),
      el('td', {}, b.last_message));
  });
  replace(document.getElementById('bucket-rows'), ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 8, class: 'empty' }, 'no faults'))]));
  const last = state.bucketOffset + page.buckets.length;
  replace(document.getElementById('bucket-range'),
    page.total ? `${state.bucketOffset + 1}–${last} of ${page.total} buckets, ${page.faults} faults` : 'no buckets');
  document.getElementById('bucket-prev').disabled = state.bucketOffset === 0;
  document.getElementById('bucket-next').disabled = page.next_offset === null;
}

async function renderBucketDetail(append) {
  const section = document.getElementById('bucket-detail');
  if (state.openBucket === null) { section.hidden = true; return; }
  const b = await api('/api/bucket?id=' + state.openBucket);
  section.hidden = false;
  replace(document.getElementById('bucket-title'), `${b.cell}@${b.version} ${b.frame_demangled}`);
  replace(document.getElementById('bucket-summary'),
    `${b.count} faults (${b.kinds.map(shortKind).join(', ')}), first seen ${when(b.first_seen_unix_ms)}, last ${when(b.last_seen_unix_ms)}; `,
    `guests: ${b.guests.map((g) => `${g.host}/${g.vm} ×${g.faults}`).join(', ')}`);
  const params = new URLSearchParams({ bucket: b.id, limit: 20 });
  if (append && state.bucketBefore) params.set('before', state.bucketBefore);
  const page = await api('/api/faults?' + params);
  const rows = page.faults.map((f) => el('tr', { class: 'clickable fault', onclick: () => openFault(f.host, f.sequence) },
    el('td', {}, f.sequence), el('td', {}, when(f.received_unix_ms)), el('td', {}, f.host), el('td', {}, f.vm),
    el('td', {}, f.boot_id), el('td', {}, shortKind(f.kind)), el('td', {}, f.task),
    el('td', {}, String(f.action).replace(/^RECOVERY_ACTION_/, '').toLowerCase()), el('td', {}, el('a', { href: `#fault=${encodeURIComponent(f.host)}:${f.sequence}` }, 'report'))));
  const tbody = document.getElementById('bucket-faults');
  if (append) tbody.append(...rows); else replace(tbody, ...rows);
  state.bucketBefore = page.next_before || 0;
  document.getElementById('bucket-older').hidden = !page.next_before;
}

function crashReport(host, record, symbol) {
  const r = record.report || {};
  const lines = [];
  lines.push(`=== fault ${record.sequence} on vm ${record.vm} (host ${host}, boot ${record.boot_id}, guest event ${record.guest_sequence}) at ${when(record.received_unix_ms)} ===`);
  lines.push(`${shortKind(r.kind)} in cell ${r.cell_name || 'kernel'}@${r.cell_version || '?'} (generation ${r.cell_generation || 0}, fault #${r.fault_count || 0} of this cell)`);
  lines.push(`  build: ${record.cell_sha256 ? 'sha256 ' + record.cell_sha256 : 'boot archive'}`);
  if (r.message) lines.push(`  ${r.message}`);
  lines.push(`  task ${r.task_id || 0} '${r.task_name || ''}'  rip ${hex(r.instruction_pointer)}  addr ${hex(r.address)}  vector ${r.vector || 0}  error ${hex(r.error_code)}`);
  lines.push(`  at ${symbol || r.symbol || '?'}+${hex(r.symbol_offset)}`);
  lines.push(`  recovery: ${String(r.action || '').replace(/^RECOVERY_ACTION_/, '').toLowerCase()}`);
  return lines.join('\n');
}

async function renderReport() {
  const section = document.getElementById('report');
  if (!state.openFault) { section.hidden = true; return; }
  const { host, sequence } = state.openFault;
  let data;
  try {
    data = await api(`/api/fault?host=${encodeURIComponent(host)}&sequence=${encodeURIComponent(sequence)}`);
  } catch (error) {
    section.hidden = false;
    replace(document.getElementById('report-text'), `cannot show fault ${sequence} of ${host}: ${error.message}`);
    replace(document.querySelector('#report-frames tbody'));
    return;
  }
  section.hidden = false;
  replace(document.getElementById('report-text'), crashReport(data.host, data.record, data.symbol_demangled));
  const frames = (data.record.report && data.record.report.backtrace) || [];
  replace(document.querySelector('#report-frames tbody'), ...frames.map((f, i) => el('tr', {},
    el('td', {}, '#' + i), el('td', { class: 'mono' }, hex(f.address)),
    el('td', { class: 'mono', title: f.symbol || '' }, `${data.frames_demangled[i] || f.symbol || '?'}+${hex(f.offset)}`), el('td', {}, f.cell || 'kernel'))));
}

async function renderTimeline() {
  const slots = 60;
  const line = await api(`/api/timeline?window_s=${state.timelineWindow}&slots=${slots}`);
  const max = Math.max(1, ...line.counts);
  const total = line.counts.reduce((a, b) => a + b, 0);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${slots * 10} 100`);
  svg.setAttribute('preserveAspectRatio', 'none');
  line.counts.forEach((count, i) => {
    if (!count) return;
    const rect = document.createElementNS(ns, 'rect');
    const height = Math.max(2, (count / max) * 96);
    rect.setAttribute('x', i * 10 + 1); rect.setAttribute('width', 8);
    rect.setAttribute('y', 100 - height); rect.setAttribute('height', height);
    const title = document.createElementNS(ns, 'title');
    title.textContent = `${count} faults from ${when(line.start_unix_ms + i * line.slot_ms)}`;
    rect.append(title);
    svg.append(rect);
  });
  replace(document.getElementById('timeline-chart'), svg);
  replace(document.getElementById('timeline-total'), `${total} faults, ${duration(line.slot_ms)} per bar, peak ${max === 1 && !total ? 0 : max}`);
}

async function renderRollouts() {
  const data = await api('/api/rollouts');
  const body = document.getElementById('rollouts-body');
  if (!data.available) { body.className = 'empty'; replace(body, `none (${data.note})`); return; }
  if (!data.rollouts.length) { body.className = 'empty'; replace(body, 'none'); return; }
  body.className = '';
  replace(body, el('table', {},
    el('thead', {}, el('tr', {}, ...['rollout', 'cell@version', 'state', 'stage', 'swapped', 'rolled back', 'failed', 'started', 'last'].map((h) => el('th', {}, h)))),
    el('tbody', {}, ...data.rollouts.map((r) => el('tr', { class: 'rollout' + (r.active ? ' active' : '') },
      el('td', {}, `${r.host}/${r.id}`), el('td', {}, `${r.cell}@${r.version}`), el('td', {}, shortState(r.state)), el('td', {}, r.stage),
      el('td', {}, `${r.swapped}/${r.targets}`), el('td', {}, r.rolled_back), el('td', {}, r.failed),
      el('td', {}, when(r.started_unix_ms)), el('td', {}, r.message))))));
}

// ---- refresh, live updates, navigation --------------------------------------------------

let refreshing = null;
let again = false;

async function refresh() {
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => {
    const panels = [renderOverview, renderRollouts, renderBuckets, renderTimeline, renderHosts, renderCells];
    const results = await Promise.allSettled(panels.map((panel) => panel()));
    if (state.openBucket !== null) await renderBucketDetail(false).catch(() => {});
    const failed = results.filter((r) => r.status === 'rejected');
    replace(document.getElementById('updated'), failed.length ? `update failed: ${failed[0].reason.message}` : `updated ${when(Date.now())}`);
    document.body.dataset.loaded = 'yes';
  })();
  await refreshing;
  refreshing = null;
  if (again) { again = false; refresh(); }
}

function setLive(mode, text) {
  const live = document.getElementById('live');
  live.className = 'live ' + mode;
  replace(live, text);
}

// ?live=poll forces polling: a headless browser's virtual time waits on open connections, and
// an event stream never closes.
function connectStream() {
  if (!window.EventSource || new URLSearchParams(location.search).get('live') === 'poll') { setLive('polling', 'polling'); return; }
  const source = new EventSource('/api/stream');
  source.addEventListener('open', () => setLive('on', 'live'));
  source.addEventListener('change', () => refresh());
  source.addEventListener('error', () => setLive('polling', 'reconnecting (polling)'));
}

function openBucket(id) {
  state.openBucket = id;
  state.bucketBefore = 0;
  history.replaceState(null, '', `#bucket=${id}`);
  renderBucketDetail(false).then(() => document.getElementById('bucket-detail').scrollIntoView());
}

function openFault(host, sequence) {
  state.openFault = { host, sequence };
  history.replaceState(null, '', `#fault=${encodeURIComponent(host)}:${sequence}` + (state.openBucket !== null ? `&bucket=${state.openBucket}` : ''));
  renderReport().then(() => document.getElementById('report').scrollIntoView());
}

function readHash() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  const bucket = hash.get('bucket');
  if (bucket !== null && /^\d+$/.test(bucket)) state.openBucket = Number(bucket);
  const fault = hash.get('fault');
  const match = fault && /^(.+):(\d+)$/.exec(fault);
  if (match) state.openFault = { host: match[1], sequence: match[2] };
}

function wire() {
  document.getElementById('bucket-sort').addEventListener('change', (e) => { state.bucketSort = e.target.value; state.bucketOffset = 0; renderBuckets(); });
  let typing = null;
  document.getElementById('bucket-cell').addEventListener('input', (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.bucketCell = e.target.value.trim(); state.bucketOffset = 0; renderBuckets(); }, 300);
  });
  document.getElementById('bucket-prev').addEventListener('click', () => { state.bucketOffset = Math.max(0, state.bucketOffset - state.bucketLimit); renderBuckets(); });
  document.getElementById('bucket-next').addEventListener('click', () => { state.bucketOffset += state.bucketLimit; renderBuckets(); });
  document.getElementById('bucket-close').addEventListener('click', () => { state.openBucket = null; history.replaceState(null, '', '#'); renderBucketDetail(false); });
  document.getElementById('bucket-older').addEventListener('click', () => renderBucketDetail(true));
  document.getElementById('report-close').addEventListener('click', () => { state.openFault = null; renderReport(); });
  document.getElementById('timeline-window').addEventListener('change', (e) => { state.timelineWindow = Number(e.target.value); renderTimeline(); });
  window.addEventListener('hashchange', () => { readHash(); renderBucketDetail(false); renderReport(); });
}

document.addEventListener('DOMContentLoaded', () => {
  wire();
  readHash();
  refresh().then(() => renderReport());
  connectStream();
  setInterval(() => { if (document.getElementById('live').classList.contains('on')) renderHosts().catch(() => {}); else refresh(); }, 5000);
});
