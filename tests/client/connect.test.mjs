// Connecting with the real socket.io-client: transports, namespaces, acks, CORS.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { io } from 'socket.io-client';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { once, startServer } from '../lib/server.mjs';

let server;
before(async () => {
  server = await startServer({
    config: `
[server]
namespaces = ["/admin"]
cors_origins = ["http://app.example:3000"]
`,
  });
});
after(async () => {
  closeAll();
  await server.stop();
});

describe('connect', () => {
  it('connects over websocket only', async () => {
    const s = await connect(server.url, { transports: ['websocket'] });
    assert.equal(s.io.engine.transport.name, 'websocket');
    assert.match(s.id, /^[\w-]{16,}$/, 'a socket id from the server');
    assert.deepEqual(await ask(s, 'get-rooms'), { success: true, rooms: ['io-role-public'] });
  });

  it('connects over polling and upgrades to websocket', async () => {
    const s = await connect(server.url);
    if (s.io.engine.transport.name !== 'websocket') await once(s.io.engine, 'upgrade');
    assert.equal(s.io.engine.transport.name, 'websocket');
  });

  it('connects over polling only', async () => {
    const s = await connect(server.url, { transports: ['polling'] });
    assert.equal(s.io.engine.transport.name, 'polling');
    const reply = await ask(s, 'get-rooms');
    assert.equal(reply.success, true);
  });

  it('connects to a configured namespace, with the same built-in events', async () => {
    const s = await connect(`${server.url}/admin`);
    const reply = await ask(s, 'join-room', 'dashboard');
    assert.deepEqual(reply, { success: true, room: 'dashboard' });
  });

  it('refuses an unknown namespace with connect_error "Invalid namespace", and keeps serving', async () => {
    await assert.rejects(connect(`${server.url}/nope`), { message: 'Invalid namespace' });
    const s = await connect(server.url);
    assert.equal((await ask(s, 'get-rooms')).success, true);
  });

  it('answers events a client sends the instant it is connected (no race with setup)', async () => {
    // Handlers are set up before the CONNECT packet leaves: a first event cannot slip past.
    const acks = await Promise.all(
      Array.from({ length: 40 }, () =>
        new Promise((resolve, reject) => {
          const s = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
          s.on('connect', () => s.timeout(5000).emit('get-rooms', (err, reply) => {
            s.close();
            if (err) reject(err);
            else resolve(reply.success);
          }));
        }),
      ),
    );
    assert.deepEqual(acks, Array(40).fill(true));
  });

  it('answers an ack for an event nothing handles with a clear error instead of silence', async () => {
    const s = await connect(server.url);
    const reply = await ask(s, 'no-such-event', { x: 1 });
    assert.deepEqual(reply, { success: false, error: 'no handler for event `no-such-event`' });
  });
});

describe('CORS', () => {
  for (const transport of ['polling', 'websocket']) {
    it(`refuses a browser origin outside cors_origins (${transport})`, async () => {
      await assert.rejects(
        connect(server.url, { transports: [transport], extraHeaders: { Origin: 'http://evil.example' } }),
        (err) => err.message.length > 0,
      );
    });

    it(`accepts an origin in cors_origins (${transport})`, async () => {
      const s = await connect(server.url, {
        transports: [transport],
        extraHeaders: { Origin: 'http://app.example:3000' },
      });
      assert.ok(s.connected);
    });
  }

  it('sends CORS headers only for allowed origins', async () => {
    const url = `${server.url}/socket.io/?EIO=4&transport=polling`;
    const ok = await fetch(url, { headers: { Origin: 'http://app.example:3000' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'http://app.example:3000');
    const bad = await fetch(url, { headers: { Origin: 'http://evil.example' } });
    assert.equal(bad.status, 403);
    assert.match((await bad.json()).message, /not allowed/);
  });

  it('answers a preflight for an allowed origin', async () => {
    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://app.example:3000',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    });
    assert.ok(res.status < 300, `preflight status ${res.status}`);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://app.example:3000');
  });
});
