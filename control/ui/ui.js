// SPDX-License-Identifier: MIT
// Lepus management UI: a single page drawn from the management HTTP API
// (RabbitMQ's /api paths), served by lepus-control with no external
// assets. Login keeps Basic credentials in sessionStorage and checks them
// with /api/whoami; each view is a function of the location hash
// (#/queues, #/queues/VHOST/NAME, ...). Lists use the API's server-side
// paging and sorting (page, page_size, sort, sort_reverse, name).
'use strict';

const S = {
  auth: sessionStorage.getItem('lepus-auth'),
  user: null,
  timer: null,
  samples: [], // overview polls: {t, publish, deliver, ack, messages, ready, unacked}
};

// ---- helpers -----------------------------------------------------------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

const seg = encodeURIComponent; // %2F for "/", as the API wants

async function api(method, path, body) {
  // X-Requested-With: lepus-control then leaves WWW-Authenticate out of a
  // 401, so the browser shows no login dialog of its own.
  const opts = { method, headers: { Authorization: 'Basic ' + S.auth, 'X-Requested-With': 'XMLHttpRequest' } };
  if (body !== undefined) {
    opts.headers['content-type'] = 'application/json';
    opts.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const r = await fetch('api' + path, opts);
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  return { status: r.status, ok: r.ok, json, text };
}

function errorText(r) {
  if (r.json && (r.json.error || r.json.reason))
    return `${r.status} ${r.json.error || ''}: ${typeof r.json.reason === 'string' ? r.json.reason : JSON.stringify(r.json.reason)}`;
  return `${r.status} ${r.text || ''}`;
}

function note(box, r, okText) {
  box.replaceChildren(r.ok ? el('div', { class: 'ok' }, okText || `${r.status} done`)
                           : el('div', { class: 'error' }, errorText(r)));
}

function fmt(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function parseJSON(text, box) {
  if (!text.trim()) return {};
  try { return JSON.parse(text); } catch (e) {
    box.replaceChildren(el('div', { class: 'error' }, 'not JSON: ' + e.message));
    return undefined;
  }
}

async function vhostOptions() {
  const r = await api('GET', '/vhosts?columns=name');
  const names = r.ok && Array.isArray(r.json) ? r.json.map(v => v.name) : ['/'];
  return names.map(n => el('option', { value: n }, n));
}

function field(label, input) { return el('label', {}, label, input); }

// ---- paged, server-sorted tables ---------------------------------------

// cols: [{key, label, sort (API sort key or null), render(row) -> node}]
function pagedTable(path, cols, opts) {
  opts = opts || {};
  const st = { page: 1, size: 100, sort: opts.sort || null, rev: false, name: '' };
  const box = el('div', { class: 'list', 'data-path': path });
  const status = el('div');
  const filter = el('input', { type: 'search', placeholder: 'filter by name', name: 'filter' });
  const size = el('select', { name: 'page_size' }, [20, 100, 500].map(n =>
    el('option', { value: n, selected: n === 100 }, n)));
  const pager = el('div', { class: 'pager' });
  const table = el('table');
  filter.addEventListener('change', () => { st.name = filter.value; st.page = 1; load(); });
  size.addEventListener('change', () => { st.size = +size.value; st.page = 1; load(); });
  async function load() {
    const q = new URLSearchParams({ page: st.page, page_size: st.size });
    if (st.sort) { q.set('sort', st.sort); q.set('sort_reverse', st.rev); }
    if (st.name) { q.set('name', st.name); q.set('use_regex', 'false'); }
    const r = await api('GET', path + (path.includes('?') ? '&' : '?') + q);
    if (!r.ok) { status.replaceChildren(el('div', { class: 'error' }, errorText(r))); table.replaceChildren(); pager.replaceChildren(); return; }
    status.replaceChildren();
    const paged = r.json && !Array.isArray(r.json) && Array.isArray(r.json.items);
    const rows = paged ? r.json.items : (r.json || []);
    const head = el('tr', {}, cols.map(c => {
      const th = el('th', { class: (c.sort ? 'sortable' : '') + (c.sort && c.sort === st.sort ? ' sorted' + (st.rev ? ' rev' : '') : '') }, c.label);
      if (c.sort) th.addEventListener('click', () => {
        if (st.sort === c.sort) st.rev = !st.rev; else { st.sort = c.sort; st.rev = false; }
        load();
      });
      return th;
    }));
    table.replaceChildren(head, ...rows.map(row => el('tr', {}, cols.map(c =>
      el('td', {}, c.render ? c.render(row, load) : fmt(row[c.key]))))));
    if (!rows.length) table.append(el('tr', {}, el('td', { colspan: cols.length, class: 'muted' }, 'nothing here')));
    const pages = paged ? r.json.page_count : 1;
    pager.replaceChildren(
      el('button', { type: 'button', disabled: st.page <= 1, onclick: () => { st.page--; load(); } }, '<'),
      `page ${paged ? r.json.page : 1} of ${Math.max(pages, 1)}` +
        (paged ? ` (${r.json.filtered_count} of ${r.json.total_count})` : ` (${rows.length})`),
      el('button', { type: 'button', disabled: st.page >= pages, onclick: () => { st.page++; load(); } }, '>'),
      'page size', size, filter);
  }
  box.append(pager, status, table);
  box.reload = load;
  load();
  return box;
}

function delButton(label, path, after) {
  return el('button', { type: 'button', class: 'delete', onclick: async (ev) => {
    const r = await api('DELETE', path);
    const td = ev.target.parentNode;
    if (!r.ok) td.append(el('div', { class: 'error' }, errorText(r)));
    else after();
  } }, label);
}

// ---- views -------------------------------------------------------------

function viewLogin(main) {
  const box = el('div');
  const user = el('input', { name: 'username', autocomplete: 'username', value: 'guest' });
  const pass = el('input', { name: 'password', type: 'password', autocomplete: 'current-password' });
  const form = el('form', { class: 'login', id: 'login' },
    el('h1', {}, 'Lepus management'),
    field('Username', user), field('Password', pass),
    el('button', { type: 'submit' }, 'Log in'), box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    S.auth = btoa(unescape(encodeURIComponent(user.value + ':' + pass.value)));
    const r = await api('GET', '/whoami');
    if (!r.ok) { S.auth = null; note(box, r); return; }
    sessionStorage.setItem('lepus-auth', S.auth);
    S.user = r.json;
    location.hash = '#/overview';
    route();
  });
  main.append(form);
}

function drawChart(canvas, series) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, pad = 40;
  ctx.clearRect(0, 0, W, H);
  const pts = S.samples;
  let max = 1;
  for (const s of series) for (const p of pts) max = Math.max(max, p[s.key] || 0);
  ctx.strokeStyle = '#ccc'; ctx.fillStyle = '#555'; ctx.font = '11px sans-serif';
  for (let i = 0; i <= 4; i++) {
    const y = H - pad + (i * -(H - 2 * pad)) / 4;
    ctx.beginPath(); ctx.moveTo(pad, y); ctx.lineTo(W - 10, y); ctx.stroke();
    ctx.fillText((max * i / 4).toFixed(max < 10 ? 1 : 0), 2, y + 4);
  }
  const n = 60;
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color; ctx.lineWidth = 2; ctx.beginPath();
    pts.slice(-n).forEach((p, i) => {
      const x = pad + (i * (W - pad - 10)) / (n - 1);
      const y = H - pad - ((p[s.key] || 0) / max) * (H - 2 * pad);
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = s.color; ctx.fillRect(pad + k * 130, H - 18, 10, 10);
    ctx.fillStyle = '#333'; ctx.fillText(s.label, pad + 14 + k * 130, H - 9);
  });
}

function viewOverview(main) {
  const totals = el('div', { class: 'totals', id: 'totals' });
  const err = el('div');
  const rates = el('canvas', { id: 'rates', width: 720, height: 220 });
  const queued = el('canvas', { id: 'queued', width: 720, height: 220 });
  const info = el('div', { class: 'muted' });
  main.append(el('h1', {}, 'Overview'), err, totals,
    el('h2', {}, 'Message rates (msg/s)'), rates,
    el('h2', {}, 'Queued messages'), queued, info);
  const rate = (o, k) => (o && o[k + '_details'] ? o[k + '_details'].rate : 0);
  async function poll() {
    const r = await api('GET', '/overview');
    if (!r.ok) { note(err, r); return; }
    err.replaceChildren();
    const o = r.json, ot = o.object_totals || {}, qt = o.queue_totals || {}, ms = o.message_stats || {};
    S.samples.push({ t: Date.now(), publish: rate(ms, 'publish'), deliver: rate(ms, 'deliver_get'),
      ack: rate(ms, 'ack'), messages: qt.messages || 0, ready: qt.messages_ready || 0,
      unacked: qt.messages_unacknowledged || 0 });
    if (S.samples.length > 120) S.samples.shift();
    totals.replaceChildren(...['connections', 'channels', 'exchanges', 'queues', 'consumers'].map(k =>
      el('div', { 'data-total': k }, el('b', {}, ot[k] ?? 0), k)),
      el('div', { 'data-total': 'messages' }, el('b', {}, qt.messages ?? 0), 'messages'));
    drawChart(rates, [{ key: 'publish', label: 'publish', color: '#e07b00' },
      { key: 'deliver', label: 'deliver / get', color: '#1f77b4' }, { key: 'ack', label: 'ack', color: '#2ca02c' }]);
    drawChart(queued, [{ key: 'messages', label: 'total', color: '#9467bd' },
      { key: 'ready', label: 'ready', color: '#e07b00' }, { key: 'unacked', label: 'unacked', color: '#1f77b4' }]);
    info.textContent = `${o.product_name || ''} ${o.product_version || ''} (RabbitMQ API ${o.rabbitmq_version || ''}), node ${o.node || ''}; polled every 5 s`;
  }
  poll();
  S.timer = setInterval(poll, 5000);
}

function viewConnections(main) {
  const name = c => c.name;
  main.append(el('h1', {}, 'Connections'), pagedTable('/connections', [
    { key: 'name', label: 'Name', sort: 'name' }, { key: 'user', label: 'User', sort: 'user' },
    { key: 'vhost', label: 'Virtual host', sort: 'vhost' }, { key: 'state', label: 'State' },
    { key: 'channels', label: 'Channels', sort: 'channels' },
    { key: 'peer_host', label: 'Client', render: c => `${c.peer_host || ''}:${c.peer_port || ''}` },
    { key: 'close', label: '', render: (c, reload) => delButton('Close', '/connections/' + seg(name(c)), reload) },
  ], { sort: 'name' }));
}

function viewChannels(main) {
  main.append(el('h1', {}, 'Channels'), pagedTable('/channels', [
    { key: 'name', label: 'Channel', sort: 'name' }, { key: 'user', label: 'User', sort: 'user' },
    { key: 'vhost', label: 'Virtual host', sort: 'vhost' }, { key: 'prefetch_count', label: 'Prefetch' },
    { key: 'messages_unacknowledged', label: 'Unacked', sort: 'messages_unacknowledged' },
    { key: 'messages_unconfirmed', label: 'Unconfirmed' }, { key: 'consumer_count', label: 'Consumers' },
  ], { sort: 'name' }));
}

async function viewExchanges(main) {
  const msg = el('div');
  const form = el('form', { class: 'inline', id: 'add-exchange' },
    field('Virtual host', el('select', { name: 'vhost' }, await vhostOptions())),
    field('Name', el('input', { name: 'name', required: true })),
    field('Type', el('select', { name: 'type' }, ['direct', 'fanout', 'topic', 'headers'].map(t => el('option', { value: t }, t)))),
    field('Durable', el('select', { name: 'durable' }, el('option', { value: 'true' }, 'yes'), el('option', { value: 'false' }, 'no'))),
    field('Arguments (JSON)', el('input', { name: 'arguments', placeholder: '{}' })),
    el('button', { type: 'submit' }, 'Add exchange'));
  const list = pagedTable('/exchanges', [
    { key: 'vhost', label: 'Virtual host', sort: 'vhost' },
    { key: 'name', label: 'Name', sort: 'name', render: x => x.name || '(AMQP default)' },
    { key: 'type', label: 'Type', sort: 'type' }, { key: 'durable', label: 'Durable' },
    { key: 'auto_delete', label: 'Auto-delete' }, { key: 'internal', label: 'Internal' },
    { key: 'arguments', label: 'Arguments' },
    { key: 'del', label: '', render: (x, reload) => (x.name === '' || x.name.startsWith('amq.')) ? ''
      : delButton('Delete', `/exchanges/${seg(x.vhost)}/${seg(x.name)}`, reload) },
  ], { sort: 'name' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = form.elements, args = parseJSON(f.arguments.value, msg);
    if (args === undefined) return;
    const r = await api('PUT', `/exchanges/${seg(f.vhost.value)}/${seg(f.name.value)}`,
      { type: f.type.value, durable: f.durable.value === 'true', arguments: args });
    note(msg, r, `exchange '${f.name.value}' declared`);
    list.reload();
  });
  main.append(el('h1', {}, 'Exchanges'), form, msg, list);
}

async function viewQueues(main) {
  const msg = el('div');
  const form = el('form', { class: 'inline', id: 'add-queue' },
    field('Virtual host', el('select', { name: 'vhost' }, await vhostOptions())),
    field('Name', el('input', { name: 'name', required: true })),
    field('Durable', el('select', { name: 'durable' }, el('option', { value: 'true' }, 'yes'), el('option', { value: 'false' }, 'no'))),
    field('Auto-delete', el('select', { name: 'auto_delete' }, el('option', { value: 'false' }, 'no'), el('option', { value: 'true' }, 'yes'))),
    field('Arguments (JSON)', el('input', { name: 'arguments', placeholder: '{"x-max-length": 1000}' })),
    el('button', { type: 'submit' }, 'Add queue'));
  const list = pagedTable('/queues', [
    { key: 'vhost', label: 'Virtual host', sort: 'vhost' },
    { key: 'name', label: 'Name', sort: 'name', render: q =>
      el('a', { href: `#/queues/${seg(q.vhost)}/${seg(q.name)}`, class: 'queue-link' }, q.name) },
    { key: 'durable', label: 'Durable' }, { key: 'arguments', label: 'Arguments' },
    { key: 'state', label: 'State' },
    { key: 'messages_ready', label: 'Ready', sort: 'messages_ready' },
    { key: 'messages_unacknowledged', label: 'Unacked', sort: 'messages_unacknowledged' },
    { key: 'messages', label: 'Total', sort: 'messages' },
    { key: 'consumers', label: 'Consumers', sort: 'consumers' },
  ], { sort: 'name' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = form.elements, args = parseJSON(f.arguments.value, msg);
    if (args === undefined) return;
    const r = await api('PUT', `/queues/${seg(f.vhost.value)}/${seg(f.name.value)}`,
      { durable: f.durable.value === 'true', auto_delete: f.auto_delete.value === 'true', arguments: args });
    note(msg, r, `queue '${f.name.value}' declared`);
    list.reload();
  });
  main.append(el('h1', {}, 'Queues'), form, msg, list);
}

async function viewQueue(main, vhost, name) {
  const base = `/queues/${seg(vhost)}/${seg(name)}`;
  const details = el('table', { id: 'queue-details' });
  const msg = el('div', { id: 'queue-msg' });
  async function load() {
    const r = await api('GET', base);
    if (!r.ok) { note(msg, r); return; }
    const q = r.json;
    details.replaceChildren(...['vhost', 'name', 'durable', 'auto_delete', 'exclusive', 'arguments',
      'state', 'messages_ready', 'messages_unacknowledged', 'messages', 'consumers'].map(k =>
      el('tr', {}, el('th', {}, k), el('td', { 'data-field': k }, fmt(q[k])))));
  }
  const pub = el('form', { class: 'inline', id: 'publish' },
    field('Routing key', el('input', { name: 'routing_key', value: name })),
    field('Delivery mode', el('select', { name: 'delivery_mode' }, el('option', { value: '1' }, '1 non-persistent'), el('option', { value: '2' }, '2 persistent'))),
    field('Payload', el('textarea', { name: 'payload' })),
    el('button', { type: 'submit' }, 'Publish message'));
  pub.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = pub.elements;
    const r = await api('POST', `/exchanges/${seg(vhost)}/amq.default/publish`, {
      properties: { delivery_mode: +f.delivery_mode.value }, routing_key: f.routing_key.value,
      payload: f.payload.value, payload_encoding: 'string' });
    note(msg, r, r.json && r.json.routed ? 'Message published.' : 'Message published, but not routed.');
    load();
  });
  const got = el('div', { id: 'got' });
  const get = el('form', { class: 'inline', id: 'get' },
    field('Ack mode', el('select', { name: 'ackmode' }, ['ack_requeue_true', 'ack_requeue_false',
      'reject_requeue_true', 'reject_requeue_false'].map(a => el('option', { value: a }, a)))),
    field('Messages', el('input', { name: 'count', type: 'number', value: 1, min: 1 })),
    el('button', { type: 'submit' }, 'Get messages'));
  get.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = get.elements;
    const r = await api('POST', base + '/get', { count: +f.count.value, ackmode: f.ackmode.value,
      encoding: 'auto', truncate: 50000 });
    if (!r.ok) { note(msg, r); return; }
    msg.replaceChildren(el('div', { class: 'ok' }, `${r.json.length} message(s)`));
    got.replaceChildren(...r.json.map(m => el('table', { class: 'message' },
      el('tr', {}, el('th', {}, 'Exchange'), el('td', {}, m.exchange)),
      el('tr', {}, el('th', {}, 'Routing key'), el('td', {}, m.routing_key)),
      el('tr', {}, el('th', {}, 'Redelivered'), el('td', {}, fmt(m.redelivered))),
      el('tr', {}, el('th', {}, 'Properties'), el('td', {}, fmt(m.properties))),
      el('tr', {}, el('th', {}, 'Payload'), el('td', { class: 'payload' }, m.payload)))));
    load();
  });
  const actions = el('div', {},
    el('button', { type: 'button', id: 'purge', onclick: async () => {
      note(msg, await api('DELETE', base + '/contents'), 'Queue purged.'); load(); } }, 'Purge messages'),
    ' ',
    el('button', { type: 'button', id: 'delete-queue', onclick: async () => {
      const r = await api('DELETE', base);
      if (r.ok) location.hash = '#/queues'; else note(msg, r); } }, 'Delete queue'));
  const bindings = pagedTable(base + '/bindings', [
    { key: 'source', label: 'From', render: b => b.source || '(AMQP default)' },
    { key: 'routing_key', label: 'Routing key' }, { key: 'arguments', label: 'Arguments' }]);
  main.append(el('h1', {}, `Queue ${name}`), el('div', { class: 'muted' }, `virtual host ${vhost}`),
    msg, details, el('h2', {}, 'Bindings'), bindings, el('h2', {}, 'Publish message'), pub,
    el('h2', {}, 'Get messages'), get, got, el('h2', {}, 'Purge / delete'), actions);
  load();
}

async function viewBindings(main) {
  const msg = el('div');
  const form = el('form', { class: 'inline', id: 'add-binding' },
    field('Virtual host', el('select', { name: 'vhost' }, await vhostOptions())),
    field('From exchange', el('input', { name: 'source', required: true })),
    field('To', el('select', { name: 'dtype' }, el('option', { value: 'q' }, 'queue'), el('option', { value: 'e' }, 'exchange'))),
    field('Destination', el('input', { name: 'destination', required: true })),
    field('Routing key', el('input', { name: 'routing_key' })),
    field('Arguments (JSON)', el('input', { name: 'arguments', placeholder: '{}' })),
    el('button', { type: 'submit' }, 'Bind'));
  const list = pagedTable('/bindings', [
    { key: 'vhost', label: 'Virtual host', sort: 'vhost' },
    { key: 'source', label: 'Source', sort: 'source', render: b => b.source || '(AMQP default)' },
    { key: 'destination', label: 'Destination', sort: 'destination' },
    { key: 'destination_type', label: 'Type' }, { key: 'routing_key', label: 'Routing key', sort: 'routing_key' },
    { key: 'arguments', label: 'Arguments' },
    { key: 'del', label: '', render: (b, reload) => b.source === '' ? '' : delButton('Unbind',
      `/bindings/${seg(b.vhost)}/e/${seg(b.source)}/${b.destination_type === 'queue' ? 'q' : 'e'}/${seg(b.destination)}/${seg(b.properties_key)}`, reload) },
  ], { sort: 'source' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = form.elements, args = parseJSON(f.arguments.value, msg);
    if (args === undefined) return;
    const r = await api('POST', `/bindings/${seg(f.vhost.value)}/e/${seg(f.source.value)}/${f.dtype.value}/${seg(f.destination.value)}`,
      { routing_key: f.routing_key.value, arguments: args });
    note(msg, r, 'binding created');
    list.reload();
  });
  main.append(el('h1', {}, 'Bindings'), form, msg, list);
}

async function viewUsers(main) {
  const msg = el('div');
  const form = el('form', { class: 'inline', id: 'add-user' },
    field('Username', el('input', { name: 'name', required: true })),
    field('Password', el('input', { name: 'password', type: 'password' })),
    field('Tags (comma-separated)', el('input', { name: 'tags', placeholder: 'administrator' })),
    el('button', { type: 'submit' }, 'Add / update user'));
  const perm = el('form', { class: 'inline', id: 'set-permission' },
    field('User', el('input', { name: 'user', required: true })),
    field('Virtual host', el('select', { name: 'vhost' }, await vhostOptions())),
    field('Configure', el('input', { name: 'configure', value: '.*' })),
    field('Write', el('input', { name: 'write', value: '.*' })),
    field('Read', el('input', { name: 'read', value: '.*' })),
    el('button', { type: 'submit' }, 'Set permission'));
  const users = pagedTable('/users', [
    { key: 'name', label: 'Name', sort: 'name' },
    { key: 'tags', label: 'Tags', render: u => (Array.isArray(u.tags) ? u.tags : [u.tags]).join(', ') },
    { key: 'del', label: '', render: (u, reload) => delButton('Delete', '/users/' + seg(u.name), reload) },
  ], { sort: 'name' });
  const perms = pagedTable('/permissions', [
    { key: 'user', label: 'User', sort: 'user' }, { key: 'vhost', label: 'Virtual host', sort: 'vhost' },
    { key: 'configure', label: 'Configure' }, { key: 'write', label: 'Write' }, { key: 'read', label: 'Read' },
    { key: 'del', label: '', render: (p, reload) => delButton('Clear', `/permissions/${seg(p.vhost)}/${seg(p.user)}`, reload) },
  ], { sort: 'user' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const r = await api('PUT', '/users/' + seg(f.name.value), { password: f.password.value, tags: f.tags.value });
    note(msg, r, `user '${f.name.value}' saved`);
    users.reload();
  });
  perm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = perm.elements;
    const r = await api('PUT', `/permissions/${seg(f.vhost.value)}/${seg(f.user.value)}`,
      { configure: f.configure.value, write: f.write.value, read: f.read.value });
    note(msg, r, 'permission set');
    perms.reload();
  });
  main.append(el('h1', {}, 'Users'), form, msg, users, el('h2', {}, 'Permissions'), perm, perms);
}

function viewVhosts(main) {
  const msg = el('div');
  const form = el('form', { class: 'inline', id: 'add-vhost' },
    field('Name', el('input', { name: 'name', required: true })),
    el('button', { type: 'submit' }, 'Add virtual host'));
  const list = pagedTable('/vhosts', [
    { key: 'name', label: 'Name', sort: 'name' }, { key: 'description', label: 'Description' },
    { key: 'messages', label: 'Messages', sort: 'messages' },
    { key: 'del', label: '', render: (v, reload) => delButton('Delete', '/vhosts/' + seg(v.name), reload) },
  ], { sort: 'name' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const r = await api('PUT', '/vhosts/' + seg(form.elements.name.value), {});
    note(msg, r, `virtual host '${form.elements.name.value}' added`);
    list.reload();
  });
  main.append(el('h1', {}, 'Virtual hosts'), form, msg, list);
}

async function viewPolicies(main) {
  const msg = el('div');
  const lists = {};
  const form = el('form', { class: 'inline', id: 'add-policy' },
    field('Kind', el('select', { name: 'kind' }, el('option', { value: 'policies' }, 'policy'), el('option', { value: 'operator-policies' }, 'operator policy'))),
    field('Virtual host', el('select', { name: 'vhost' }, await vhostOptions())),
    field('Name', el('input', { name: 'name', required: true })),
    field('Pattern', el('input', { name: 'pattern', required: true, placeholder: '^amq\\.' })),
    field('Apply to', el('select', { name: 'apply_to' }, ['all', 'queues', 'exchanges'].map(a => el('option', { value: a }, a)))),
    field('Priority', el('input', { name: 'priority', type: 'number', value: 0 })),
    field('Definition (JSON)', el('textarea', { name: 'definition', placeholder: '{"max-length": 1000}' })),
    el('button', { type: 'submit' }, 'Add / update policy'));
  const cols = kind => [
    { key: 'vhost', label: 'Virtual host', sort: 'vhost' }, { key: 'name', label: 'Name', sort: 'name' },
    { key: 'pattern', label: 'Pattern' }, { key: 'apply-to', label: 'Apply to' },
    { key: 'definition', label: 'Definition' }, { key: 'priority', label: 'Priority', sort: 'priority' },
    { key: 'del', label: '', render: (p, reload) => delButton('Delete', `/${kind}/${seg(p.vhost)}/${seg(p.name)}`, reload) }];
  lists.policies = pagedTable('/policies', cols('policies'), { sort: 'name' });
  lists['operator-policies'] = pagedTable('/operator-policies', cols('operator-policies'), { sort: 'name' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = form.elements, def = parseJSON(f.definition.value, msg);
    if (def === undefined) return;
    const r = await api('PUT', `/${f.kind.value}/${seg(f.vhost.value)}/${seg(f.name.value)}`,
      { pattern: f.pattern.value, definition: def, priority: +f.priority.value, 'apply-to': f.apply_to.value });
    note(msg, r, `policy '${f.name.value}' saved`);
    lists[f.kind.value].reload();
  });
  main.append(el('h1', {}, 'Policies'), el('p', { class: 'muted' },
    'Stored, listed, exported and imported as RabbitMQ does; the dataplane does not apply them to queues yet.'),
    form, msg, el('h2', {}, 'User policies'), lists.policies,
    el('h2', {}, 'Operator policies'), lists['operator-policies']);
}

function viewDefinitions(main) {
  const msg = el('div', { id: 'defs-msg' });
  const link = el('a', { id: 'defs-link', hidden: true }, 'save lepus-definitions.json');
  const download = el('button', { type: 'button', id: 'download', onclick: async () => {
    const r = await api('GET', '/definitions');
    if (!r.ok) { note(msg, r); return; }
    const blob = new Blob([JSON.stringify(r.json, null, 2)], { type: 'application/json' });
    link.href = URL.createObjectURL(blob);
    link.download = 'lepus-definitions.json';
    link.hidden = false;
    msg.replaceChildren(el('div', { class: 'ok' }, `${(r.json.queues || []).length} queue(s), ` +
      `${(r.json.exchanges || []).length} exchange(s), ${(r.json.policies || []).length} policy(ies) exported`));
    link.click();
  } }, 'Download definitions');
  const file = el('input', { type: 'file', name: 'file', accept: '.json,application/json' });
  const upload = el('form', { class: 'inline', id: 'upload' }, field('Definitions file', file),
    el('button', { type: 'submit' }, 'Upload definitions'));
  upload.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!file.files.length) { msg.replaceChildren(el('div', { class: 'error' }, 'choose a file')); return; }
    const text = await file.files[0].text();
    note(msg, await api('POST', '/definitions', text), 'Definitions imported.');
  });
  main.append(el('h1', {}, 'Definitions'), el('p', {}, 'RabbitMQ\'s JSON format: users, vhosts, permissions, ' +
    'policies, parameters, queues, exchanges, bindings. An upload merges as RabbitMQ does.'),
    download, ' ', link, el('h2', {}, 'Import'), upload, msg);
}

// ---- routing -----------------------------------------------------------

const views = {
  overview: viewOverview, connections: viewConnections, channels: viewChannels,
  exchanges: viewExchanges, queues: viewQueues, bindings: viewBindings, users: viewUsers,
  vhosts: viewVhosts, policies: viewPolicies, definitions: viewDefinitions,
};

function logout() {
  sessionStorage.removeItem('lepus-auth');
  S.auth = null;
  S.user = null;
  location.hash = '#/login';
  route();
}

async function route() {
  clearInterval(S.timer);
  const main = document.getElementById('main');
  main.replaceChildren();
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  if (S.auth && !S.user) {
    const r = await api('GET', '/whoami');
    if (r.ok) S.user = r.json; else S.auth = null;
  }
  if (!S.auth) {
    nav.hidden = true;
    who.replaceChildren();
    viewLogin(main);
    return;
  }
  nav.hidden = false;
  who.replaceChildren(`user ${S.user.name}`, el('button', { type: 'button', id: 'logout', onclick: logout }, 'Log out'));
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const name = views[parts[0]] ? parts[0] : 'overview';
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.getAttribute('href') === '#/' + name);
  if (name === 'queues' && parts.length === 3) await viewQueue(main, parts[1], parts[2]);
  else await views[name](main);
}

window.addEventListener('hashchange', route);
route();
