// Fault containment: a handler that traps, loops forever or allocates without bound fails only
// the event that triggered it, with a clear error; the instance is retired, the error is logged
// with the handler's name, and the server, its other handlers and other clients keep serving.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { once, startServer } from '../lib/server.mjs';

let server;
before(async () => {
  server = await startServer({
    // Never switched off: these tests make it fault many times in a row (failure.test.mjs
    // tests switching off).
    config: '[handlers.failure]\ndisable_after = 0\n',
    handlers: ['faults', 'echo'],
    sidecars: {
      faults: '[limits]\ncall_timeout_ms = 100\nmemory_mb = 16\nactions_per_call = 50\n',
    },
  });
});
after(async () => {
  closeAll();
  await server.stop();
});

/** The echo handler and the built-ins still answer. */
async function stillServing(socket) {
  assert.deepEqual(await ask(socket, 'message-with-ack', 'still', 'here'), 'still');
  assert.equal((await ask(socket, 'get-rooms')).success, true);
  const fresh = await connect(server.url);
  assert.equal((await ask(fresh, 'get-rooms')).success, true);
}

describe('fault fixtures', () => {
  it('a trap fails the event with a clear error', async () => {
    const s = await connect(server.url);
    const reply = await ask(s, 'trap');
    assert.equal(reply.success, false);
    assert.match(reply.error, /^handler `faults` failed: .*(unreachable|panic)/);
    await server.waitForLog(/handler `faults` failed.*instance retired/);
    await stillServing(s);
  });

  it('an endless loop is stopped at the time limit', async () => {
    const s = await connect(server.url);
    const reply = await ask(s, 'spin');
    assert.deepEqual(reply, {
      success: false,
      error: 'handler `faults` failed: it ran longer than its 100 ms limit',
    });
    await stillServing(s);
  });

  it("waiting counts: a call that sleeps on WASI's clock is stopped at the time limit", async () => {
    const s = await connect(server.url);
    // 20 ms of a 100 ms limit: done.
    assert.deepEqual(await ask(s, 'nap'), 'rested');
    // 30 s asked: stopped at 100 ms, and the instance is not kept asleep.
    const reply = await ask(s, 'sleep');
    assert.deepEqual(reply, {
      success: false,
      error: 'handler `faults` failed: it ran longer than its 100 ms limit',
    });
    await stillServing(s);
  });

  it('WASI handles never dropped are stopped at 1,024 per instance; random bytes at 64 KiB a call', async () => {
    const s = await connect(server.url);
    const reply = await ask(s, 'handles');
    assert.equal(reply.success, false);
    assert.match(reply.error, /^handler `faults` failed: .*resource table has no free keys/);
    const random = await ask(s, 'random');
    assert.equal(random.success, false);
    assert.match(random.error, /^handler `faults` failed: .*exceeds limit 65536/);
    await stillServing(s);
  });

  it('unbounded allocation is stopped at the memory limit', async () => {
    const s = await connect(server.url);
    const reply = await ask(s, 'hog');
    assert.deepEqual(reply, {
      success: false,
      error: 'handler `faults` failed: it used more than its 16 MB memory limit',
    });
    await stillServing(s);
  });

  it('a call asking for actions without end is failed at actions_per_call, and none is carried out', async () => {
    const s = await connect(server.url);
    let flooded = 0;
    s.on('flooded', () => flooded++);
    for (const [event, error] of [
      ['flood', /more than 50 actions in one call \(\[handlers\.limits\] actions_per_call\)/],
      ['join-flood', /more than 50 actions/],
    ]) {
      const reply = await ask(s, event);
      assert.equal(reply.success, false, event);
      assert.match(reply.error, error);
    }
    // Nothing the failed calls asked for happened: no emit arrived, no room was joined.
    const { rooms } = await ask(s, 'get-rooms');
    assert.deepEqual(rooms.filter((r) => r.startsWith('flood-')), []);
    assert.equal(flooded, 0);
    await stillServing(s);
  });

  it('actions holding more than action_mb_per_call are failed too', async () => {
    // 1 MiB at most here, and a count the bytes reach long before: about 1000 emits of 1 KiB
    // fill 1 MiB, and the operator's ceiling (which a sidecar cannot raise) allows 100000.
    const bytes = await startServer({
      config: '[handlers.failure]\ndisable_after = 0\n[handlers.limits]\nactions_per_call = 100000\n',
      handlers: ['faults'],
      sidecars: { faults: '[limits]\nactions_per_call = 100000\naction_mb_per_call = 1\n' },
    });
    try {
      const s = await connect(bytes.url);
      const reply = await ask(s, 'flood');
      assert.equal(reply.success, false);
      assert.match(reply.error, /more than 1048576 bytes \(\[handlers\.limits\] action_mb_per_call\)/);
      assert.deepEqual(await ask(s, 'fine'), 'fine');
      // What an emit holds once read counts, not only its text: 400 KB of `0,` is 200,000
      // values, several MB.
      let expanded = 0;
      s.on('expanded', () => expanded++);
      const big = await ask(s, 'expand');
      assert.equal(big.success, false);
      assert.match(big.error, /more than 1048576 bytes \(\[handlers\.limits\] action_mb_per_call\)/);
      // A handler's own ack likewise, at 16 MiB.
      const ack = await ask(s, 'expand-ack');
      assert.equal(ack.success, false);
      assert.match(ack.error, /its ack: payload would hold more than 16777216 bytes once read/);
      assert.deepEqual(await ask(s, 'fine'), 'fine');
      assert.equal(expanded, 0);
    } finally {
      await bytes.stop();
    }
  });

  it('an ack that is not a payload fails the event and counts as a fault toward switching off', async () => {
    const s = await connect(server.url);
    const reply = await ask(s, 'bad-ack');
    assert.equal(reply.success, false);
    assert.match(reply.error, /^handler `faults` answered with a bad payload: its ack: payload is not valid JSON: /);
    const strict = await startServer({ config: '[handlers.failure]\ndisable_after = 2\n', handlers: ['faults'] });
    try {
      const t = await connect(strict.url);
      for (let i = 0; i < 2; i++) assert.match((await ask(t, 'bad-ack')).error, /bad payload/);
      assert.deepEqual(await ask(t, 'fine'), {
        success: false,
        error: 'handler `faults` is switched off after 2 consecutive faults',
      });
    } finally {
      await strict.stop();
    }
  });

  it('without an ack callback the failure arrives as an error event', async () => {
    const s = await connect(server.url);
    const error = once(s, 'error');
    s.emit('trap');
    const { event, error: message } = await error;
    assert.equal(event, 'trap');
    assert.match(message, /handler `faults` failed/);
  });

  it('a failed instance is never reused: the handler keeps answering after many faults', async () => {
    const s = await connect(server.url);
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => ask(s, i % 2 ? 'trap' : 'spin')),
    );
    for (const r of replies) assert.equal(r.success, false);
    // Events the faults handler passes on still reach the built-ins.
    assert.equal((await ask(s, 'join-room', 'after-faults')).success, true);
    await stillServing(s);
  });

  it('clients are not disconnected by a handler fault', async () => {
    const s = await connect(server.url);
    let disconnected = false;
    s.on('disconnect', () => (disconnected = true));
    await ask(s, 'trap');
    await ask(s, 'spin');
    await ask(s, 'hog');
    assert.equal(s.connected, true);
    assert.equal(disconnected, false);
  });
});

// A live socket's fields reach a 0.1.2 handler through its handle as iohost reads them from
// the socket itself (not from a description made for the test): the handshake's query and
// auth, the client's address, and the rooms it is in at the time of the call.
describe('a live socket read through its handle', () => {
  it('shows the handshake, the address and the rooms as they are at each call', async () => {
    const s = await connect(server.url, { query: { room: 'lobby', x: 'y' }, auth: { name: 'zed' } });
    const first = await ask(s, 'whoami');
    assert.equal(first.id, s.id);
    assert.equal(first.namespace, '/');
    assert.equal(first.role, 'public');
    assert.equal(first.user, null);
    assert.match(first.address, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(first.query, ['lobby', null]);
    assert.deepEqual(JSON.parse(first.auth), { name: 'zed' });
    assert.equal(first.displayName, 'zed');
    assert.deepEqual(first.inRoom, [true, false]);
    assert.deepEqual(first.rooms, ['io-role-public'], 'its own io-socket- room is hidden');
    assert.equal((await ask(s, 'join-room', 'chat-room-7')).success, true);
    const second = await ask(s, 'whoami');
    assert.deepEqual([...second.rooms].sort(), ['chat-room-7', 'io-role-public'], 'a later call sees the room joined since');
    assert.deepEqual({ ...second, rooms: null }, { ...first, rooms: null }, 'nothing else changed');
  });
});
