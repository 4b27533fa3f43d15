// POST /emit with `ack` (socket.io's `timeout(ms).emitWithAck()`, from a backend) and
// `volatile`: each reached client's ack comes back with its socket id, the sockets that gave
// none within timeoutMs are listed, the same across two nodes on Redis; bad timeouts are
// refused; a volatile emit reaches a ready client.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { startRedis } from '../lib/redis.mjs';
import { once, startServer } from '../lib/server.mjs';

const KEY = 'emit-ack-key-0123456789abcdef0123456789abcdef';
let redis;
let a;
let b;
before(async () => {
  redis = await startRedis();
  const config = `[api]\nkeys = ["${KEY}"]\n[cluster]\nredis_url = "redis://127.0.0.1:${redis.port}"\nprefix = "ack-${process.pid}"\n`;
  [a, b] = await Promise.all([startServer({ config }), startServer({ config })]);
});
after(async () => {
  closeAll();
  await Promise.all([a, b].filter(Boolean).map((s) => s.stop()));
  await redis?.stop();
});

async function emit(server, body) {
  const res = await fetch(`${server.url}/api/v1/emit`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return [res.status, await res.json()];
}

/** A client in `room` on `server` that acks `question` with what `answer` returns (or never, for null). */
async function member(server, room, answer) {
  const s = await connect(server.url);
  await ask(s, 'join-room', room);
  s.on('question', (...args) => {
    const ack = args.pop();
    const reply = answer?.(...args);
    if (reply) ack(...reply);
  });
  return s;
}

describe('POST /emit with ack', () => {
  it('gives each client\'s ack with its socket, and names the ones that gave none in time', async () => {
    const quick = await member(a, 'quiz', (q) => [{ answer: `${q.text}!` }]);
    const twoArgs = await member(a, 'quiz', (q) => ['yes', q.n + 1]);
    const mute = await member(a, 'quiz', null);
    const started = Date.now();
    const [status, body] = await emit(a, { event: 'question', data: { text: 'ready', n: 1 }, rooms: ['quiz'], ack: { timeoutMs: 400 } });
    assert.equal(status, 200, JSON.stringify(body));
    assert.ok(Date.now() - started >= 350, 'it waited for the silent one');
    assert.equal(body.success, true);
    const bySocket = Object.fromEntries(body.acks.map((x) => [x.socket, x.args]));
    assert.deepEqual(bySocket, { [quick.id]: [{ answer: 'ready!' }], [twoArgs.id]: ['yes', 2] });
    assert.deepEqual(body.timedOut, [mute.id]);
  });

  it('across nodes: a client on node B acks an emit sent to node A', async () => {
    const far = await member(b, 'far', (q) => [`B got ${q}`]);
    const near = await member(a, 'far', (q) => [`A got ${q}`]);
    const [status, body] = await emit(a, { event: 'question', data: 'hi', rooms: ['far'], ack: { timeoutMs: 2000 } });
    assert.equal(status, 200, JSON.stringify(body));
    const bySocket = Object.fromEntries(body.acks.map((x) => [x.socket, x.args]));
    assert.deepEqual(bySocket, { [far.id]: ['B got hi'], [near.id]: ['A got hi'] });
    assert.deepEqual(body.timedOut, []);
    // To one socket by id, on the other node.
    const [, one] = await emit(a, { event: 'question', data: 'you', sockets: [far.id], ack: { timeoutMs: 2000 } });
    assert.deepEqual(one.acks, [{ socket: far.id, args: ['B got you'] }]);
    assert.deepEqual(one.missingSockets, []);
  });

  it('without ack the answer has no acks; bad timeouts are refused', async () => {
    const [, plain] = await emit(a, { event: 'question', data: 1, rooms: ['nobody-here'] });
    assert.deepEqual(plain, { success: true, missingSockets: [], partial: false });
    const [, none] = await emit(a, { event: 'question', data: 1, rooms: ['nobody-here'], ack: { timeoutMs: 100 } });
    assert.deepEqual(none, { success: true, missingSockets: [], partial: false, acks: [], timedOut: [] });
    for (const timeoutMs of [0, 60001, -1, 'soon']) {
      const [status, body] = await emit(a, { event: 'question', ack: { timeoutMs } });
      assert.equal(status, 400, `${timeoutMs}: ${JSON.stringify(body)}`);
    }
    const [status, body] = await emit(a, { event: 'question', ack: { timeoutMs: 0 } });
    assert.equal(status, 400);
    assert.equal(body.error.message, '`ack.timeoutMs` must be 1 to 60000');
    assert.equal((await emit(a, { event: 'question', ack: { timeout: 5 } }))[0], 400, 'unknown key');
  });

  it('volatile: a ready client gets it (with or without ack)', async () => {
    const s = await connect(a.url);
    await ask(s, 'join-room', 'live');
    const got = once(s, 'tick');
    const [status] = await emit(a, { event: 'tick', data: 42, rooms: ['live'], volatile: true });
    assert.equal(status, 200);
    assert.equal(await got, 42);
    s.on('ping-me', (x, ack) => ack(x * 2));
    // The answer comes once every socket has acked, not at the timeout (20 s here), also when
    // the other node, holding none of them, answers last (docs/upstream.md).
    const started = Date.now();
    const [, body] = await emit(a, { event: 'ping-me', data: 21, rooms: ['live'], volatile: true, ack: { timeoutMs: 20000 } });
    assert.deepEqual(body.acks, [{ socket: s.id, args: [42] }]);
    assert.ok(Date.now() - started < 10000, `answered after ${Date.now() - started} ms`);
  });
});
