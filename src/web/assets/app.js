// Retrovue web page: a small single-page app (hash routes), no build step, no framework.
// Every DOM node is built with h(), never from HTML strings, so library titles cannot inject markup.
'use strict';

const $ = (sel, el = document) => el.querySelector(sel);
const S = { session: null, timers: [], view: null };

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') { el.value = v; if (el.tagName !== 'SELECT') el.defaultValue = v; }
    else if (k === 'checked') { el.checked = !!v; el.defaultChecked = !!v; }
    else if (k === 'style') Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  const add = (c) => {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  };
  kids.forEach(add);
  return el;
}

class ApiError extends Error {
  constructor(status, body) { super(body.error || `HTTP ${status}`); this.status = status; this.code = body.code; }
}

async function api(method, path, body, opts = {}) {
  const headers = {};
  if (S.session && S.session.csrf && method !== 'GET') headers['X-CSRF-Token'] = S.session.csrf;
  let payload;
  if (opts.raw) { payload = body; headers['Content-Type'] = 'application/octet-stream'; }
  else if (body !== undefined) { payload = JSON.stringify(body); headers['Content-Type'] = 'application/json'; }
  const res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const text = await res.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch (_) { data = { error: text }; }
  if (!res.ok) {
    if (res.status === 401 && path !== '/api/login') { S.session = null; boot(); }
    throw new ApiError(res.status, data);
  }
  return data;
}

function toast(msg, kind = '') {
  const t = h('div', { class: `toast ${kind}`, role: 'status' }, msg);
  $('#toasts').append(t);
  setTimeout(() => t.remove(), kind === 'bad' ? 7000 : 3500);
}
const fail = (e) => toast(e.message || String(e), 'bad');

function dialog(title, body, okLabel = 'OK', danger = false) {
  const d = $('#dialog'), f = $('#dialog-form');
  f.replaceChildren(h('h2', {}, title), body,
    h('div', { class: 'actions' },
      h('button', { value: 'ok', class: danger ? 'danger' : 'primary', id: 'dialog-ok' }, okLabel),
      h('button', { value: 'cancel', formnovalidate: true }, 'Cancel')));
  d.showModal();
  return new Promise((resolve) => d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true }));
}

const pad = (n) => String(n).padStart(2, '0');
function fmtDur(ms) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.round(ms / 1000), hh = Math.floor(s / 3600), mm = Math.floor(s / 60) % 60;
  return hh ? `${hh}:${pad(mm)}:${pad(s % 60)}` : `${mm}:${pad(s % 60)}`;
}
const fmtTime = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
const fmtBytes = (n) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`);
const fmtWhen = (ms) => (ms ? new Date(ms).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }) : '—');
function parseOffset(text) { // "12:10.5" or "1:02:03" or ms
  text = text.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const parts = text.split(':').map(Number);
  if (parts.some(isNaN)) throw new Error(`not a time: ${text}`);
  return Math.round(parts.reduce((a, p) => a * 60 + p, 0) * 1000);
}
function field(label, input) { return h('label', {}, label, input); }
function select(name, options, value) {
  return h('select', { name }, options.map((o) => {
    const [v, t] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: String(v) === String(value ?? '') }, t);
  }));
}
function every(ms, fn) { fn(); S.timers.push(setInterval(fn, ms)); }

// ---------------------------------------------------------------- boot, login, routing

async function boot() {
  S.timers.forEach(clearInterval); S.timers = [];
  try { S.session = await api('GET', '/api/session'); } catch (e) { $('#main').replaceChildren(h('p', { class: 'notice bad' }, e.message)); return; }
  $('#device-name').textContent = S.session.device_name || '';
  const loggedIn = S.session.logged_in;
  $('#nav').hidden = !loggedIn; $('#menu-toggle').hidden = !loggedIn;
  if (S.session.setup_required) return showSetup();
  if (!loggedIn) return showLogin();
  route();
}

function tvCard(title, text, form) {
  return h('div', { class: 'login' }, h('div', { class: 'panel' },
    h('div', { class: 'crt' }, h('h1', {}, title), h('div', {}, text)), form));
}

function showSetup() {
  const form = h('form', { id: 'setup-form' },
    field('User name', h('input', { type: 'text', name: 'username', value: 'admin', autocomplete: 'username' })),
    field('New password (8 characters or more)', h('input', { type: 'password', name: 'password', required: true, minlength: 8, autocomplete: 'new-password' })),
    field('Repeat it', h('input', { type: 'password', name: 'password2', required: true, autocomplete: 'new-password' })),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Set password')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    if (f.get('password') !== f.get('password2')) return toast('The passwords differ', 'bad');
    try { await api('POST', '/api/setup', { username: f.get('username'), password: f.get('password') }); location.hash = '#/dashboard'; boot(); } catch (e) { fail(e); }
  });
  $('#main').replaceChildren(tvCard('Welcome', 'First run: choose the admin password for this box.', form));
}

function showLogin() {
  const form = h('form', { id: 'login-form' },
    field('User name', h('input', { type: 'text', name: 'username', value: 'admin', autocomplete: 'username' })),
    field('Password', h('input', { type: 'password', name: 'password', required: true, autocomplete: 'current-password' })),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Log in')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    try { await api('POST', '/api/login', { username: f.get('username'), password: f.get('password') }); boot(); } catch (e) { fail(e); }
  });
  $('#main').replaceChildren(tvCard('Please stand by', 'Log in to manage this box.', form));
}

const VIEWS = {};
function route() {
  S.timers.forEach(clearInterval); S.timers = [];
  stopPreview();
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const view = VIEWS[name] ? name : 'dashboard';
  S.view = view;
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.view === view));
  $('#nav').classList.remove('open');
  const main = $('#main');
  main.replaceChildren(h('p', { class: 'loading' }, 'Tuning…'));
  Promise.resolve(VIEWS[view](main, rest)).catch((e) => { if (e.status !== 401) main.replaceChildren(h('p', { class: 'notice bad' }, e.message)); });
}
window.addEventListener('hashchange', () => { if (S.session && S.session.logged_in) route(); });
document.addEventListener('DOMContentLoaded', () => {
  $('#menu-toggle').addEventListener('click', () => $('#nav').classList.toggle('open'));
  boot();
});

// ---------------------------------------------------------------- 1. dashboard

VIEWS.dashboard = async (main) => {
  const chans = h('div', { class: 'grid', id: 'dash-channels' });
  const sys = h('div', { class: 'grid' });
  const errs = h('div', { id: 'dash-errors' });
  const alerts = h('div', { id: 'dash-alerts' });
  main.replaceChildren(h('div', { class: 'spread' }, h('h1', {}, 'Dashboard'), h('small', { id: 'dash-clock', class: 'mono' })),
    alerts, h('div', { class: 'panel' }, h('h2', {}, 'The box'), sys), h('h2', {}, 'Channels'), chans,
    h('div', { class: 'panel' }, h('h2', {}, 'Recent errors'), errs));
  const stat = (label, value, meter) => h('div', {}, h('h3', {}, label), h('div', { class: 'bigstat' }, value),
    meter === undefined ? null : h('div', { class: 'meter' }, h('span', { style: { width: `${Math.min(100, meter)}%` } })));
  const tick = async () => {
    const [s, em] = await Promise.all([api('GET', '/api/status'), api('GET', '/api/emergency/alerts').catch(() => ({ alerts: [], live: [] }))]);
    $('#dash-clock').textContent = new Date(s.now).toLocaleString();
    const tuners = s.tuners ?? s.tuner_count ?? null;
    sys.replaceChildren(
      stat('CPU', s.cpu_percent === null ? '…' : `${s.cpu_percent.toFixed(0)}%`, s.cpu_percent ?? 0),
      stat('Temperature', s.temperature_c === null ? 'n/a' : `${s.temperature_c.toFixed(1)} °C`, s.temperature_c === null ? undefined : s.temperature_c),
      ...(s.memory && s.memory.rss_bytes ? [stat('Memory', s.memory.box_total_bytes
        ? `${fmtBytes(s.memory.rss_bytes)} · ${fmtBytes(s.memory.box_available_bytes)} free of ${fmtBytes(s.memory.box_total_bytes)}`
        : fmtBytes(s.memory.rss_bytes),
      s.memory.box_total_bytes ? 100 * (1 - (s.memory.box_available_bytes ?? 0) / s.memory.box_total_bytes) : undefined)] : []),
      stat('Tuners in use', `${s.tuners_in_use} / ${tuners ?? 'auto'}`, tuners ? (100 * s.tuners_in_use) / tuners : 0),
      stat('Encoder', s.encoder_in_use || s.encoder, undefined),
      ...(s.disks || []).map((d, i) => stat(i ? `HLS disk` : 'Data disk', `${fmtBytes(d.free_bytes)} free of ${fmtBytes(d.total_bytes)}`,
        d.total_bytes ? 100 * (1 - d.free_bytes / d.total_bytes) : 0)));
    const live = em.alerts.filter((a) => em.live.includes(a.id));
    const full = (s.disks || []).filter((d) => d.full);
    alerts.replaceChildren(
      ...full.map((d) => h('div', { class: 'notice bad', id: 'dash-disk-full' }, h('b', {}, '⚠ Disk full: '),
        `${fmtBytes(d.free_bytes)} free on ${d.path}. Channels keep playing, but HLS, the as-run log and settings are not saved until space is freed.`)),
      ...live.map((a) => h('div', { class: 'panel alert-live' }, h('b', {}, '⚠ Emergency alert on the air: '), a.message,
        ' ', h('a', { href: '#/emergency' }, 'manage'))));
    if (!s.channels.length) {
      chans.replaceChildren(h('div', { class: 'panel' }, 'No channels yet. ', h('a', { href: '#/channels' }, 'Create one'), ' or add media in ', h('a', { href: '#/sources' }, 'Sources'), '.'));
    } else {
      chans.replaceChildren(...s.channels.map((c) => {
        const now = c.now, next = c.next;
        const progress = now ? (100 * (s.now - now.start)) / (now.end - now.start) : 0;
        return h('div', { class: 'panel tv' },
          h('div', { class: `screen ${c.running ? 'live' : ''}` }, c.number),
          h('div', {},
            h('div', { class: 'spread' }, h('b', {}, c.name),
              h('span', {}, h('span', { class: `badge ${c.running ? 'on' : ''}` }, c.running ? 'running' : 'idle'), ' ',
                c.running && !c.realtime ? [h('span', { class: 'badge warn', title: `${c.dropped_frames} frames dropped; output ${c.late_ms} ms late` }, 'cannot keep up'), ' '] : null,
                h('span', { class: 'badge info' }, `${c.viewers} watching`))),
            now ? [h('div', { class: 'now' }, now.title, now.sub_title ? h('small', {}, ` — ${now.sub_title}`) : null),
              h('div', { class: 'meter' }, h('span', { style: { width: `${progress}%` } })),
              h('div', { class: 'next' }, `${fmtTime(now.start)}–${fmtTime(now.end)}`, next ? ` · next ${fmtTime(next.start)} ${next.title}` : '')]
              : h('div', { class: 'next' }, 'Nothing scheduled'),
            c.encoder_change ? h('div', { class: 'notice warn' }, `Encoder ${c.encoder} since ${fmtTime(c.encoder_change.at)}: ${c.encoder_change.what}`) : null,
            c.last_recovery ? h('div', { class: 'notice warn' }, `Recovered ${c.watchdog_recoveries}× — last at ${fmtTime(c.last_recovery.at)}: ${c.last_recovery.what}`) : null,
            c.error ? h('div', { class: 'notice bad' }, c.error) : null));
      }));
    }
    errs.replaceChildren(s.errors.length ? h('div', { class: 'table-wrap' }, h('table', {}, h('tbody', {}, s.errors.map((e) =>
      h('tr', {}, h('td', { class: 'mono' }, fmtWhen(e.at)), h('td', {}, e.what), h('td', {}, e.message)))))) : h('p', { class: 'dim' }, 'None. Clear skies.'));
  };
  every(3000, () => tick().catch(fail));
};

// ---------------------------------------------------------------- 2. sources and scan

const FOLDER_KINDS = ['shows', 'movies', 'commercials', 'bumpers', 'promos', 'station_ids', 'intros', 'outros', 'slates', 'signoffs', 'signons'];

VIEWS.sources = async (main) => {
  const list = h('div', { class: 'table-wrap' });
  const kindSel = h('select', { name: 'type' }, h('option', { value: 'folder' }, 'Folder on this box'), h('option', { value: 'plex' }, 'Plex server'),
    h('option', { value: 'jellyfin' }, 'Jellyfin server'), h('option', { value: 'emby' }, 'Emby server'));
  const folderFields = h('div', { class: 'row' },
    field('Folder (absolute path)', h('input', { type: 'text', name: 'path', placeholder: '/media/shows' })),
    field('It holds', select('content_kind', FOLDER_KINDS, 'shows')));
  const plexFields = h('div', { class: 'row hidden' },
    field('Server URL', h('input', { type: 'text', name: 'url', placeholder: 'http://192.168.1.20:32400' })),
    field(h('span', { id: 'secret-label' }, 'Token (blank: the one in Settings)'), h('input', { type: 'password', name: 'token', autocomplete: 'off' })),
    field('Libraries (comma separated, blank: all)', h('input', { type: 'text', name: 'libraries' })));
  const testOut = h('div', { id: 'test-result' });
  const form = h('form', { id: 'source-form' }, h('div', { class: 'row' }, field('Type', kindSel), field('Name (optional)', h('input', { type: 'text', name: 'name' }))),
    folderFields, plexFields, testOut,
    h('div', { class: 'actions' }, h('button', { type: 'button', id: 'source-test' }, 'Test connection'), h('button', { class: 'primary', type: 'submit', id: 'source-add' }, 'Add source')));
  kindSel.addEventListener('change', () => {
    folderFields.classList.toggle('hidden', kindSel.value !== 'folder');
    plexFields.classList.toggle('hidden', kindSel.value === 'folder');
    const plex = kindSel.value === 'plex';
    $('#secret-label', plexFields).textContent = plex ? 'Token (blank: the one in Settings)' : 'API key (the server\'s Dashboard → API Keys)';
    $('[name=url]', plexFields).placeholder = plex ? 'http://192.168.1.20:32400' : 'http://192.168.1.20:8096';
  });
  const body = () => {
    const f = new FormData(form);
    if (f.get('type') === 'folder') return { type: 'folder', path: f.get('path'), content_kind: f.get('content_kind'), name: f.get('name') || null };
    const libraries = String(f.get('libraries') || '').split(',').map((s) => s.trim()).filter(Boolean);
    if (f.get('type') !== 'plex') return { type: f.get('type'), url: f.get('url'), api_key: f.get('token') || '', name: f.get('name') || null, libraries };
    return { type: 'plex', url: f.get('url'), token: f.get('token') || null, name: f.get('name') || null, libraries };
  };
  $('#source-test', form).addEventListener('click', async () => {
    try {
      const r = await api('POST', '/api/sources/test', body());
      testOut.replaceChildren(h('div', { class: `notice ${r.ok ? '' : 'bad'}` }, r.message, r.libraries.length ? ` (${r.libraries.join(', ')})` : ''));
    } catch (e) { fail(e); }
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try { const s = await api('POST', '/api/sources', body()); toast(`Added ${s.name}`, 'good'); form.reset(); testOut.replaceChildren(); load(); } catch (e) { fail(e); }
  });
  const scanBar = h('span', {}), scanText = h('div', { id: 'scan-text', class: 'dim' }), summary = h('div', { id: 'scan-summary' });
  const scanBtn = h('button', { class: 'primary', id: 'scan-start' }, 'Scan now');
  const load = async () => {
    const sources = await api('GET', '/api/sources');
    list.replaceChildren(sources.length ? h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Type', 'Where', 'Holds', 'Last scan', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, sources.map((s) => h('tr', {},
        h('td', {}, s.name), h('td', {}, h('span', { class: 'badge' }, s.type)), h('td', { class: 'mono' }, s.location, s.token ? h('small', {}, ` ${s.type === 'plex' ? 'token' : 'API key'} ${s.token}`) : null),
        h('td', {}, s.content_kind || s.libraries.join(', ') || 'all'),
        h('td', {}, fmtWhen(s.last_sync_at), s.last_error ? h('div', { class: 'notice bad' }, s.last_error) : null),
        h('td', { class: 'actions' }, h('button', { class: 'small', id: `source-edit-${s.id}`, onclick: () => editSource(s) }, 'Edit'),
          h('button', { class: 'small danger', onclick: async () => {
            if (!await dialog('Remove source', h('p', {}, `Remove ${s.name} and every item it brought from the library?`), 'Remove', true)) return;
            try { await api('DELETE', `/api/sources/${s.id}`); load(); } catch (e) { fail(e); }
          } }, 'Remove')))))) : h('p', { class: 'dim' }, 'No sources yet: add a folder of shows, movies or commercials below.'));
  };
  // Edit in place: the source keeps its id, its items theirs and every edit made to them.
  const editSource = async (s) => {
    const plex = s.type !== 'folder';
    const f = h('div', { id: 'source-edit-form' },
      field('Name', h('input', { type: 'text', name: 'name', value: s.name })),
      plex ? [field('Server URL', h('input', { type: 'text', name: 'url', value: s.location })),
        field(`${s.type === 'plex' ? 'Token' : 'API key'} (blank: keep ${s.token || 'the stored one'})`, h('input', { type: 'password', name: 'token', autocomplete: 'off' })),
        field('Libraries (comma separated, blank: all)', h('input', { type: 'text', name: 'libraries', value: s.libraries.join(', ') })),
        field('Path as the server sees it (optional)', h('input', { type: 'text', name: 'map_from', value: s.path_map ? s.path_map[0] : '' })),
        field('Same place on this box', h('input', { type: 'text', name: 'map_to', value: s.path_map ? s.path_map[1] : '' }))]
        : field('Folder (absolute path)', h('input', { type: 'text', name: 'path', value: s.location })));
    if (!await dialog(`Edit ${s.name}`, f, 'Save')) return;
    const v = (n) => { const el = $(`[name=${n}]`, f); return el ? el.value.trim() : ''; };
    const body = { name: v('name') };
    if (plex) {
      body.url = v('url');
      if (v('token')) body.token = v('token');
      body.libraries = v('libraries').split(',').map((x) => x.trim()).filter(Boolean);
      body.path_map = v('map_from') && v('map_to') ? { from: v('map_from'), to: v('map_to') } : null;
    } else body.path = v('path');
    try { const r = await api('PUT', `/api/sources/${s.id}`, body); toast(`Saved ${r.name}: scan it to apply`, 'good'); load(); } catch (e) { fail(e); }
  };
  const showScan = (p) => {
    if (!p) return;
    const pct = p.running ? (p.found ? (100 * p.done) / p.found : 2) : (p.finished_at ? 100 : 0);
    scanBar.style.width = `${pct}%`;
    scanText.textContent = p.running ? `Scanning: ${p.done} of ${p.found} items${p.current ? ` — ${p.current}` : ''}`
      : p.finished_at ? `Last scan finished ${fmtWhen(p.finished_at)}` : 'No scan since the box started.';
    scanBtn.disabled = !!p.running;
    if (p.error) summary.replaceChildren(h('div', { class: 'notice bad' }, p.error));
    else if (!p.running && p.report) {
      const r = p.report;
      const problems = r.sources.flatMap((s) => [...(s.error ? [`${s.name}: ${s.error}`] : []), ...s.errors.map((e) => `${e.item}: ${e.reason}`)]);
      summary.replaceChildren(h('div', { class: 'row', id: 'scan-report' }, ['added', 'updated', 'unchanged', 'removed', 'unplayable'].map((k) => h('div', {}, h('h3', {}, k), h('div', { class: 'bigstat' }, r[k])))),
        problems.length ? h('details', {}, h('summary', {}, `${problems.length} problem${problems.length === 1 ? '' : 's'}`), h('ul', {}, problems.map((x) => h('li', {}, x)))) : null);
    }
  };
  let polling = false;
  const poll = async () => { const p = await api('GET', '/api/scan'); showScan(p); if (!p.running && polling) { polling = false; load(); } return p; };
  scanBtn.addEventListener('click', async () => { try { showScan(await api('POST', '/api/scan', {})); polling = true; } catch (e) { fail(e); } });
  main.replaceChildren(h('h1', {}, 'Sources and scan'),
    h('div', { class: 'panel' }, h('h2', {}, 'Sources'), list),
    h('div', { class: 'panel' }, h('h2', {}, 'Add a source'), form),
    h('div', { class: 'panel' }, h('div', { class: 'spread' }, h('h2', {}, 'Scan'), scanBtn), h('div', { class: 'meter', id: 'scan-meter' }, scanBar), scanText, summary));
  await load();
  every(1000, () => poll().catch(() => {}));
};

// ---------------------------------------------------------------- 3. library

const META_TEXT = [['content_rating', 'Rating for scheduling'], ['demographic', 'Audience'], ['commercial_company', 'Company'],
  ['commercial_category', 'Product category'], ['era', 'Era (e.g. 1980s)'], ['warnings', 'Warnings'], ['notes', 'Notes']];

VIEWS.library = async (main, [itemId]) => {
  if (itemId) return itemDetail(main, itemId);
  const q = S.libQuery || (S.libQuery = { search: '', source: '', kind: '', rating: '', daypart: '', season: '', company: '', sort: 'title', order: 'asc', offset: 0 });
  const sources = await api('GET', '/api/sources');
  const table = h('div', { class: 'table-wrap' }), count = h('span', { class: 'dim' });
  const chosen = new Set();
  const filters = h('form', { class: 'row', id: 'lib-filters' });
  const bulkbar = h('div', { class: 'panel bulkbar hidden' });
  let facets = null;
  const build = () => {
    const f = facets || { kinds: [], ratings: [], seasons: [], companies: [], dayparts: [] };
    filters.replaceChildren(
      field('Search', h('input', { type: 'search', name: 'search', value: q.search, placeholder: 'title or series' })),
      field('Source', select('source', [['', 'any'], ...sources.map((s) => [s.id, s.name])], q.source)),
      field('Kind', select('kind', [['', 'any'], ...f.kinds], q.kind)),
      field('Rating', select('rating', [['', 'any'], ...f.ratings], q.rating)),
      field('Daypart', select('daypart', [['', 'any'], ...f.dayparts], q.daypart)),
      field('Season', select('season', [['', 'any'], ...f.seasons], q.season)),
      field('Company', h('input', { type: 'text', name: 'company', value: q.company, list: 'companies' })),
      h('datalist', { id: 'companies' }, f.companies.map((c) => h('option', { value: c }))),
      field('Sort', select('sort', [['title', 'Title'], ['duration', 'Duration'], ['last_aired', 'Last aired']], q.sort)),
      field('Order', select('order', [['asc', 'Ascending'], ['desc', 'Descending']], q.order)));
  };
  const load = async () => {
    const params = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== '' && v !== null));
    params.set('limit', 200);
    const page = await api('GET', `/api/items?${params}`);
    if (!facets) { facets = page.facets; build(); }
    count.textContent = `${page.total} item${page.total === 1 ? '' : 's'}${page.total > page.items.length ? ` (showing ${page.items.length})` : ''}`;
    table.replaceChildren(page.items.length ? h('table', { id: 'lib-table' },
      h('thead', {}, h('tr', {}, h('th', {}, h('input', { type: 'checkbox', title: 'select all', onchange: (ev) => {
        page.items.forEach((i) => (ev.target.checked ? chosen.add(i.id) : chosen.delete(i.id))); load(); } })),
        ['Title', 'Kind', 'Length', 'Rating', 'Dayparts', 'Last aired'].map((t) => h('th', {}, t)))),
      h('tbody', {}, page.items.map((i) => h('tr', { class: `click ${chosen.has(i.id) ? 'selected' : ''}`, onclick: (ev) => { if (ev.target.type !== 'checkbox') location.hash = `#/library/${i.id}`; } },
        h('td', {}, h('input', { type: 'checkbox', checked: chosen.has(i.id), onchange: (ev) => { ev.target.checked ? chosen.add(i.id) : chosen.delete(i.id); updateBulk(); ev.target.closest('tr').classList.toggle('selected', ev.target.checked); } })),
        h('td', {}, i.series ? h('b', {}, `${i.series} `) : null, i.season ? h('small', { class: 'mono' }, `S${pad(i.season)}E${pad(i.episode || 0)} `) : null, i.title,
          i.playable ? null : h('span', { class: 'badge warn', title: i.error || '' }, 'not playable')),
        h('td', {}, h('span', { class: 'badge' }, i.kind)), h('td', { class: 'mono' }, fmtDur(i.duration_ms)),
        h('td', {}, i.meta.content_rating || i.rating || ''), h('td', {}, i.meta.daypart.join(', ')), h('td', {}, fmtWhen(i.last_aired_at))))))
      : h('p', { class: 'dim' }, 'Nothing matches. Add sources and scan them, or loosen the filters.'));
    updateBulk();
  };
  const bulkField = select('field', [['daypart', 'Dayparts'], ['season', 'Seasons'], ...META_TEXT]);
  const bulkValue = h('input', { type: 'text', name: 'value', placeholder: 'value (comma list for dayparts/seasons; blank clears)' });
  const updateBulk = () => {
    bulkbar.classList.toggle('hidden', chosen.size === 0);
    $('#bulk-count', bulkbar).textContent = `${chosen.size} selected`;
  };
  bulkbar.append(h('div', { class: 'row' }, h('b', { id: 'bulk-count', class: 'shrink' }), field('Set', bulkField), field('To', bulkValue),
    h('button', { class: 'primary shrink', onclick: async () => {
      const k = bulkField.value, v = bulkValue.value.trim();
      const value = k === 'daypart' || k === 'season' ? v.split(',').map((s) => s.trim()).filter(Boolean) : (v || null);
      try { const r = await api('POST', '/api/items/bulk', { ids: [...chosen], set: { [k]: value } }); toast(`${r.changed} items changed`, 'good'); load(); } catch (e) { fail(e); }
    } }, 'Apply'), h('button', { class: 'shrink', onclick: () => { chosen.clear(); load(); } }, 'Clear selection')));
  let debounce;
  filters.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { for (const [k, v] of new FormData(filters)) q[k] = v; load().catch(fail); }, 250);
  });
  build();
  main.replaceChildren(h('div', { class: 'spread' }, h('h1', {}, 'Library'), count), h('div', { class: 'panel' }, filters), h('div', { class: 'panel' }, table), bulkbar);
  await load();
};

async function itemDetail(main, id) {
  const item = await api('GET', `/api/items/${encodeURIComponent(id)}`);
  const m = item.meta;
  const dayparts = ['morning', 'daytime', 'afternoon', 'primetime', 'late_night', 'overnight'];
  const form = h('form', { id: 'meta-form' },
    h('h3', {}, 'Dayparts'), h('div', {}, dayparts.map((d) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'daypart', value: d, checked: m.daypart.includes(d) }), d.replace('_', ' ')))),
    h('div', { class: 'row' }, field('Seasons / holidays (comma separated)', h('input', { type: 'text', name: 'season', value: m.season.join(', ') })),
      ...META_TEXT.map(([k, label]) => field(label, h('input', { type: 'text', name: k, value: m[k] || '' })))),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Save metadata')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { daypart: f.getAll('daypart'), season: String(f.get('season')).split(',').map((s) => s.trim()).filter(Boolean) };
    META_TEXT.forEach(([k]) => { body[k] = String(f.get(k)).trim() || null; });
    try { await api('PUT', `/api/items/${item.id}/metadata`, body); toast('Saved', 'good'); } catch (e) { fail(e); }
  });
  const bpInput = h('input', { type: 'text', name: 'breakpoints', value: item.breakpoints.map((ms) => fmtDur(ms)).join(', '), placeholder: '7:00, 14:30' });
  const bpForm = h('form', { id: 'bp-form' }, field('Breakpoints (m:ss, comma separated; blank: back to the imported ones)', bpInput),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Save breakpoints')));
  bpForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const pts = bpInput.value.split(',').map((s) => s.trim()).filter(Boolean).map(parseOffset);
      const r = await api('PUT', `/api/items/${item.id}/breakpoints`, { breakpoints: pts });
      drawBreaks(r);
      toast('Saved', 'good');
    } catch (e) { fail(e); }
  });
  const breakEditor = h('div', { id: 'break-editor' });
  const drawBreaks = (it) => {
    bpInput.value = it.breakpoints.map((ms) => fmtDur(ms)).join(', ');
    breakEditor.replaceChildren(...breakStrip(it, drawBreaks));
  };
  drawBreaks(item);
  const still = h('img', { class: 'still', alt: 'preview still', src: `/api/items/${item.id}/still.jpg` });
  still.addEventListener('error', () => still.replaceWith(h('div', { class: 'still dim', style: { display: 'grid', placeItems: 'center' } }, 'no preview')));
  const facts = [['Kind', item.kind], ['Source', item.source_name], ['Length', fmtDur(item.duration_ms)], ['Year', item.year], ['Rating', item.rating],
    ['Genres', item.genres.join(', ')], ['Tags', item.tags.join(', ')], ['Loudness', item.loudness_lufs === null ? null : `${item.loudness_lufs.toFixed(1)} LUFS`],
    ['Last aired', fmtWhen(item.last_aired_at)], ['Playable', item.playable ? 'yes' : `no — ${item.error || ''}`]];
  main.replaceChildren(h('p', {}, h('a', { href: '#/library' }, '← Library')),
    h('h1', {}, item.series ? `${item.series} — ` : '', item.title),
    h('div', { class: 'detail' },
      h('div', {}, still, h('div', { class: 'panel' }, h('table', {}, h('tbody', {}, facts.filter(([, v]) => v !== null && v !== undefined && v !== '').map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))))),
        item.plot ? h('p', {}, item.plot) : null)),
      h('div', {}, h('div', { class: 'panel' }, h('h2', {}, 'Scheduling metadata'), form), h('div', { class: 'panel' }, h('h2', {}, 'Breaks'), breakEditor, bpForm))));
}

// The visual breakpoint editor: the item as a strip with the breaks the scheduler uses (ticks)
// and the black-and-silent moments found in the media (markers), then each candidate with a
// still of its frame to accept, reject or move.
function fmtPrecise(ms) {
  const s = ms / 1000, mm = Math.floor(s / 60);
  return `${mm}:${(s - mm * 60).toFixed(1).padStart(4, '0')}`;
}

function breakStrip(item, redraw) {
  const len = item.duration_ms || 1;
  const pct = (ms) => `${Math.max(0, Math.min(100, (ms / len) * 100)).toFixed(3)}%`;
  const cands = item.break_candidates || [];
  const strip = h('div', { class: 'break-strip', title: 'breaks the schedule uses (white) and found in the media (colour)' },
    item.breakpoints.map((ms) => h('span', { class: 'tick', style: { left: pct(ms) }, title: `break at ${fmtPrecise(ms)}` })),
    cands.map((c) => h('span', { class: `cand ${c.state}`, style: { left: pct(c.offset_ms) }, title: `${fmtPrecise(c.offset_ms)} ${c.state}` })));
  if (!cands.length) return [strip, h('p', { class: 'dim' }, 'No black-and-silent moments found in the media (yet).')];
  const decide = async (c, state, offset) => {
    try {
      const body = offset === undefined ? { state } : { state, offset_ms: offset };
      redraw(await api('PUT', `/api/items/${item.id}/candidates/${c.start_ms}`, body));
      toast(state === 'rejected' ? 'Rejected' : 'Saved', 'good');
    } catch (e) { fail(e); }
  };
  const rows = cands.map((c) => {
    const at = h('input', { type: 'text', value: fmtPrecise(c.offset_ms), class: 'mono', size: 8, 'aria-label': 'break at' });
    const img = h('img', { class: 'cand-still', alt: `frame at ${fmtPrecise(c.offset_ms)}`, loading: 'lazy', src: `/api/items/${item.id}/still.jpg?at=${c.offset_ms}` });
    return h('div', { class: `cand-card ${c.state}`, 'data-start': c.start_ms }, img,
      h('div', {},
        h('b', {}, fmtPrecise(c.offset_ms)), ' ',
        h('span', { class: 'dim' }, `${((c.end_ms - c.start_ms) / 1000).toFixed(2)} s black and silent, ${c.fade_ms ? `fade ${(c.fade_ms / 1000).toFixed(1)} s` : 'cut'}, ${Math.round(c.confidence * 100)} % — ${c.state}`),
        h('div', { class: 'actions' },
          h('button', { class: 'shrink cand-accept', onclick: () => decide(c, 'accepted') }, 'Accept'),
          h('button', { class: 'shrink cand-reject', onclick: () => decide(c, 'rejected') }, 'Reject'),
          at, h('button', { class: 'shrink cand-move', onclick: () => { try { decide(c, 'accepted', parseOffset(at.value)); } catch (e) { fail(e); } } }, 'Move here'))));
  });
  return [strip, h('div', { class: 'cand-list' }, rows)];
}

// ---------------------------------------------------------------- 4. channels

const FILL_KINDS = [['series', 'Series'], ['tag', 'Tag / collection'], ['genre', 'Genre'], ['movies', 'Movies'], ['decade', 'Decade'], ['anything', 'Anything']];
const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

VIEWS.channels = async (main, [chanId]) => {
  if (chanId) return channelEditor(main, chanId);
  const channels = await api('GET', '/api/channels');
  const form = h('form', { id: 'channel-form', class: 'row' },
    field('Number', h('input', { type: 'text', name: 'number', required: true, placeholder: '5 or 5.1', inputmode: 'decimal' })),
    field('Name', h('input', { type: 'text', name: 'name', required: true, placeholder: 'Sitcom Gold' })),
    field('Call sign', h('input', { type: 'text', name: 'call_sign', placeholder: 'SITG' })),
    h('button', { class: 'primary shrink', type: 'submit' }, 'Create channel'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    try { const c = await api('POST', '/api/channels', f); toast(`Channel ${c.number} created`, 'good'); location.hash = `#/channels/${c.id}`; } catch (e) { fail(e); }
  });
  const auto = h('div', { id: 'auto-build' });
  const autoBtn = h('button', { id: 'auto-suggest', onclick: async () => {
    try {
      const props = await api('GET', '/api/channels/auto');
      if (!props.length) { auto.replaceChildren(h('p', { class: 'dim' }, 'No suggestion: the library has nothing that is not already on a channel.')); return; }
      auto.replaceChildren(h('table', {}, h('tbody', {}, props.map((p) => h('tr', {}, h('td', { class: 'mono' }, p.number), h('td', {}, h('b', {}, p.name)), h('td', {}, p.summary || p.description || ''))))),
        h('div', { class: 'actions' }, h('button', { class: 'primary', onclick: async () => {
          try { const made = await api('POST', '/api/channels/auto', {}); toast(`${made.length} channels created`, 'good'); route(); } catch (e) { fail(e); }
        } }, 'Create these channels')));
    } catch (e) { fail(e); }
  } }, 'Suggest channels from the library');
  main.replaceChildren(h('h1', {}, 'Channels'),
    h('div', { class: 'panel' }, channels.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'channel-table' }, h('thead', {}, h('tr', {}, ['No.', 'Name', 'Call sign', 'Format', 'Breaks', 'Mode', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, channels.map((c) => h('tr', { class: 'click', onclick: () => { location.hash = `#/channels/${c.id}`; } },
        h('td', { class: 'mono' }, c.number), h('td', {}, h('b', {}, c.name), c.enabled ? null : h('span', { class: 'badge warn' }, 'off')), h('td', {}, c.call_sign),
        h('td', {}, c.settings.profile.format), h('td', {}, c.settings.break_style), h('td', {}, c.settings.mode.replace('_', ' ')), h('td', {}, '✎'))))))
      : h('p', { class: 'dim' }, 'No channels yet.')),
    h('div', { class: 'panel' }, h('h2', {}, 'New channel'), form),
    h('div', { class: 'panel' }, h('h2', {}, 'Auto build'), h('p', { class: 'dim' }, 'Let Retrovue propose channels from what the library holds (series, genres, movies).'), autoBtn, auto),
    h('div', { class: 'panel' }, h('h2', {}, 'Schedules'),
      h('p', { class: 'dim' }, 'Edits reach the schedules by themselves within seconds, after the frozen window (what is on now and next stays as published).'),
      h('button', { id: 'rebuild-now', onclick: async (ev) => {
        ev.target.disabled = true;
        try { const r = await api('POST', '/api/schedule/rebuild', {}); toast(`Rebuilt ${r.channels.length} channel schedule${r.channels.length === 1 ? '' : 's'} after the frozen window`, 'good'); } catch (e) { fail(e); }
        ev.target.disabled = false;
      } }, 'Rebuild now')));
};

async function channelEditor(main, id) {
  const c = await api('GET', `/api/channels/${encodeURIComponent(id)}`);
  const s = c.settings;
  const form = h('form', { id: 'channel-edit' },
    h('div', { class: 'row' },
      field('Number', h('input', { type: 'text', name: 'number', value: c.number })), field('Name', h('input', { type: 'text', name: 'name', value: c.name })),
      field('Call sign', h('input', { type: 'text', name: 'call_sign', value: c.call_sign })),
      field('Guide group', h('input', { type: 'text', name: 'group', value: s.group || '' }))),
    h('h3', {}, 'Programming'),
    h('div', { class: 'row' },
      field('Break style', select('break_style', [['us', 'US: several short breaks'], ['uk', 'UK: fewer, longer'], ['none', 'No commercials']], s.break_style)),
      field('Runs', select('mode', [['on_demand', 'On demand'], ['always_on', 'Always on']], s.mode)),
      field('Rating limit', select('rating_limit', [['', 'none'], 'TV-Y', 'TV-Y7', 'TV-G', 'TV-PG', 'TV-14', 'G', 'PG', 'PG-13', 'R'], s.rating_limit)),
      field('Default fill (tag, genre or series)', h('input', { type: 'text', name: 'default_fill', value: s.default_fill || '' }))),
    h('h3', {}, 'Output profile'),
    h('div', { class: 'row' },
      field('Picture', select('format', [['sd640x480', '640×480 (4:3)'], ['sd704x480', '704×480 (4:3)'], ['hd720', '1280×720 (16:9)']], s.profile.format)),
      field('Frame rate', select('frame_rate', [['29.97', '29.97 (NTSC)'], ['25', '25 (PAL)']], s.profile.frame_rate)),
      field('Video kbit/s', h('input', { type: 'number', name: 'video_kbps', value: s.profile.video_kbps, min: 200, max: 20000 })),
      field('Audio kbit/s', h('input', { type: 'number', name: 'audio_kbps', value: s.profile.audio_kbps, min: 32, max: 512 }))),
    h('h3', {}, 'Bug and graphics'),
    h('div', { class: 'row' },
      field('Bug shows', select('bug_rule', [['programs_only', 'During programs'], ['always', 'Always'], ['never', 'Never']], s.bug.rule)),
      field('Corner', select('bug_corner', [['bottom_right', 'Bottom right'], ['bottom_left', 'Bottom left'], ['top_right', 'Top right'], ['top_left', 'Top left']], s.bug.corner)),
      field('Bug text (blank: call sign)', h('input', { type: 'text', name: 'bug_text', value: s.bug.text || '' })),
      field('Bug image (PNG path on the box)', h('input', { type: 'text', name: 'bug_image', value: s.bug.image || '' })),
      field('Opacity', h('input', { type: 'number', name: 'bug_opacity', value: s.bug.opacity, min: 0, max: 1, step: 0.05 }))),
    h('div', {}, h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'lower_thirds', checked: s.lower_thirds }), 'Now/next lower thirds'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'clock', checked: s.clock }), 'Clock'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'captions', checked: s.captions }), 'Closed captions'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'enabled', checked: c.enabled }), 'Enabled')),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Save channel'),
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!await dialog('Delete channel', h('p', {}, `Delete channel ${c.number} ${c.name} and its schedule?`), 'Delete', true)) return;
        try { await api('DELETE', `/api/channels/${c.id}`); location.hash = '#/channels'; } catch (e) { fail(e); }
      } }, 'Delete')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form), g = (k) => String(f.get(k) || '').trim();
    const settings = { ...s, break_style: g('break_style'), mode: g('mode'), rating_limit: g('rating_limit') || null, default_fill: g('default_fill') || null,
      group: g('group') || null, lower_thirds: f.has('lower_thirds'), clock: f.has('clock'), captions: f.has('captions'),
      profile: { format: g('format'), frame_rate: g('frame_rate'), video_kbps: Number(g('video_kbps')), audio_kbps: Number(g('audio_kbps')) },
      bug: { ...s.bug, rule: g('bug_rule'), corner: g('bug_corner'), text: g('bug_text') || null, image: g('bug_image') || null, opacity: Number(g('bug_opacity')) } };
    try {
      await api('PUT', `/api/channels/${c.id}`, { number: g('number'), name: g('name'), call_sign: g('call_sign'), enabled: f.has('enabled'), settings });
      toast('Channel saved', 'good');
    } catch (e) { fail(e); }
  });
  const week = h('div', { id: 'week-editor' });
  main.replaceChildren(h('p', {}, h('a', { href: '#/channels' }, '← Channels')), h('h1', {}, `${c.number} ${c.name}`),
    h('div', { class: 'panel' }, form), h('div', { class: 'panel' }, h('h2', {}, 'Programming grid'), week));
  weekEditor(week, c).catch((e) => week.replaceChildren(h('p', { class: 'notice bad' }, e.message)));
}

// A week timeline: drag blocks from the palette onto a day, drag them to move, click to edit.
async function weekEditor(root, channel) {
  const PX = 24; // per hour
  let blocks = [];
  const stored = await api('GET', `/api/channels/${channel.id}/slots`);
  stored.forEach((sl) => sl.days.forEach((d) => blocks.push({ day: d, start: sl.start_minute, len: sl.length_min, fill: sl.fill })));
  let armed = null; // palette block chosen by tap (phones)
  const label = (f) => `${f.kind === 'anything' ? 'Anything' : f.value || f.kind}`;
  const palette = h('div', { class: 'palette' });
  const pKind = select('kind', FILL_KINDS, 'series'), pValue = h('input', { type: 'text', name: 'value', placeholder: 'e.g. The Flintstones' }),
    pLen = select('len', [[30, '30 min'], [60, '1 h'], [90, '1½ h'], [120, '2 h'], [180, '3 h']], 30);
  const addPalette = () => {
    const fill = { kind: pKind.value, value: pValue.value.trim() || null };
    if (fill.kind !== 'anything' && fill.kind !== 'movies' && !fill.value) return toast('Give the series, tag, genre or decade', 'bad');
    const b = h('div', { class: `block f-${fill.kind}`, draggable: 'true', title: 'drag onto a day, or tap then tap a day' }, `${label(fill)} · ${pLen.value}′`);
    const payload = { fill, len: Number(pLen.value) };
    b.addEventListener('dragstart', (ev) => ev.dataTransfer.setData('text/plain', JSON.stringify({ new: payload })));
    b.addEventListener('click', () => { armed = payload; palette.querySelectorAll('.block').forEach((x) => x.classList.toggle('dragging', x === b)); });
    palette.append(b);
  };
  const grid = h('div', { class: 'week' });
  const draw = () => {
    const hours = h('div', { class: 'hours', style: { height: `${24 * PX}px` } }, Array.from({ length: 24 }, (_, i) => h('span', { style: { top: `${i * PX}px` } }, `${pad(i)}:00`)));
    const cols = DAYS.map((_, d) => {
      const col = h('div', { class: 'day', style: { height: `${24 * PX}px` }, 'data-day': d });
      const at = (ev) => Math.max(0, Math.min(1410, Math.floor((ev.clientY - col.getBoundingClientRect().top) / (PX / 2)) * 30));
      col.addEventListener('dragover', (ev) => { ev.preventDefault(); col.classList.add('drop'); });
      col.addEventListener('dragleave', () => col.classList.remove('drop'));
      col.addEventListener('drop', (ev) => {
        ev.preventDefault(); col.classList.remove('drop');
        const data = JSON.parse(ev.dataTransfer.getData('text/plain'));
        if (data.new) blocks.push({ day: d, start: at(ev), len: data.new.len, fill: data.new.fill });
        else { const b = blocks[data.move]; b.day = d; b.start = at(ev); }
        draw();
      });
      col.addEventListener('click', (ev) => { if (armed && ev.target === col) { blocks.push({ day: d, start: at(ev), len: armed.len, fill: armed.fill }); draw(); } });
      blocks.forEach((b, i) => {
        if (b.day !== d) return;
        const el = h('div', { class: `block f-${b.fill.kind}`, draggable: 'true', style: { top: `${(b.start / 60) * PX}px`, height: `${Math.max(10, (b.len / 60) * PX - 2)}px` },
          title: `${pad(Math.floor(b.start / 60))}:${pad(b.start % 60)} ${label(b.fill)} (${b.len} min) — click to remove` }, `${pad(Math.floor(b.start / 60))}:${pad(b.start % 60)} ${label(b.fill)}`);
        el.addEventListener('dragstart', (ev) => { ev.dataTransfer.setData('text/plain', JSON.stringify({ move: i })); el.classList.add('dragging'); });
        el.addEventListener('click', async (ev) => {
          ev.stopPropagation();
          if (await dialog('Remove block', h('p', {}, `Remove ${label(b.fill)} on ${DAYS[b.day]} at ${pad(Math.floor(b.start / 60))}:${pad(b.start % 60)}?`), 'Remove', true)) { blocks.splice(i, 1); draw(); }
        });
        col.append(el);
      });
      return col;
    });
    grid.replaceChildren(h('div', {}), ...DAYS.map((d) => h('div', { class: 'head' }, d)), hours, ...cols);
  };
  const save = async () => {
    // Identical blocks on several days become one slot.
    const merged = new Map();
    blocks.forEach((b) => {
      const key = JSON.stringify([b.start, b.len, b.fill]);
      if (!merged.has(key)) merged.set(key, { days: [], start_minute: b.start, length_min: b.len, fill: b.fill });
      merged.get(key).days.push(b.day);
    });
    try { await api('PUT', `/api/channels/${channel.id}/slots`, [...merged.values()]); toast('Grid saved; the schedule is rebuilt past the frozen window', 'good'); } catch (e) { fail(e); }
  };
  root.replaceChildren(h('p', { class: 'dim' }, 'Make a block, then drag it onto a day (or tap it, then tap a day). Drag blocks to move them; click one to remove it. Times snap to the half hour.'),
    h('div', { class: 'row' }, field('Fill with', pKind), field('Which', pValue), field('Length', pLen), h('button', { class: 'shrink', type: 'button', onclick: addPalette, id: 'palette-add' }, 'Make block')),
    palette, h('div', { class: 'table-wrap' }, grid), h('div', { class: 'actions' }, h('button', { class: 'primary', id: 'grid-save', onclick: save }, 'Save grid')));
  draw();
}

// ---------------------------------------------------------------- 5. guide

VIEWS.guide = async (main) => {
  const g = await api('GET', '/api/guide?hours=24');
  const PXMIN = 4; // px per minute
  const x = (ms) => ((ms - g.start) / 60000) * PXMIN;
  const width = x(g.end);
  const player = h('div', { class: 'panel player hidden', id: 'player' });
  const times = h('div', { class: 'guide-times' }, h('div', { class: 'corner' }), h('div', { class: 'guide-track', style: { width: `${width}px`, position: 'relative' } },
    Array.from({ length: Math.ceil((g.end - g.start) / 1800000) }, (_, i) => {
      const t = Math.ceil(g.start / 1800000) * 1800000 + i * 1800000;
      return t < g.end ? h('span', { style: { left: `${x(t) + 4}px` } }, fmtTime(t)) : null;
    })));
  const rows = g.channels.map((c) => h('div', { class: 'guide-row' },
    h('div', { class: 'guide-ch', title: 'watch', onclick: () => watch(c, player) }, h('b', {}, c.number), h('small', {}, c.name)),
    h('div', { class: 'guide-track', style: { width: `${width}px` } },
      h('div', { class: 'guide-now', style: { left: `${x(g.now)}px` } }),
      c.programs.map((p) => h('div', { class: `guide-prog ${p.start <= g.now && g.now < p.end ? 'current' : ''}`, 'data-start': p.start, 'data-end': p.end,
        style: { left: `${Math.max(0, x(p.start))}px`, width: `${Math.max(8, x(p.end) - Math.max(0, x(p.start)) - 2)}px` },
        onclick: () => dialog(p.title, h('div', {}, h('p', { class: 'mono' }, `${c.number} ${c.name} · ${fmtTime(p.start)}–${fmtTime(p.end)}`),
          p.sub_title ? h('p', {}, h('b', {}, p.sub_title)) : null, p.episode ? h('p', { class: 'dim' }, p.episode) : null,
          p.plot ? h('p', {}, p.plot) : null, h('p', { class: 'dim' }, [p.rating, ...(p.categories || [])].filter(Boolean).join(' · '))), 'Close') },
        p.title, h('small', {}, `${fmtTime(p.start)} ${p.sub_title || ''}`))))));
  main.replaceChildren(h('div', { class: 'spread' }, h('h1', {}, 'Guide'), h('small', { class: 'dim' }, 'Click a channel to watch it, a program for details.')), player,
    g.channels.length ? h('div', { class: 'guide', id: 'guide' }, h('div', { class: 'guide-inner' }, times, rows)) : h('div', { class: 'panel' }, 'No channels on the air yet. ', h('a', { href: '#/channels' }, 'Create one'), '.'));
  const gEl = $('#guide');
  if (gEl) gEl.scrollLeft = Math.max(0, x(g.now) - 120);
  // "Now" moves on while the page stays open (the box's clock, not the browser's).
  const skew = g.now - Date.now();
  S.timers.push(setInterval(() => {
    const now = Date.now() + skew;
    main.querySelectorAll('.guide-now').forEach((el) => { el.style.left = `${x(now)}px`; });
    main.querySelectorAll('.guide-prog').forEach((el) => el.classList.toggle('current', Number(el.dataset.start) <= now && now < Number(el.dataset.end)));
  }, 15000));
};

// The preview plays through hls.js wherever Media Source Extensions exist (Chromium, Firefox,
// desktop Safari). Chromium 156's own HLS answers canPlayType() with "maybe" but fails
// (DEMUXER_ERROR_COULD_NOT_PARSE) on a live playlist shorter than three segments or one that
// still lists the first segment of a channel that just started: every cold preview. Native
// HLS is the fallback (iPhone Safari without MSE). hls.js (vendored, see assets/README.md)
// is fetched on first use only, so other pages stay small.
const HLS_JS = '/assets/hls-1.7.4.light.min.js';
let hlsLoading = null;
function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  hlsLoading = hlsLoading || new Promise((resolve, reject) => {
    const s = h('script', { src: HLS_JS });
    s.addEventListener('load', () => resolve(window.Hls));
    s.addEventListener('error', () => { hlsLoading = null; s.remove(); reject(new Error('The player script did not load')); });
    document.head.append(s);
  });
  return hlsLoading;
}

function stopPreview() {
  if (S.hls) { S.hls.destroy(); S.hls = null; }
}

async function watch(c, player) {
  stopPreview();
  const video = h('video', { controls: true, autoplay: true, muted: true, playsinline: true, id: 'preview' });
  video.muted = true; // the attribute alone does not mute an element made by script, and autoplay needs it
  const status = h('p', { class: 'dim', id: 'preview-status' }, 'Tuning…');
  const links = h('p', { class: 'dim' }, 'Also: ', h('a', { href: c.ts }, 'MPEG-TS stream'), ' (VLC, mpv) · ', h('a', { href: c.hls }, 'HLS playlist'));
  const close = () => { stopPreview(); player.classList.add('hidden'); player.replaceChildren(); };
  player.replaceChildren(h('div', { class: 'spread' }, h('h2', {}, `${c.number} ${c.name}`), h('button', { class: 'small', id: 'preview-close', onclick: close }, 'Close')), video, status, links);
  player.classList.remove('hidden');
  player.scrollIntoView({ behavior: 'smooth' });
  video.addEventListener('playing', () => status.replaceChildren('Live'));
  video.addEventListener('waiting', () => status.replaceChildren('Buffering…'));
  const say = (text) => status.replaceChildren(h('b', {}, text));
  video.addEventListener('error', () => { if (!S.hls) say(`The preview failed: ${video.error.message || `error ${video.error.code}`}`); });
  if (window.MediaSource || window.ManagedMediaSource) {
    let Hls;
    try { Hls = await loadHls(); } catch (e) { say(e.message); return; }
    if (!video.isConnected) return; // closed or another channel chosen meanwhile
    if (Hls.isSupported()) {
      const hls = new Hls({ liveSyncDurationCount: 2 });
      S.hls = hls;
      let tries = 0;
      hls.on(Hls.Events.ERROR, (_, d) => {
        if (!d.fatal || S.hls !== hls) return;
        // A channel that starts or restarts can briefly miss segments: retry a few times.
        const retry = tries++ < 4;
        if (retry && d.type === Hls.ErrorTypes.NETWORK_ERROR) { say('Reconnecting…'); hls.startLoad(); return; }
        if (retry && d.type === Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
        stopPreview();
        say(`The preview stopped (${d.details}). Try again, or use the links below.`);
      });
      hls.loadSource(c.hls);
      hls.attachMedia(video);
      return;
    }
  }
  if (video.canPlayType('application/vnd.apple.mpegurl')) { video.src = c.hls; return; }
  say('This browser cannot play HLS in the page.');
}

// ---------------------------------------------------------------- 6. emergency

VIEWS.emergency = async (main) => {
  const channels = await api('GET', '/api/channels');
  const list = h('div', { id: 'alert-list' });
  const chanBoxes = h('div', { id: 'alert-channels' }, channels.map((c) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'ch', value: c.number }), `${c.number} ${c.name}`)));
  const form = h('form', { id: 'alert-form' },
    field('Message', h('textarea', { name: 'message', rows: 3, required: true, maxlength: 1000, placeholder: 'The National Weather Service has issued a tornado warning…' })),
    h('div', { class: 'row' },
      field('Mode', select('mode', [['crawl', 'Crawl over the picture'], ['slate', 'Full-screen slate']], 'crawl')),
      field('Duration', select('duration', [['2m', '2 minutes'], ['5m', '5 minutes'], ['15m', '15 minutes'], ['1h', '1 hour'], ['', 'Until cleared']], '5m')),
      h('div', {}, h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'tone' }), 'Attention tone'))),
    h('h3', {}, 'Channels'), h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'all', checked: true, onchange: (ev) => chanBoxes.classList.toggle('hidden', ev.target.checked) }), 'All channels'),
    chanBoxes,
    h('div', { class: 'actions' }, h('button', { class: 'danger', type: 'submit', id: 'alert-raise' }, 'Raise alert…')));
  chanBoxes.classList.add('hidden');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { message: String(f.get('message')).trim(), mode: f.get('mode'), tone: f.has('tone'), channels: f.has('all') ? 'all' : f.getAll('ch') };
    if (f.get('duration')) body.duration = f.get('duration');
    if (!f.has('all') && !body.channels.length) return toast('Choose at least one channel', 'bad');
    const where = body.channels === 'all' ? 'every channel' : `channels ${body.channels.join(', ')}`;
    if (!await dialog('Put this alert on the air?', h('div', {}, h('p', {}, h('b', {}, body.message)),
      h('p', {}, `${body.mode === 'slate' ? 'Full-screen slate' : 'Crawl'} on ${where}, ${f.get('duration') || 'until cleared'}${body.tone ? ', with the attention tone' : ''}.`)), 'Go on air', true)) return;
    try { await api('POST', '/api/emergency/alerts', body); toast('Alert on the air', 'good'); form.reset(); chanBoxes.classList.add('hidden'); load(); } catch (e) { fail(e); }
  });
  const load = async () => {
    const r = await api('GET', '/api/emergency/alerts');
    const live = new Set(r.live);
    list.replaceChildren(r.alerts.length ? h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ['', 'Message', 'Mode', 'Channels', 'From', 'Until', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, r.alerts.map((a) => h('tr', {},
        h('td', {}, live.has(a.id) ? h('span', { class: 'badge warn' }, 'on air') : h('span', { class: 'badge' }, a.cleared_at ? 'cleared' : 'ended')),
        h('td', {}, a.message), h('td', {}, a.mode), h('td', {}, Array.isArray(a.channels) ? a.channels.join(', ') : String(a.channels)),
        h('td', {}, fmtWhen(Date.parse(a.starts_at))), h('td', {}, a.cleared_at ? fmtWhen(Date.parse(a.cleared_at)) : a.ends_at ? fmtWhen(Date.parse(a.ends_at)) : 'cleared by hand'),
        h('td', {}, a.cleared_at || (a.ends_at && Date.parse(a.ends_at) < Date.now()) ? null : h('button', { class: 'small primary', onclick: async () => {
          try { await api('POST', `/api/emergency/alerts/${a.id}/clear`, {}); toast('Cleared', 'good'); load(); } catch (e) { fail(e); }
        } }, 'Clear')))))))
      : h('p', { class: 'dim' }, 'No alerts yet.'));
  };
  main.replaceChildren(h('h1', {}, 'Emergency alerts'),
    h('div', { class: 'panel' }, h('h2', {}, 'Raise an alert'), form),
    h('div', { class: 'panel' }, h('div', { class: 'spread' }, h('h2', {}, 'Active and recent'), h('button', { class: 'small', id: 'alert-clear-all', onclick: async () => {
      try { await api('POST', '/api/emergency/clear', {}); toast('All alerts cleared', 'good'); load(); } catch (e) { fail(e); }
    } }, 'Clear all')), list));
  every(5000, () => load().catch(fail));
};

// ---------------------------------------------------------------- 7. logs

VIEWS.logs = async (main) => {
  const channels = await api('GET', '/api/channels');
  const q = { channel: '', status: '', hours: '24' };
  const table = h('div', { class: 'table-wrap' });
  const csv = h('a', { class: 'button', id: 'logs-csv', download: '' }, 'Download CSV');
  const filters = h('form', { class: 'row', id: 'log-filters' },
    field('Channel', select('channel', [['', 'all'], ...channels.map((c) => [c.id, `${c.number} ${c.name}`])], '')),
    field('Status', select('status', [['', 'all'], ['aired', 'aired'], ['partial', 'partial'], ['failed', 'failed (errors)'], ['alert', 'alert']], '')),
    field('Period', select('hours', [['6', 'last 6 h'], ['24', 'last 24 h'], ['168', 'last 7 days'], ['720', 'last 30 days']], '24')), csv);
  const load = async () => {
    const params = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== ''));
    csv.href = `/api/logs.csv?${params}`;
    const rows = await api('GET', `/api/logs?${params}`);
    table.replaceChildren(rows.length ? h('table', {}, h('thead', {}, h('tr', {}, ['Channel', 'Started', 'Ended', 'Kind', 'Title', 'Planned', 'Status'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, h('td', { class: 'mono' }, r.channel), h('td', { class: 'mono' }, fmtWhen(r.actual_start)), h('td', { class: 'mono' }, r.actual_end ? fmtTime(r.actual_end) : '…'),
        h('td', {}, r.kind), h('td', {}, r.title), h('td', { class: 'mono' }, r.planned_start ? fmtTime(r.planned_start) : ''),
        h('td', {}, h('span', { class: `badge ${r.status === 'aired' ? 'on' : r.status === 'failed' ? 'warn' : ''}` }, r.status), r.error ? h('div', { class: 'dim' }, r.error) : null)))))
      : h('p', { class: 'dim' }, 'Nothing aired in this period.'));
  };
  filters.addEventListener('change', () => { for (const [k, v] of new FormData(filters)) q[k] = v; load().catch(fail); });
  main.replaceChildren(h('h1', {}, 'As-run log'), h('div', { class: 'panel' }, filters), h('div', { class: 'panel' }, table));
  await load();
};

// ---------------------------------------------------------------- 8. settings

VIEWS.settings = async (main, [sub]) => {
  const [s, zones] = await Promise.all([api('GET', '/api/settings'), api('GET', '/api/timezones')]);
  const v = s.values;
  if (sub === 'plex') return plexHelp(main, s);
  const restart = h('div', { id: 'restart-notice' });
  const showRestart = (st) => restart.replaceChildren(st.restart_needed.length ? h('div', { class: 'notice' }, h('b', {}, 'Restart needed: '),
    `${st.restart_needed.join(', ').replace(/_/g, ' ')} ${st.restart_needed.length === 1 ? 'is' : 'are'} saved and take${st.restart_needed.length === 1 ? 's' : ''} effect when the box (or the retrovue service) restarts.`) : '');
  showRestart(s);
  const form = h('form', { id: 'settings-form' },
    h('div', { class: 'row' },
      field('Device name', h('input', { type: 'text', name: 'device_name', value: v.device_name, maxlength: 64 })),
      field('Time zone', h('select', { name: 'timezone' }, zones.map((z) => h('option', { value: z, selected: z === v.timezone }, z)))),
      field('Tuners (0 = automatic)', h('input', { type: 'number', name: 'tuner_count', value: v.tuner_count, min: 0, max: 16 })),
      field('Encoder', select('encoder', [['auto', `auto${s.encoders.length ? ` (${s.encoders[0]})` : ''}`], ...s.encoders], v.encoder))),
    h('div', {}, h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'announce', checked: v.announce }), 'Announce on the network (SSDP, mDNS) so Plex and apps find the box')),
    h('h3', {}, 'Output default for new channels'),
    h('div', { class: 'row' },
      field('Picture', select('format', [['sd640x480', '640×480 (4:3)'], ['sd704x480', '704×480 (4:3)'], ['hd720', '1280×720 (16:9)']], s.output.format)),
      field('Frame rate', select('frame_rate', [['29.97', '29.97 (NTSC)'], ['25', '25 (PAL)']], s.output.frame_rate)),
      field('Video kbit/s', h('input', { type: 'number', name: 'video_kbps', value: s.output.video_kbps, min: 200, max: 20000 })),
      field('Audio kbit/s', h('input', { type: 'number', name: 'audio_kbps', value: s.output.audio_kbps, min: 32, max: 512 }))),
    h('h3', {}, 'Plex'),
    h('div', { class: 'row' }, field(`Plex token ${s.plex_token ? `(stored: ${s.plex_token})` : '(none stored)'}`, h('input', { type: 'password', name: 'plex_token', placeholder: 'leave blank to keep', autocomplete: 'off' })),
      s.plex_token ? h('label', { class: 'check shrink' }, h('input', { type: 'checkbox', name: 'forget_token' }), 'Forget the token') : null),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Save settings'), h('a', { class: 'button', href: '#/settings/plex' }, 'Manual Plex setup…')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form), g = (k) => String(f.get(k) || '').trim();
    // Only what changed is sent, so untouched values keep following the config file.
    const all = { device_name: g('device_name'), timezone: g('timezone'), tuner_count: Number(g('tuner_count')), encoder: g('encoder'), announce: f.has('announce') };
    const body = Object.fromEntries(Object.entries(all).filter(([k, x]) => x !== v[k]));
    const output = { format: g('format'), frame_rate: g('frame_rate'), video_kbps: Number(g('video_kbps')), audio_kbps: Number(g('audio_kbps')) };
    if (JSON.stringify(output) !== JSON.stringify(s.output)) body.output = output;
    if (g('plex_token')) body.plex_token = g('plex_token');
    if (f.has('forget_token')) body.plex_token = '';
    try { const r = await api('PUT', '/api/settings', body); Object.assign(v, r.values); s.output = r.output; showRestart(r); toast('Settings saved', 'good'); } catch (e) { fail(e); }
  });
  const pw = h('form', { id: 'password-form', class: 'row' },
    field('Current password', h('input', { type: 'password', name: 'current', autocomplete: 'current-password', required: true })),
    field('New password', h('input', { type: 'password', name: 'new', autocomplete: 'new-password', required: true, minlength: 8 })),
    h('button', { class: 'shrink', type: 'submit' }, 'Change password'));
  pw.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try { await api('POST', '/api/password', Object.fromEntries(new FormData(pw))); pw.reset(); toast('Password changed; other sessions were logged out', 'good'); } catch (e) { fail(e); }
  });
  const file = h('input', { type: 'file', accept: '.db,application/vnd.sqlite3', id: 'restore-file' });
  const restoreBtn = h('button', { class: 'danger', type: 'button', onclick: async () => {
    const f = file.files[0];
    if (!f) return toast('Choose a backup file first', 'bad');
    if (!await dialog('Restore from backup?', h('p', {}, `Replace every channel, source, setting and schedule on this box with ${f.name}? The admin password becomes the one in the backup.`), 'Restore', true)) return;
    try { const r = await api('POST', '/api/restore', await f.arrayBuffer(), { raw: true }); toast(r.notice, 'good'); boot(); } catch (e) { fail(e); }
  } }, 'Restore…');
  main.replaceChildren(h('h1', {}, 'Settings'), restart,
    h('div', { class: 'panel' }, form),
    linksPanel(),
    h('div', { class: 'panel' }, h('h2', {}, 'Add by hand'), plexUrls(s), h('p', {}, h('a', { href: '#/settings/plex' }, 'Step-by-step help for Plex'))),
    h('div', { class: 'panel' }, h('h2', {}, 'Backup and restore'), h('p', { class: 'dim' }, 'One file with the configuration and the whole database (channels, library, schedules, log).'),
      h('div', { class: 'actions' }, h('a', { class: 'button primary', href: '/api/backup', download: '' }, 'Download backup'), file, restoreBtn)),
    h('div', { class: 'panel' }, h('h2', {}, 'Account'), pw, h('div', { class: 'actions' }, h('button', { id: 'logout', onclick: async () => {
      try { await api('POST', '/api/logout', {}); } finally { S.session = null; boot(); }
    } }, `Log out ${S.session.username || ''}`))));
};

// The "Add to Plex / Jellyfin / Emby" panel: one click registers the box on a server (tuner,
// guide, channel map, guide load); the box then keeps it up to date and repairs it.
function linksPanel() {
  const list = h('div', { id: 'links-list' }), known = h('div', { id: 'links-known' });
  const kindSel = select('type', [['plex', 'Plex'], ['jellyfin', 'Jellyfin'], ['emby', 'Emby']], 'plex');
  const form = h('form', { id: 'link-form', class: 'row' },
    field('Server', kindSel),
    field('URL', h('input', { type: 'text', name: 'url', placeholder: 'http://192.168.1.20:32400', required: true })),
    field('Token or API key', h('input', { type: 'password', name: 'token', autocomplete: 'off' })),
    field('or user (Jellyfin/Emby)', h('input', { type: 'text', name: 'user', autocomplete: 'off' })),
    field('and password', h('input', { type: 'password', name: 'password', autocomplete: 'off' })),
    h('button', { class: 'primary shrink', type: 'submit', id: 'link-add' }, 'Link'));
  const done = (r) => toast(`Linked ${r.link.name}: ${r.changed || 'already set up'}`, r.link.state === 'linked' ? 'good' : '');
  const busy = async (btn, fn) => { btn.disabled = true; try { await fn(); } catch (e) { fail(e); } finally { btn.disabled = false; } load(); };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form), g = (k) => String(f.get(k) || '').trim();
    const body = { type: g('type'), url: g('url') };
    if (g('token')) body.token = g('token');
    if (g('user')) { body.user = g('user'); body.password = String(f.get('password') || ''); }
    busy($('#link-add', form), async () => { done(await api('POST', '/api/links', body)); form.reset(); });
  });
  const load = async () => {
    let r;
    try { r = await api('GET', '/api/links'); } catch (e) { list.replaceChildren(h('p', { class: 'notice bad' }, e.message)); return; }
    list.replaceChildren(r.links.length ? h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ['Server', 'State', 'Last guide refresh', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, r.links.map((l) => h('tr', { 'data-link': l.id },
        h('td', {}, h('span', { class: 'badge' }, l.kind), ' ', h('b', {}, l.name), h('div', { class: 'mono dim' }, l.url)),
        h('td', { class: 'link-state' }, l.state === 'linked' ? h('span', { class: 'badge on' }, 'linked') : h('span', { class: 'badge warn' }, 'needs attention'),
          l.problem ? h('div', { class: 'dim' }, l.problem) : null, l.last_action ? h('div', { class: 'dim' }, l.last_action) : null),
        h('td', {}, fmtWhen(l.last_refresh_at)),
        h('td', {}, h('button', { class: 'small', onclick: (ev) => busy(ev.target, async () => done(await api('POST', `/api/links/${l.id}/check`, {}))) }, 'Link'), ' ',
          h('button', { class: 'small danger', onclick: async (ev) => {
            if (!await dialog('Unlink', h('p', {}, `Remove this box's tuner and guide from ${l.name} (${l.url})?`), 'Unlink', true)) return;
            busy(ev.target, async () => { const u = await api('DELETE', `/api/links/${l.id}`); toast(u.remote_error ? `Forgotten here; the server said: ${u.remote_error}` : `Unlinked: removed ${u.removed.join(', ')}`, u.remote_error ? 'bad' : 'good'); });
          } }, 'Unlink')))))))
      : h('p', { class: 'dim' }, 'No media server linked yet.'));
    const unlinked = r.plex_servers.filter((p) => !p.link_id);
    known.replaceChildren(unlinked.length ? h('div', { class: 'actions' }, h('span', { class: 'dim' }, 'Plex servers from your sources: '),
      unlinked.map((p) => h('button', { class: 'primary small', 'data-source': p.source_id, onclick: (ev) => busy(ev.target, async () => done(await api('POST', '/api/links', { type: 'plex', source_id: p.source_id }))) },
        `Link ${p.name} (${p.url})`))) : '');
  };
  every(10000, () => load());
  return h('div', { class: 'panel', id: 'links-panel' }, h('h2', {}, 'Add to Plex / Jellyfin / Emby'),
    h('p', { class: 'dim' }, 'One step: the box registers itself as a tuner, attaches its guide, maps every channel and loads the guide; after that it reloads the guide whenever the schedule or a channel changes, and repairs what the server loses.'),
    list, known, form);
}

function plexUrls(s) {
  const copy = (label, value, id) => field(label, h('div', { class: 'row' }, h('input', { type: 'text', readonly: true, value, id }),
    h('button', { class: 'small shrink', type: 'button', onclick: () => navigator.clipboard.writeText(value).then(() => toast('Copied', 'good'), () => toast(value)) }, 'Copy')));
  return h('div', { class: 'urls' }, copy('Device address', s.urls.device, 'url-device'), copy('XMLTV guide', s.urls.xmltv, 'url-xmltv'), copy('M3U playlist (other apps)', s.urls.m3u, 'url-m3u'));
}

function plexHelp(main, s) {
  const step = (n, ...kids) => h('li', {}, h('b', {}, `${n}. `), ...kids);
  main.replaceChildren(h('p', {}, h('a', { href: '#/settings' }, '← Settings')), h('h1', {}, 'Add this box to Plex'),
    h('div', { class: 'panel' }, plexUrls(s)),
    h('div', { class: 'panel' }, h('ol', { class: 'plex-steps' },
      step(1, 'In Plex Web, open Settings → Live TV & DVR → Set up Plex DVR.'),
      step(2, `Plex usually finds "${s.values.device_name}" by itself. If it does not, choose "Don't see your HDHomeRun device? Enter its network address manually" and give the device address above.`),
      step(3, 'Continue, pick your country, and when Plex asks for a guide choose "Have an XMLTV guide on your server? Click here to use that instead" and paste the XMLTV guide URL above.'),
      step(4, 'Plex matches the channels by number. Continue, and the channels appear under Live TV.'),
      step(5, 'When you add or renumber channels, open the DVR settings in Plex and press "Refresh guide" (or "Scan channels"). A server linked with the one-step panel on the Settings page is refreshed by the box itself.'))));
}
