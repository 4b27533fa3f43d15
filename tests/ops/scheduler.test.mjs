// `server.scheduler = "per-core"`: one single-threaded runtime per core, each connection kept on
// the runtime it was handed to. Everything a client does must work across runtimes: a room's
// members on different ones, polling requests of one session arriving on different
// connections (and so runtimes), handler calls, the HTTP API, and a graceful stop.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { startServer } from '../lib/server.mjs';

const KEY = 'test-key-0123456789abcdef0123456789abcdef';
let server;
before(async () => {
  server = await startServer({
    config: `[server]\nscheduler = "per-core"\n[api]\nkeys = ["${KEY}"]\n`,
    handlers: ['rate-limit', 'chat-typing'],
    sidecars: { 'chat-typing': '[config]\nthrottle_ms = 0\n' },
  });
});
after(async () => {
  closeAll();
  await server.stop();
});

describe('the per-core scheduler', () => {
  it('runs one runtime per core this machine gives the process', async () => {
    const cores = availableParallelism();
    await server.waitForLog(new RegExp(`on ${cores} core\\(s\\).*scheduler=PerCore`));
  });

  it('serves a room whose members sit on different runtimes, over websocket and polling', async () => {
    // Connections go to the runtime with the fewest open ones: eight clients in a row spread
    // over every runtime (this machine's cores), half of them on long polling, whose requests
    // come on new connections and land on other runtimes than their session's tasks.
    const members = await Promise.all(
      Array.from({ length: 8 }, (_, i) => connect(server.url, { auth: { name: `m${i}` }, transports: i % 2 ? ['polling'] : ['websocket'] })),
    );
    for (const m of members) assert.equal((await ask(m, 'join-room', 'chat-room-5')).success, true);
    const seen = members.map((m) => collect(m, 'chat:typing'));
    for (const m of members) {
      assert.deepEqual(await ask(m, 'chat:typing', { roomId: 5 }), { success: true });
    }
    // Each of the eight typing events reaches the seven other members, none the sender.
    assert.ok(await until(() => seen.every((got) => got.length === 7), 5000), `received: ${seen.map((g) => g.length)}`);
    // Each member hears every other member once, never itself.
    const names = members.map((_, i) => `m${i}`);
    for (const [i, got] of seen.entries()) {
      assert.deepEqual(got.map((p) => p.username).sort(), names.filter((_, j) => j !== i));
    }
    const listed = await fetch(`${server.url}/api/v1/sockets?room=chat-room-5`, { headers: { Authorization: `Bearer ${KEY}` } });
    assert.equal(listed.status, 200);
    assert.deepEqual((await listed.json()).map((s) => s.id).sort(), members.map((m) => m.id).sort());
  });

  it('stops gracefully: every client is told, and iohost exits with 0', async () => {
    const clients = await Promise.all(Array.from({ length: 4 }, (_, i) => connect(server.url, { auth: { name: `s${i}` } })));
    const reasons = clients.map((c) => new Promise((res) => c.once('disconnect', res)));
    const { code } = await server.stop();
    assert.equal(code, 0);
    assert.deepEqual(await Promise.all(reasons), Array(4).fill('transport close'));
  });
});
