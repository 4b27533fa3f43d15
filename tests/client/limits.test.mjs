// Limits: too many connections, too-large payloads, too many attachments. Each refusal is clear
// and the server keeps serving everyone else.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect, until } from '../lib/client.mjs';
import { once, sleep, startServer } from '../lib/server.mjs';

let server;
before(async () => {
  server = await startServer({
    config: `
[server]
max_connections = 3
max_payload_bytes = 2000
max_attachments = 2
`,
  });
});
after(async () => {
  closeAll();
  await server.stop();
});

/** Waits until the server counts `n` connections (slots free when a socket is dropped). */
async function connectionsBecome(n) {
  for (let i = 0; i < 50; i++) {
    const { connections } = await (await fetch(`${server.url}/readyz`)).json();
    if (connections === n) return;
    await sleep(50);
  }
  assert.fail(`connections did not become ${n}`);
}

describe('max_connections', () => {
  it('refuses the next socket with a clear connect_error, and frees the slot on disconnect', async () => {
    await connectionsBecome(0);
    const sockets = await Promise.all([connect(server.url), connect(server.url), connect(server.url)]);
    await assert.rejects(connect(server.url), { message: 'Server is full: at most 3 connections' });
    for (const s of sockets) assert.equal((await ask(s, 'get-rooms')).success, true);
    sockets[0].close();
    await connectionsBecome(2);
    const again = await connect(server.url);
    assert.ok(again.connected);
    for (const s of [again, ...sockets.slice(1)]) s.close();
    await connectionsBecome(0);
  });
});

describe('max_payload_bytes', () => {
  for (const transport of ['websocket', 'polling']) {
    it(`closes a ${transport} client that sends more, others keep working`, async () => {
      await connectionsBecome(0);
      const [big, other] = await Promise.all([
        connect(server.url, { transports: [transport] }),
        connect(server.url, { transports: [transport] }),
      ]);
      const gone = once(big, 'disconnect');
      big.emit('join-room', 'x'.repeat(5000));
      const [reason] = await gone;
      assert.match(reason, /^transport (close|error)$/);
      assert.deepEqual(await ask(other, 'join-room', 'still-fine'), { success: true, room: 'still-fine' });
      other.close();
    });
  }

  it('accepts a message just under the limit', async () => {
    await connectionsBecome(0);
    const s = await connect(server.url, { transports: ['websocket'] });
    const reply = await ask(s, 'join-room', 'y'.repeat(1500));
    assert.equal(reply.success, false, 'the room name is too long, but the packet got through');
    assert.match(reply.error, /longer than 128/);
    s.close();
  });
});

describe('max_attachments', () => {
  it('closes a client that sends more binary attachments than allowed', async () => {
    await connectionsBecome(0);
    const [s, other] = await Promise.all([
      connect(server.url, { transports: ['websocket'] }),
      connect(server.url, { transports: ['websocket'] }),
    ]);
    const gone = once(s, 'disconnect');
    s.emit('anything', Buffer.from([1]), Buffer.from([2]), Buffer.from([3]));
    const [reason] = await gone;
    assert.match(reason, /^transport (close|error)$/, 'closed by the server, not by the client');
    assert.equal((await ask(other, 'get-rooms')).success, true);
    other.close();
  });
});

describe('max_event_name_bytes', () => {
  it('refuses a longer name with its length, never echoing it; a name at the limit is an ordinary event', async () => {
    await connectionsBecome(0);
    const s = await connect(server.url);
    const long = 'x'.repeat(1500);
    const answer = await ask(s, long);
    assert.deepEqual(answer, { success: false, error: 'event names are at most 256 bytes (server.max_event_name_bytes); this one has 1500' });
    const errors = [];
    s.on('error', (e) => errors.push(e));
    s.emit(long);
    // Each event runs in a task of its own: the error may come after a later event's ack.
    assert.ok(await until(() => errors.length === 1), 'the refusal came as an error event');
    await ask(s, 'get-rooms');
    assert.equal(errors.length, 1, 'once');
    assert.equal(errors[0].event, `${'x'.repeat(32)}…`, 'only the start of the name comes back');
    const atLimit = await ask(s, 'y'.repeat(256));
    assert.deepEqual(atLimit, { success: false, error: `no handler for event \`${'y'.repeat(256)}\`` });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /iohost_events_refused_total\{reason="name_too_long"\} 2/);
    s.close();
  });
});
