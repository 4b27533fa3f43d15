// Settings -> iohost: is iohost reachable, its connections and handlers, the outbox (length,
// oldest event, counts), and the permission matrix (roles and API tokens x content types x
// actions) saved to iohost's run-time settings, which apply at once on every node.
import { createElement as h, useCallback, useEffect, useState } from 'react';
import { useFetchClient } from '@strapi/strapi/admin';

const box = { padding: '24px 56px', fontFamily: 'inherit' };
const card = { background: '#fff', borderRadius: 4, padding: 24, marginBottom: 24, boxShadow: '0 1px 4px rgba(33,33,52,0.1)' };
const cellStyle = { padding: '6px 10px', borderBottom: '1px solid #eaeaef', textAlign: 'center' };

function Status({ status }) {
  if (!status) return h('p', { id: 'iohost-loading' }, 'Asking iohost...');
  const { iohost, outbox } = status;
  const oldest = outbox.oldest ? `${Math.round((Date.now() - outbox.oldest) / 1000)} s ago` : 'none';
  return h(
    'div',
    { style: card },
    h('h2', null, 'iohost'),
    h(
      'p',
      { id: 'iohost-reachable' },
      iohost.reachable ? `Reachable at ${iohost.url}` : `Not reachable at ${iohost.url || '(no url)'}: ${iohost.error}`,
    ),
    iohost.reachable &&
      h(
        'ul',
        null,
        h('li', { id: 'iohost-connections' }, `Connections: ${iohost.connections}`),
        h('li', null, `Client events per second: ${Number(iohost.eventsPerSecond ?? 0).toFixed(1)}`),
        h('li', { id: 'iohost-handlers' }, `Handlers: ${(iohost.handlers ?? []).join(', ') || 'none'}`),
      ),
    h('h3', null, 'Outbox'),
    h(
      'ul',
      null,
      h('li', { id: 'iohost-outbox-length' }, `Waiting: ${outbox.length} (oldest: ${oldest})`),
      h('li', null, `Sent: ${outbox.sent}; dropped (outbox full): ${outbox.dropped}; refused by iohost: ${outbox.rejected}; retries: ${outbox.retries}`),
      outbox.lastError && h('li', null, `Last error: ${outbox.lastError}`),
    ),
  );
}

function Matrix({ permissions, onSave, saving, message }) {
  const [matrix, setMatrix] = useState(permissions.matrix);
  useEffect(() => setMatrix(permissions.matrix), [permissions]);
  const has = (role, model, action) => (matrix[role]?.[model] ?? []).includes(action);
  const toggle = (role, model, action) => {
    const next = structuredClone(matrix);
    next[role] = next[role] ?? {};
    const list = new Set(next[role][model] ?? []);
    if (list.has(action)) list.delete(action);
    else list.add(action);
    next[role][model] = [...list];
    setMatrix(next);
  };
  return h(
    'div',
    { style: card },
    h('h2', null, 'Who receives content events'),
    h(
      'p',
      null,
      'Per role and API token, per content type. Once a role has any box ticked, it receives a type\'s events only where "find" is ticked (and Strapi lets it find); with iohost\'s strapi.delivery = "action", the other boxes choose which events. Nothing here shows a role more than Strapi\'s REST API would.',
    ),
    ...permissions.audience.map((role) =>
      h(
        'table',
        { key: role, style: { borderCollapse: 'collapse', marginBottom: 16 } },
        h(
          'thead',
          null,
          h('tr', null, h('th', { style: { ...cellStyle, textAlign: 'left' } }, role), ...permissions.actions.map((a) => h('th', { key: a, style: cellStyle }, a))),
        ),
        h(
          'tbody',
          null,
          ...permissions.contentTypes.map((type) =>
            h(
              'tr',
              { key: type.model },
              h('td', { style: { ...cellStyle, textAlign: 'left' } }, type.displayName),
              ...permissions.actions.map((action) =>
                h(
                  'td',
                  { key: action, style: cellStyle },
                  h('input', {
                    type: 'checkbox',
                    name: `${role}.${type.model}.${action}`,
                    checked: has(role, type.model, action),
                    onChange: () => toggle(role, type.model, action),
                  }),
                ),
              ),
            ),
          ),
        ),
      ),
    ),
    h('button', { id: 'iohost-save', type: 'button', disabled: saving, onClick: () => onSave(matrix) }, saving ? 'Saving...' : 'Save to iohost'),
    message && h('p', { id: 'iohost-message' }, message),
  );
}

export default function SettingsPage() {
  const { get, put } = useFetchClient();
  const [status, setStatus] = useState(null);
  const [permissions, setPermissions] = useState(null);
  const [saving, setSaving] = useState(false);
  const [message, setMessage] = useState('');

  const load = useCallback(async () => {
    setStatus((await get('/io/status')).data);
    try {
      setPermissions((await get('/io/permissions')).data);
    } catch (e) {
      setMessage(`Cannot read iohost's permissions: ${e.message}`);
    }
  }, [get]);
  useEffect(() => {
    load();
    const timer = setInterval(() => get('/io/status').then((r) => setStatus(r.data), () => {}), 5000);
    return () => clearInterval(timer);
  }, [load, get]);

  const save = async (matrix) => {
    setSaving(true);
    setMessage('');
    try {
      await put('/io/permissions', { matrix });
      setMessage('Saved: iohost applies it at once.');
      await load();
    } catch (e) {
      setMessage(`Not saved: ${e.response?.data?.error?.message ?? e.message}`);
    } finally {
      setSaving(false);
    }
  };

  return h(
    'main',
    { style: box },
    h('h1', null, 'Real-time (iohost)'),
    h(Status, { status }),
    permissions && h(Matrix, { permissions, onSave: save, saving, message }),
    !permissions && message && h('p', { id: 'iohost-message' }, message),
  );
}
