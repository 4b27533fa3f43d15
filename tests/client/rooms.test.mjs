// The built-in room events with the plugin's ack shapes and iohost's room policy.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { once, startServer } from '../lib/server.mjs';

let server;
before(async () => {
  server = await startServer({
    config: `
[rooms]
max_per_socket = 3
allow = ["*"]

[rooms.roles.public]
allow = ["chat-room-*", "test-room", "lobby"]
`,
  });
});
after(async () => {
  closeAll();
  await server.stop();
});

describe('join-room / leave-room / get-rooms', () => {
  it('joins, lists and leaves rooms', async () => {
    const s = await connect(server.url);
    assert.deepEqual(await ask(s, 'join-room', 'test-room'), { success: true, room: 'test-room' });
    const listed = await ask(s, 'get-rooms');
    assert.equal(listed.success, true);
    assert.deepEqual(listed.rooms.sort(), ['io-role-public', 'test-room']);
    assert.deepEqual(await ask(s, 'leave-room', 'test-room'), { success: true, room: 'test-room' });
    assert.deepEqual((await ask(s, 'get-rooms')).rooms, ['io-role-public']);
  });

  it('puts every socket in its role room', async () => {
    const s = await connect(server.url);
    assert.ok((await ask(s, 'get-rooms')).rooms.includes('io-role-public'));
  });

  it('refuses names outside the pattern, with the reason', async () => {
    const s = await connect(server.url);
    for (const bad of ['has space', '', 'émoji']) {
      const reply = await ask(s, 'join-room', bad);
      assert.equal(reply.success, false, `joined ${JSON.stringify(bad)}`);
      assert.equal(typeof reply.error, 'string');
    }
    assert.match((await ask(s, 'join-room', 'a b')).error, /does not match/);
  });

  it('refuses arguments that are not a room name', async () => {
    const s = await connect(server.url);
    for (const bad of [42, null, { room: 'x' }, ['x']]) {
      assert.deepEqual(await ask(s, 'join-room', bad), {
        success: false,
        error: 'room name must be a non-empty string',
      });
    }
    assert.equal((await ask(s, 'join-room')).success, false);
  });

  it('refuses rooms iohost manages and other users\' private rooms', async () => {
    const s = await connect(server.url);
    assert.match((await ask(s, 'join-room', 'io-role-admin')).error, /managed by iohost/);
    assert.match((await ask(s, 'leave-room', 'io-role-public')).error, /managed by iohost/);
    assert.match((await ask(s, 'join-room', 'user-1')).error, /another user's private room/);
  });

  it('applies the per-role allow list', async () => {
    const s = await connect(server.url);
    assert.equal((await ask(s, 'join-room', 'chat-room-7')).success, true);
    assert.deepEqual(await ask(s, 'join-room', 'vip'), {
      success: false,
      error: 'role `public` may not join room `vip`',
    });
  });

  it('caps the rooms a socket may join; joining a room twice does not count', async () => {
    const s = await connect(server.url);
    for (const room of ['chat-room-1', 'chat-room-2', 'chat-room-3', 'chat-room-3']) {
      assert.equal((await ask(s, 'join-room', room)).success, true, room);
    }
    assert.deepEqual(await ask(s, 'join-room', 'lobby'), {
      success: false,
      error: 'this socket is already in 3 rooms, the most allowed',
    });
    await ask(s, 'leave-room', 'chat-room-1');
    assert.equal((await ask(s, 'join-room', 'lobby')).success, true);
  });

  it('without an ack callback, a refusal arrives as an error event', async () => {
    const s = await connect(server.url);
    const error = once(s, 'error');
    s.emit('join-room', 'not allowed!');
    assert.deepEqual(Object.keys(await error).sort(), ['error', 'event']);
    assert.equal((await error).event, 'join-room');
  });
});
