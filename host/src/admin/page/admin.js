// The iohost admin page: signs in with an API key (session storage, sent as a header), then
// follows /api/v1/live and acts through the HTTP API.
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = 'iohost-admin-key';
  let key = sessionStorage.getItem(KEY);
  let stream = null;
  let logEntries = [];
  let latest = null;
  const rates = [];

  function api(path, options = {}) {
    return fetch(`/api/v1${path}`, {
      ...options,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', ...(options.headers || {}) },
    });
  }

  function cell(text) {
    const td = document.createElement('td');
    td.textContent = text;
    return td;
  }

  function button(label, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.addEventListener('click', onClick);
    const td = document.createElement('td');
    td.append(b);
    return td;
  }

  function row(...cells) {
    const tr = document.createElement('tr');
    tr.append(...cells);
    return tr;
  }

  function renderClients(sockets) {
    $('clients').replaceChildren(...sockets.map((s) => {
      const tr = row(
        cell(s.id), cell(s.namespace), cell(s.user ? `${s.user.username} (#${s.user.id})` : '—'), cell(s.role),
        cell(s.rooms.join(', ')), cell(s.transport), cell(s.address), cell(s.node),
        button('Disconnect', async () => {
          await api(`/sockets/${encodeURIComponent(s.id)}?namespace=${encodeURIComponent(s.namespace)}`, { method: 'DELETE' });
        }),
      );
      tr.dataset.socket = s.id;
      return tr;
    }));
  }

  function renderRooms(namespaces) {
    const rows = [];
    for (const ns of namespaces) for (const r of ns.rooms) rows.push(row(cell(ns.name), cell(r.name), cell(String(r.members))));
    $('rooms').replaceChildren(...rows);
  }

  function renderHandlers({ handlers, loadErrors, disabled }) {
    const rows = handlers.map((h) => {
      const code = h.code === 'baseline' ? 'loaded (baseline code; optimising)' : 'loaded';
      const off = h.switchedOff;
      const loaded = off
        ? `switched off after ${off.faults} consecutive faults (${h.failure.onFault === 'fail_open' ? 'its events pass on' : 'its events are refused'}); last: ${off.error}`
        : code;
      const status = loadErrors[h.name] ? `${loaded}; newer file failed: ${loadErrors[h.name]}` : loaded;
      const micros = (v) => (v == null ? '—' : v.toFixed(1));
      const errors = `${h.errors} (${h.timeouts} / ${h.memoryFaults} / ${h.traps})${h.lastError ? `; last: ${h.lastError}` : ''}`;
      const tr = row(
        cell(h.name), cell(status), cell(h.version), cell(String(h.priority)), cell(h.events.join(', ')),
        cell(String(h.calls)), cell(`${micros(h.p50Micros)} / ${micros(h.p99Micros)}`), cell(errors),
        off ? button('Enable', () => setEnabled(h.name, true)) : button('Disable', () => setEnabled(h.name, false)),
      );
      tr.dataset.handler = h.name;
      if (loadErrors[h.name] || off) tr.children[1].className = 'status-error';
      return tr;
    });
    for (const name of disabled) {
      const tr = row(cell(name), cell('disabled'), cell(''), cell(''), cell(''), cell(''), cell(''), cell(''), button('Enable', () => setEnabled(name, true)));
      tr.dataset.handler = name;
      tr.children[1].className = 'status-disabled';
      rows.push(tr);
    }
    for (const [name, error] of Object.entries(loadErrors)) {
      if (handlers.some((h) => h.name === name) || disabled.includes(name)) continue;
      const tr = row(cell(name), cell(`failed to load: ${error}`), cell(''), cell(''), cell(''), cell(''), cell(''), cell(''), cell(''));
      tr.dataset.handler = name;
      tr.children[1].className = 'status-error';
      rows.push(tr);
    }
    $('handlers').replaceChildren(...rows);
  }

  async function setEnabled(name, enabled) {
    await api(`/handlers/${encodeURIComponent(name)}/enabled`, { method: 'PUT', body: JSON.stringify({ enabled }) });
  }

  function drawChart() {
    const canvas = $('eps-chart');
    const ctx = canvas.getContext('2d');
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    const max = Math.max(1, ...rates);
    ctx.strokeStyle = '#0a66c2';
    ctx.lineWidth = 2;
    ctx.beginPath();
    rates.forEach((r, i) => {
      const x = (i / 119) * width;
      const y = height - (r / max) * (height - 10) - 5;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = '#555';
    ctx.fillText(`max ${max.toFixed(1)}/s`, 6, 12);
  }

  function renderLog() {
    const filter = $('log-filter').value.trim().toLowerCase();
    const shown = logEntries
      .filter((e) => !filter || `${e.event} ${e.socket} ${e.outcome} ${e.namespace}`.toLowerCase().includes(filter))
      .slice(-200)
      .reverse();
    $('log').replaceChildren(...shown.map((e) => {
      const li = document.createElement('li');
      const time = new Date(e.time).toLocaleTimeString();
      li.textContent = `${time} ${e.namespace} ${e.socket} ${e.event} → ${e.outcome}${e.detail ? `: ${e.detail}` : ''}`;
      return li;
    }));
  }

  const PERMISSIONS = ['find', 'create', 'update', 'delete', 'publish', 'unpublish'];
  let matrixEdited = false;

  /** The matrix as rows of {role, type, permissions}. */
  function rowsOf(matrix) {
    const rows = [];
    for (const [role, types] of Object.entries(matrix)) for (const [type, perms] of Object.entries(types)) rows.push({ role, type, perms: new Set(perms) });
    return rows;
  }

  let matrixRows = [];

  function renderMatrix() {
    $('permissions').replaceChildren(...matrixRows.map((r, i) => {
      const checks = PERMISSIONS.map((p) => {
        const td = document.createElement('td');
        const box = document.createElement('input');
        box.type = 'checkbox';
        box.checked = r.perms.has(p);
        box.setAttribute('aria-label', `${r.role} ${r.type} ${p}`);
        box.dataset.permission = p;
        box.addEventListener('change', () => {
          if (box.checked) r.perms.add(p); else r.perms.delete(p);
          matrixEdited = true;
        });
        td.append(box);
        return td;
      });
      const tr = row(cell(r.role), cell(r.type), ...checks, button('Remove', () => {
        matrixRows.splice(i, 1);
        matrixEdited = true;
        renderMatrix();
      }));
      tr.dataset.permissionRow = `${r.role}/${r.type}`;
      return tr;
    }));
  }

  /** Cluster mode: one row per node, and the sums. */
  function renderNodes(cluster) {
    $('nodes-section').hidden = !cluster;
    if (!cluster) return;
    $('cluster-status').textContent = cluster.status === 'ok' ? '' : '(Redis unreachable or slow: this node only)';
    $('nodes').replaceChildren(...cluster.nodes.map((n) => {
      const tr = document.createElement('tr');
      for (const text of [n.node, n.address, String(n.connections), n.eventsPerSecond.toFixed(1), String(n.totalEvents)]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }));
    $('cluster-connections').textContent = String(cluster.connections);
    $('cluster-eps').textContent = cluster.eventsPerSecond.toFixed(1);
  }

  function onSnapshot(snapshot) {
    latest = snapshot;
    $('connections').textContent = String(snapshot.stats.connections);
    $('eps').textContent = snapshot.stats.eventsPerSecond.toFixed(1);
    $('total-events').textContent = String(snapshot.stats.totalEvents);
    $('webhooks').textContent = `${snapshot.stats.webhooks.delivered} / ${snapshot.stats.webhooks.refused}`;
    renderNodes(snapshot.stats.cluster);
    if (!matrixEdited) {
      matrixRows = rowsOf(snapshot.permissions);
      renderMatrix();
    }
    rates.push(snapshot.stats.eventsPerSecond);
    if (rates.length > 120) rates.shift();
    drawChart();
    renderClients(snapshot.sockets);
    $('clients-partial').hidden = !snapshot.stats.partial;
    renderRooms(snapshot.stats.namespaces);
    renderHandlers(snapshot.handlers);
    const cors = $('cors');
    if (document.activeElement !== cors && !cors.dataset.edited) cors.value = (snapshot.settings.corsOrigins || []).join('\n');
    const handlerConfig = $('handler-config');
    if (document.activeElement !== handlerConfig && !handlerConfig.dataset.edited) {
      handlerConfig.value = JSON.stringify(snapshot.settings.handlerConfig ?? {}, null, 1);
    }
    const access = $('access');
    if (document.activeElement !== access && !access.dataset.edited) {
      access.value = snapshot.settings.access ? JSON.stringify(snapshot.settings.access, null, 1) : '';
    }
  }

  async function follow() {
    stream = new AbortController();
    $('live-status').textContent = 'Connecting…';
    try {
      const res = await fetch('/api/v1/live', { headers: { Authorization: `Bearer ${key}` }, signal: stream.signal });
      if (res.status === 401) return signOut('The key was refused.');
      if (!res.ok) throw new Error(`live stream answered ${res.status}`);
      $('live-status').textContent = 'Live';
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = 'message';
          let data = '';
          for (const line of message.split('\n')) {
            if (line.startsWith('event:')) name = line.slice(6).trim();
            else if (line.startsWith('data:')) data += line.slice(5).trim();
          }
          if (!data) continue;
          const body = JSON.parse(data);
          if (name === 'snapshot') onSnapshot(body);
          else if (name === 'event') {
            logEntries.push(body);
            if (logEntries.length > 1000) logEntries = logEntries.slice(-500);
            renderLog();
          }
        }
      }
    } catch (err) {
      if (stream?.signal.aborted) return;
      $('live-status').textContent = `Disconnected (${err.message}); retrying…`;
    }
    if (key && !stream.signal.aborted) setTimeout(follow, 2000);
  }

  function showApp() {
    $('sign-in').hidden = true;
    $('app').hidden = false;
    $('sign-out').hidden = false;
    follow();
  }

  function signOut(message = '') {
    sessionStorage.removeItem(KEY);
    key = null;
    stream?.abort();
    $('app').hidden = true;
    $('sign-out').hidden = true;
    $('sign-in').hidden = false;
    $('live-status').textContent = 'Signed out';
    $('sign-in-error').textContent = message;
  }

  $('sign-in').addEventListener('submit', async (e) => {
    e.preventDefault();
    key = $('key').value.trim();
    const res = await api('/stats');
    if (res.status === 200) {
      sessionStorage.setItem(KEY, key);
      $('key').value = '';
      $('sign-in-error').textContent = '';
      showApp();
    } else {
      const body = await res.json().catch(() => ({}));
      signOut(body.error?.message ?? `Refused (${res.status})`);
    }
  });

  $('sign-out').addEventListener('click', () => signOut());
  $('log-filter').addEventListener('input', renderLog);

  $('send').addEventListener('submit', async (e) => {
    e.preventDefault();
    let data;
    try {
      data = JSON.parse($('send-data').value || 'null');
    } catch (err) {
      $('send-result').textContent = `Data is not JSON: ${err.message}`;
      return;
    }
    const room = $('send-room').value.trim();
    const body = { event: $('send-event').value.trim(), namespace: $('send-namespace').value.trim() || '/', data };
    if (room) body.rooms = [room];
    const res = await api('/emit', { method: 'POST', body: JSON.stringify(body) });
    const reply = await res.json();
    $('send-result').textContent = res.ok ? `Sent "${body.event}"` : `Refused: ${reply.error.message}`;
  });

  $('permission-add').addEventListener('submit', (e) => {
    e.preventDefault();
    const role = $('perm-role').value.trim().toLowerCase();
    const type = $('perm-type').value.trim();
    if (!role || !type || matrixRows.some((r) => r.role === role && r.type === type)) return;
    matrixRows.push({ role, type, perms: new Set() });
    matrixEdited = true;
    renderMatrix();
  });

  $('permissions-save').addEventListener('click', async () => {
    const matrix = {};
    for (const r of matrixRows) (matrix[r.role] ??= {})[r.type] = PERMISSIONS.filter((p) => r.perms.has(p));
    const settings = { ...(latest?.settings ?? {}), permissions: matrix };
    const res = await api('/settings', { method: 'PUT', body: JSON.stringify(settings) });
    const reply = await res.json();
    if (res.ok) matrixEdited = false;
    $('permissions-result').textContent = res.ok ? 'Saved and applied (no restart needed).' : `Refused: ${reply.error.message}`;
  });

  $('cors').addEventListener('input', () => ($('cors').dataset.edited = 'yes'));
  $('handler-config').addEventListener('input', () => ($('handler-config').dataset.edited = 'yes'));
  $('access').addEventListener('input', () => ($('access').dataset.edited = 'yes'));
  $('settings').addEventListener('submit', async (e) => {
    e.preventDefault();
    const origins = $('cors').value.split('\n').map((o) => o.trim()).filter(Boolean);
    let handlerConfig;
    try {
      handlerConfig = JSON.parse($('handler-config').value || '{}');
    } catch (err) {
      $('settings-result').textContent = `Handler settings are not JSON: ${err.message}`;
      return;
    }
    let access = null;
    try {
      if ($('access').value.trim()) access = JSON.parse($('access').value);
    } catch (err) {
      $('settings-result').textContent = `Access rules are not JSON: ${err.message}`;
      return;
    }
    const settings = { ...(latest?.settings ?? {}), corsOrigins: origins.length ? origins : null, handlerConfig, access };
    const res = await api('/settings', { method: 'PUT', body: JSON.stringify(settings) });
    const reply = await res.json();
    delete $('cors').dataset.edited;
    delete $('handler-config').dataset.edited;
    delete $('access').dataset.edited;
    $('settings-result').textContent = res.ok ? 'Saved and applied (no restart needed).' : `Refused: ${reply.error.message}`;
  });

  if (key) showApp();
})();
