// Run-time settings: changed through the API, applied without a restart, kept across restarts,
// refused whole when invalid.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { startServer } from '../lib/server.mjs';

const KEY = 'settings-key-0123456789abcdef0123456789abcdef';
const config = `[api]\nkeys = ["${KEY}"]\n`;

function client(server) {
  return (path, method = 'GET', body) =>
    fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

describe('settings', () => {
  it('start empty and say which apply without a restart', async () => {
    const server = await startServer({ config });
    try {
      const body = await (await client(server)('/settings')).json();
      assert.deepEqual(body, {
        settings: { corsOrigins: null, rooms: null, disabledHandlers: [], permissions: null, handlerConfig: {}, access: null },
        appliesWithoutRestart: ['corsOrigins', 'rooms', 'disabledHandlers', 'faultedHandlers', 'permissions', 'handlerConfig', 'access'],
        // No [strapi.permissions] in the file and none in the settings.
        permissionsInForce: {},
      });
    } finally {
      await server.stop();
    }
  });

  it('CORS origins and the room policy apply at once', async () => {
    const server = await startServer({ config });
    const api = client(server);
    try {
      const put = await api('/settings', 'PUT', {
        corsOrigins: ['http://new.example'],
        rooms: { max_per_socket: 1 },
      });
      assert.equal(put.status, 200);
      const polling = `${server.url}/socket.io/?EIO=4&transport=polling`;
      assert.equal((await fetch(polling, { headers: { Origin: 'http://new.example' } })).status, 200);
      assert.equal((await fetch(polling, { headers: { Origin: 'http://localhost:3000' } })).status, 403);
      const s = await connect(server.url, { extraHeaders: { Origin: 'http://new.example' } });
      assert.equal((await ask(s, 'join-room', 'one')).success, true);
      assert.deepEqual(await ask(s, 'join-room', 'two'), {
        success: false,
        error: 'this socket is already in 1 rooms, the most allowed',
      });
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('refuses invalid settings whole, naming the key, and changes nothing', async () => {
    const server = await startServer({ config });
    const api = client(server);
    try {
      for (const [body, pattern] of [
        [{ corsOrigins: ['not an origin'] }, /server\.cors_origins\[0\]/],
        [{ rooms: { name_pattern: '(' } }, /rooms\.name_pattern/],
        [{ rooms: { max_per_sockets: 1 } }, /max_per_sockets/],
        [{ disabledHandlers: 'echo' }, /sequence|disabledHandlers/],
        [{ colour: 'red' }, /colour/],
        [{ permissions: { Public: { article: ['find'] } } }, /strapi\.permissions\.Public/],
        [{ permissions: { public: { article: ['read'] } } }, /read/],
        [{ handlerConfig: { 'Rate Limit': {} } }, /handlerConfig\.Rate Limit/],
      ]) {
        const res = await api('/settings', 'PUT', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.match((await res.json()).error.message, pattern);
      }
      assert.deepEqual((await (await api('/settings')).json()).settings.corsOrigins, null);
    } finally {
      await server.stop();
    }
  });

  it('a disabled handler is unloaded at once, stays off across a restart, and comes back when enabled', async () => {
    let server = await startServer({ config, handlers: ['echo'] });
    const settingsFile = server.settingsFile;
    try {
      let s = await connect(server.url);
      assert.equal(await ask(s, 'message-with-ack', 'hi'), 'hi');
      const off = await client(server)('/handlers/echo/enabled', 'PUT', { enabled: false });
      assert.equal(off.status, 200);
      assert.deepEqual((await off.json()).settings.disabledHandlers, ['echo']);
      assert.deepEqual(await ask(s, 'message-with-ack', 'hi'), { success: false, error: 'no handler for event `message-with-ack`' });
      const listed = await (await client(server)('/handlers')).json();
      assert.deepEqual(listed.handlers, []);
      assert.deepEqual(listed.disabled, ['echo']);
      closeAll();
      await server.stop();

      server = await startServer({ config, handlers: ['echo'], settingsFile });
      s = await connect(server.url);
      assert.equal((await ask(s, 'message-with-ack', 'hi')).success, false, 'still off after a restart');
      assert.equal((await client(server)('/handlers/echo/enabled', 'PUT', { enabled: true })).status, 200);
      assert.equal(await ask(s, 'message-with-ack', 'back'), 'back');
      assert.equal((await client(server)('/handlers/Not%20A%20Name/enabled', 'PUT', { enabled: true })).status, 400);
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('handler settings (rate limits) apply over the sidecar: the handler reloads with them', async () => {
    const server = await startServer({
      config,
      handlers: ['rate-limit'],
      sidecars: { 'rate-limit': '[config]\nevents_per_minute = 60\nburst = 3\n' },
    });
    try {
      const burst = async () => {
        const s = await connect(server.url);
        const replies = [];
        for (let i = 0; i < 6; i++) replies.push(await ask(s, 'get-rooms'));
        return replies.filter((r) => r.success === false);
      };
      const limited = await burst();
      assert.equal(limited.length, 3);
      assert.equal(limited[0].error, 'Rate limit exceeded: at most 60 events per minute');
      const res = await client(server)('/settings', 'PUT', { handlerConfig: { 'rate-limit': { events_per_minute: 600, burst: 10 } } });
      assert.equal(res.status, 200);
      await server.waitForLog(/handler replaced handler="rate-limit"/);
      assert.deepEqual(await burst(), [], 'a burst of 10 now');
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('changes made at the same time are all kept: each is applied to the settings the one before left', async () => {
    const server = await startServer({ config });
    const api = client(server);
    try {
      const names = Array.from({ length: 20 }, (_, i) => `handler-${i}`);
      const answers = await Promise.all(names.map((name) => api(`/handlers/${name}/enabled`, 'PUT', { enabled: false })));
      assert.deepEqual(answers.map((a) => a.status), names.map(() => 200));
      const { settings } = await (await api('/settings')).json();
      assert.deepEqual([...settings.disabledHandlers].sort(), [...names].sort(), 'no update lost');
      await Promise.all(names.slice(0, 10).map((name) => api(`/handlers/${name}/enabled`, 'PUT', { enabled: true })));
      const after = (await (await api('/settings')).json()).settings.disabledHandlers;
      assert.deepEqual([...after].sort(), names.slice(10).sort());
    } finally {
      await server.stop();
    }
  });

  it('a corrupt settings file stops the start with a message naming it', async () => {
    const first = await startServer({ config });
    await first.stop();
    writeFileSync(first.settingsFile, '{"corsOrigins": [');
    await assert.rejects(startServer({ config, settingsFile: first.settingsFile }), (err) => {
      assert.match(err.message, /exited with 1 before listening/);
      assert.match(err.message, /settings\.json are not valid/);
      return true;
    });
  });
});
