// Three iohost nodes on one real Redis answer every API call, built-in event and handler import
// as one node would, whichever node is asked and whichever nodes hold the sockets involved:
// each case runs for every (asked node, target node) pair and is compared with what a single
// node does. A node that stops answering (frozen with SIGSTOP) makes answers partial, and they
// say so. The real socket.io-client throughout.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { startRedis } from '../lib/redis.mjs';
import { startServer } from '../lib/server.mjs';

const KEY = 'everywhere-api-key-0123456789abcdef0123456789abcdef';
let redis;
let nodes;
/** node url -> node id, from the cluster's own figures. */
const idOf = new Map();

function api(node, path, { method = 'GET', body } = {}) {
  return fetch(`${node.url}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const emit = async (node, body) => {
  const res = await api(node, '/emit', { method: 'POST', body });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
};

before(async () => {
  redis = await startRedis();
  nodes = [];
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await startServer({
        config: `[cluster]\nredis_url = "redis://127.0.0.1:${redis.port}"\nprefix = "everywhere-${process.pid}"\nrequest_timeout_ms = 700\n[api]\nkeys = ["${KEY}"]\n[private_messages]\nenabled = true\n`,
        handlers: ['hostile', 'presence'],
        sidecars: { presence: '[config]\nroom_prefix = "chat-room-"\n' },
      }),
    );
  }
  // Every node sees the two others before the suite starts.
  assert.ok(
    await until(async () => {
      const stats = await (await api(nodes[0], '/stats')).json();
      for (const n of stats.cluster?.nodes ?? []) idOf.set(`http://${n.address}`, n.node);
      return stats.cluster?.nodes.length === 3;
    }, 10000),
    'three nodes',
  );
});
after(async () => {
  closeAll();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis.stop();
});

/** Two sockets on each node, all in room `r`; each records every event it gets. */
async function crowd(room = 'r') {
  const placed = [];
  for (const node of nodes) {
    for (let i = 0; i < 2; i++) {
      const socket = await connect(node.url);
      assert.equal((await ask(socket, 'join-room', room)).success, true);
      const got = [];
      socket.onAny((event, payload) => got.push({ event, payload }));
      placed.push({ node, socket, got });
    }
  }
  return placed;
}

/**
 * Waits until every socket got marker `n` from `node`: emits sent before it from that node
 * reached every socket by then (one publisher's messages arrive in order), so what a socket did
 * not get by then, it never gets.
 */
let markers = 0;
async function settle(node, placed) {
  const n = ++markers;
  await emit(node, { event: 'marker', data: n });
  assert.ok(await until(() => placed.every((p) => p.got.some((e) => e.event === 'marker' && e.payload === n)), 5000), 'marker reached everyone');
}

const count = (p, event) => p.got.filter((e) => e.event === event).length;

describe('every node answers for the whole cluster', () => {
  it('API emits to sockets, rooms and everyone but one reach each socket once, from any node', async () => {
    const placed = await crowd();
    for (const asked of nodes) {
      for (const holder of nodes) {
        const target = placed.find((p) => p.node === holder);
        const tag = `${nodes.indexOf(asked)}->${nodes.indexOf(holder)}`;
        for (const p of placed) p.got.length = 0;

        // The guide's sendPrivateMessage: one socket by id.
        const one = await emit(asked, { event: 'one', data: tag, sockets: [target.socket.id] });
        assert.deepEqual(one, { success: true, missingSockets: [], partial: false }, tag);
        // broadcast(socketId, ...): everyone in the room but the author.
        await emit(asked, { event: 'others', data: tag, rooms: ['r'], except: target.socket.id });
        // A socket named and in a target room gets the event once.
        await emit(asked, { event: 'once', data: tag, rooms: ['r'], sockets: [target.socket.id] });
        // Everyone but one, no rooms.
        await emit(asked, { event: 'all-but', data: tag, except: target.socket.id });
        await settle(asked, placed);

        for (const p of placed) {
          const isTarget = p === target;
          assert.equal(count(p, 'one'), isTarget ? 1 : 0, `${tag}: one`);
          assert.equal(count(p, 'others'), isTarget ? 0 : 1, `${tag}: others`);
          assert.equal(count(p, 'once'), 1, `${tag}: once`);
          assert.equal(count(p, 'all-but'), isTarget ? 0 : 1, `${tag}: all-but`);
        }
      }
      // Nobody anywhere: named as missing, and the answer is complete.
      const nobody = await emit(asked, { event: 'x', sockets: ['NoSuchSocket0000'] });
      assert.deepEqual(nobody, { success: true, missingSockets: ['NoSuchSocket0000'], partial: false });
    }
  });

  it('the socket list, its room filter and the stats cover every node, with each socket\'s node', async () => {
    closeAll();
    const placed = await crowd('listed');
    const ids = placed.map((p) => p.socket.id).sort();
    for (const asked of nodes) {
      const res = await api(asked, '/sockets?room=listed');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-iohost-nodes'), '3');
      assert.equal(res.headers.get('x-iohost-nodes-answered'), '3');
      assert.equal(res.headers.get('x-iohost-partial'), 'false');
      const listed = await res.json();
      assert.deepEqual(listed.map((s) => s.id), ids, 'every node\'s sockets, sorted by id');
      for (const s of listed) {
        const p = placed.find((q) => q.socket.id === s.id);
        assert.equal(s.node, idOf.get(p.node.url), 'the node that holds it');
        assert.deepEqual(s.rooms.sort(), ['io-role-public', 'listed'], 'no socket\'s own room');
      }
      const all = await (await api(asked, '/sockets')).json();
      assert.deepEqual(all.map((s) => s.id).sort(), ids);

      const stats = await (await api(asked, '/stats')).json();
      assert.equal(stats.partial, false);
      const root = stats.namespaces.find((n) => n.name === '/');
      assert.equal(root.sockets, 6);
      assert.deepEqual(root.roles, { public: 6 });
      assert.deepEqual(root.rooms, [
        { name: 'io-role-public', members: 6 },
        { name: 'listed', members: 6 },
      ]);
    }
  });

  it('join, leave and disconnect by id reach the socket on any node, done before the answer', async () => {
    closeAll();
    const placed = await crowd();
    for (const asked of nodes) {
      for (const holder of nodes) {
        const { socket } = placed.find((p) => p.node === holder);
        const tag = `${nodes.indexOf(asked)}->${nodes.indexOf(holder)}`;
        assert.equal((await api(asked, `/sockets/${socket.id}/rooms`, { method: 'POST', body: { room: 'vip' } })).status, 200, tag);
        assert.deepEqual((await ask(socket, 'get-rooms')).rooms.sort(), ['io-role-public', 'r', 'vip'], tag);
        assert.equal((await api(asked, `/sockets/${socket.id}/rooms/vip`, { method: 'DELETE' })).status, 200, tag);
        assert.deepEqual((await ask(socket, 'get-rooms')).rooms.sort(), ['io-role-public', 'r'], tag);
      }
      const missing = await api(asked, '/sockets/NoSuchSocket0000', { method: 'DELETE' });
      assert.equal(missing.status, 404);
      assert.equal((await missing.json()).error.code, 'no_socket');
    }
    // Each node disconnects a socket held by the next one.
    for (const [i, asked] of nodes.entries()) {
      const victim = placed.filter((p) => p.node === nodes[(i + 1) % 3])[1].socket;
      const gone = new Promise((r) => victim.once('disconnect', r));
      assert.equal((await api(asked, `/sockets/${victim.id}`, { method: 'DELETE' })).status, 200);
      assert.equal(await gone, 'io server disconnect');
    }
  });

  it('private messages reach a socket on any node; an unknown id is refused', async () => {
    closeAll();
    const placed = await crowd();
    for (const from of placed.filter((_, i) => i % 2 === 0)) {
      for (const to of placed.filter((_, i) => i % 2 === 1)) {
        const tag = `${nodes.indexOf(from.node)}->${nodes.indexOf(to.node)}`;
        const answer = await ask(from.socket, 'private-message', { to: to.socket.id, message: tag });
        assert.deepEqual(answer, { success: true }, tag);
        assert.ok(
          await until(() => to.got.some((e) => e.event === 'private-message' && e.payload.message === tag && e.payload.from === from.socket.id)),
          tag,
        );
      }
    }
    const refused = await ask(placed[0].socket, 'private-message', { to: 'NoSuchSocket0000', message: 'hi' });
    assert.deepEqual(refused, { success: false, error: 'no socket `NoSuchSocket0000` is connected to this namespace' });
    await settle(nodes[0], placed);
    // One message from each of the three senders to each of the three targets, nothing more.
    for (const [i, p] of placed.entries()) assert.equal(count(p, 'private-message'), i % 2 === 1 ? 3 : 0);
  });

  it('handler imports: emit-to-socket, sockets-in-room and join reach sockets on every node', async () => {
    closeAll();
    const placed = await crowd();
    // emit-to-socket (hostile:whisper) from each node to each node.
    for (const from of placed.filter((_, i) => i % 2 === 0)) {
      for (const to of placed.filter((_, i) => i % 2 === 1)) {
        const tag = `${nodes.indexOf(from.node)}->${nodes.indexOf(to.node)}`;
        await ask(from.socket, 'hostile:whisper', { to: to.socket.id, text: tag });
        assert.ok(await until(() => to.got.some((e) => e.event === 'hostile:whisper' && e.payload.text === tag)), tag);
      }
    }
    // sockets-in-room (hostile:peek) lists the room's members on every node, auth hidden.
    for (const p of placed) {
      const { auth } = await ask(p.socket, 'hostile:peek', 'r');
      assert.deepEqual(auth, Array(6).fill({}));
    }
    // join (hostile:pull) puts a socket on another node in a room; reserved rooms stay refused.
    const [first, , , , fifth] = placed;
    assert.deepEqual(await ask(first.socket, 'hostile:pull', { to: fifth.socket.id, room: 'pulled' }), { asked: 'pulled' });
    assert.ok(await until(async () => (await ask(fifth.socket, 'get-rooms')).rooms.includes('pulled')));
    await ask(first.socket, 'hostile:pull', { to: fifth.socket.id, room: 'io-role-admin' });
    await ask(first.socket, 'hostile:pull', { to: fifth.socket.id, room: `io-socket-${first.socket.id}` });
    assert.deepEqual((await ask(fifth.socket, 'get-rooms')).rooms.sort(), ['io-role-public', 'pulled', 'r']);
    // Had the pull into first's own room gone through, fifth would get what is sent to first.
    await ask(placed[2].socket, 'hostile:whisper', { to: first.socket.id, text: 'for first only' });
    await settle(placed[2].node, placed);
    const whispers = (p) => p.got.filter((e) => e.event === 'hostile:whisper' && e.payload.text === 'for first only').length;
    assert.deepEqual(placed.map(whispers), [1, 0, 0, 0, 0, 0]);

    // presence's member lists (sockets-in-room) count people on every node.
    for (const [i, node] of nodes.entries()) {
      const s = await connect(node.url, { auth: { name: `person-${i}` } });
      const joined = await ask(s, 'presence:join', 'chat-room-everywhere');
      assert.deepEqual(joined.users.map((u) => u.username).sort(), Array.from({ length: i + 1 }, (_, k) => `person-${k}`));
    }
  });

  it('a handler looping on KV in Redis is stopped at kv_wait_ms (1 s), not at its quota minutes later', async () => {
    const s = await connect(nodes[0].url);
    const started = Date.now();
    const looped = await ask(s, 'hostile:kv', { count: 1000000, bytes: 1 });
    assert.ok(looped.stored > 0 && looped.stored < 100000, JSON.stringify(looped));
    assert.match(looped.error, /this call waited 1000 ms for the KV store in all, the most \[handlers\.limits\] kv_wait_ms allows/);
    console.log(`KV loop on Redis: ${looped.stored} writes in ${Date.now() - started} ms`);
    // The next call has its own budget.
    assert.equal((await ask(s, 'hostile:kv', { count: 1, bytes: 1 })).stored, 1);
  });

  it('a node that does not answer in time: answers say partial, and an action on its socket fails as such', async () => {
    closeAll();
    const placed = await crowd();
    const [a, , c] = nodes;
    const onC = placed.find((p) => p.node === c).socket;
    process.kill(c.pid, 'SIGSTOP');
    try {
      const res = await api(a, '/sockets?room=r');
      assert.equal(res.headers.get('x-iohost-nodes'), '3');
      assert.equal(res.headers.get('x-iohost-nodes-answered'), '2');
      assert.equal(res.headers.get('x-iohost-partial'), 'true');
      assert.equal((await res.json()).length, 4, 'the sockets of the two nodes that answered');

      assert.deepEqual(await emit(a, { event: 'x', sockets: [onC.id] }), { success: true, missingSockets: [onC.id], partial: true });
      const join = await api(a, `/sockets/${onC.id}/rooms`, { method: 'POST', body: { room: 'vip' } });
      assert.equal(join.status, 504);
      const body = await join.json();
      assert.equal(body.error.code, 'nodes_silent');
      assert.match(body.error.message, /1 node\(s\) did not answer within 700 ms/);
      assert.equal((await (await api(a, '/stats')).json()).partial, true);
      const refused = await ask(placed[0].socket, 'private-message', { to: onC.id, message: 'hi' });
      assert.equal(refused.success, false);
      assert.match(refused.error, /1 of 3 nodes did not answer in time/);
    } finally {
      process.kill(c.pid, 'SIGCONT');
    }
    // Back: complete again, and what was sent meanwhile to its sockets through rooms arrives.
    assert.ok(await until(async () => (await api(a, '/sockets?room=r')).headers.get('x-iohost-partial') === 'false', 5000));
    const join = await api(a, `/sockets/${onC.id}/rooms`, { method: 'POST', body: { room: 'vip' } });
    assert.equal(join.status, 200);
  });
});
