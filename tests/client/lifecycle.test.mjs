// Probes, graceful shutdown and clients reconnecting to a restarted server.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { io } from 'socket.io-client';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { once, startServer } from '../lib/server.mjs';

describe('probes', () => {
  it('/healthz and /readyz answer 200 while serving', async () => {
    const server = await startServer();
    try {
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal((await ready.json()).status, 'ready');
    } finally {
      await server.stop();
    }
  });
});

describe('shutdown', () => {
  it('SIGTERM closes every client transport and exits 0', async () => {
    const server = await startServer();
    const sockets = await Promise.all([
      connect(server.url, { transports: ['websocket'] }),
      connect(server.url, { transports: ['polling'] }),
    ]);
    const reasons = sockets.map((s) => once(s, 'disconnect'));
    const { code } = await server.stop('SIGTERM');
    assert.equal(code, 0);
    for (const [reason] of await Promise.all(reasons)) {
      // "transport close", not "io server disconnect": socket.io-client reconnects by itself.
      assert.match(reason, /^transport (close|error)$/);
    }
    await server.waitForLog(/shutting down/);
    closeAll();
  });

  it('SIGINT also exits 0', async () => {
    const server = await startServer();
    assert.equal((await server.stop('SIGINT')).code, 0);
  });
});

describe('restart', () => {
  it('a client reconnects by itself to a restarted server and works again', async () => {
    const first = await startServer();
    const socket = io(first.url, { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 200 });
    try {
      await once(socket, 'connect');
      const firstId = socket.id;
      assert.equal((await ask(socket, 'join-room', 'before')).success, true);
      const disconnected = once(socket, 'disconnect');
      await first.stop();
      await disconnected;

      const reconnected = once(socket.io, 'reconnect', 10000);
      const second = await startServer({ port: first.port });
      try {
        await reconnected;
        assert.notEqual(socket.id, firstId);
        // Rooms are per connection: the client joins again after a reconnect.
        assert.deepEqual((await ask(socket, 'get-rooms')).rooms, ['io-role-public']);
        assert.equal((await ask(socket, 'join-room', 'after')).success, true);
      } finally {
        socket.close();
        await second.stop();
      }
    } finally {
      socket.close();
    }
  });
});
