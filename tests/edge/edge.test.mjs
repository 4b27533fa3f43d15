// The edge under abuse, as a client on the network would try it (loopback, bounded counts):
// silent and half-sent requests, a quiet keep-alive connection, a trickled body, too many
// connections from one address or in total, connecting too fast, and Engine.IO sessions that
// never join a namespace. Each is refused or closed with a clear answer, counted in /metrics,
// and live clients keep being served throughout.
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { after, describe, it } from 'node:test';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { engineUrl, openSession } from '../lib/raw.mjs';
import { sleep, startServer } from '../lib/server.mjs';

/** The edge's own limits, not the generous ones tests/lib/server.mjs gives other suites. */
const edge = (limits) =>
  Object.fromEntries(Object.entries(limits).map(([key, value]) => [`IOHOST_SERVER__${key.toUpperCase()}`, String(value)]));

const servers = [];
async function start(limits, options = {}) {
  const server = await startServer({ ...options, env: { ...edge(limits), ...options.env } });
  servers.push(server);
  return server;
}
after(async () => {
  closeAll();
  await Promise.all(servers.map((s) => s.stop()));
});

/** A sample of a counter in /metrics (0 when absent). */
async function counter(server, name, labels) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = new RegExp(`^${name}\\{${labels}\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * A raw TCP connection: `write` sends text, `answer` resolves with everything the server sent
 * once it closes the connection, `closed` says whether it has.
 */
function raw(server) {
  const socket = tcpConnect(server.port, '127.0.0.1');
  let received = '';
  let closed = false;
  socket.on('data', (d) => (received += d));
  socket.on('error', () => {});
  const ended = new Promise((res) => socket.on('close', () => res()));
  ended.then(() => (closed = true));
  return {
    ready: new Promise((res) => socket.on('connect', res)),
    write: (text) => socket.write(text),
    answer: (ms = 5000) => Promise.race([ended.then(() => received), sleep(ms).then(() => `(still open after ${ms} ms) ${received}`)]),
    closed: () => closed,
    destroy: () => socket.destroy(),
  };
}

describe('timeouts', () => {
  it('a connection that sends nothing, or half a request head, is closed after header_timeout_ms', async () => {
    const server = await start({ header_timeout_ms: 300, idle_timeout_ms: 30000 });
    const before = await counter(server, 'iohost_edge_timeouts_total', 'kind="header"');
    const silent = raw(server);
    const half = raw(server);
    await half.ready;
    half.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    assert.equal(await silent.answer(), '', 'closed without a word');
    assert.match(await half.answer(), /^(|HTTP\/1\.1 408[\s\S]*)$/, 'closed (hyper may say 408 first)');
    // (This test's own fetches keep idle connections that time out too: at least the two.)
    assert.ok((await counter(server, 'iohost_edge_timeouts_total', 'kind="header"')) - before >= 2);
    // A whole request in time is served as always.
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });

  it('a quiet connection is closed after idle_timeout_ms; a Socket.IO client kept busy by the heartbeat is not', async () => {
    const server = await start({ ping_interval_ms: 300, ping_timeout_ms: 1000, idle_timeout_ms: 1300 });
    const live = await connect(server.url, { transports: ['websocket'] });
    const quiet = raw(server);
    await quiet.ready;
    quiet.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const answer = await quiet.answer();
    assert.match(answer, /^HTTP\/1\.1 200 OK[\s\S]*"status":"ok"/, 'answered, then closed when quiet');
    assert.ok(quiet.closed());
    assert.ok((await counter(server, 'iohost_edge_timeouts_total', 'kind="idle"')) >= 1);
    await sleep(1500);
    assert.ok(live.connected, 'the heartbeat kept the websocket busy');
    assert.equal((await ask(live, 'get-rooms')).success, true);
  });

  it('a request body that does not arrive within body_timeout_ms is refused and counted', async () => {
    const server = await start({ body_timeout_ms: 300 }, { config: '[api]\nkeys = ["edge-key-0123456789abcdef0123456789abcdef"]\n' });
    const slow = raw(server);
    await slow.ready;
    slow.write('POST /api/v1/emit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer edge-key-0123456789abcdef0123456789abcdef\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"event":');
    const answer = await slow.answer();
    assert.match(answer, /^HTTP\/1\.1 (400|408|413)/, answer);
    assert.equal(await counter(server, 'iohost_edge_timeouts_total', 'kind="body"'), 1);
  });
});

describe('connections per address, in total, and their rate', () => {
  it('past max_connections_per_address the next one gets 429 with the reason; a freed place is usable again', async () => {
    const server = await start({ max_connections_per_address: 4 });
    const held = Array.from({ length: 4 }, () => raw(server));
    await Promise.all(held.map((c) => c.ready));
    const refused = await raw(server).answer();
    assert.match(refused, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
    assert.match(refused, /too many connections from your address \(server\.max_connections_per_address = 4\)$/);
    held[0].destroy();
    await sleep(100);
    const again = raw(server);
    await again.ready;
    again.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(await again.answer(), /^HTTP\/1\.1 200 OK/);
    assert.equal(await counter(server, 'iohost_edge_refused_total', 'reason="connections_per_address"'), 1);
    held.forEach((c) => c.destroy());
  });

  it('past max_tcp_connections the next one gets 503', async () => {
    const server = await start({ max_tcp_connections: 3 });
    const held = Array.from({ length: 3 }, () => raw(server));
    await Promise.all(held.map((c) => c.ready));
    assert.match(await raw(server).answer(), /^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*server\.max_tcp_connections = 3/);
    held.forEach((c) => c.destroy());
  });

  it('connecting faster than connect_rate_per_address after the burst is refused until the bucket refills', async () => {
    const server = await start({ connect_rate_per_address: 5, connect_burst_per_address: 5 });
    // One new TCP connection per request.
    const get = async () => {
      const c = raw(server);
      await c.ready;
      c.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      return Number(/^HTTP\/1\.1 (\d+)/.exec(await c.answer())?.[1]);
    };
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push(await get());
    assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200], JSON.stringify(statuses));
    assert.ok(statuses.slice(5).every((s) => s === 429), JSON.stringify(statuses));
    await sleep(450); // two tokens back at 5 a second
    assert.equal(await get(), 200);
    assert.ok((await counter(server, 'iohost_edge_refused_total', 'reason="connect_rate"')) >= 3);
  });
});

describe('Engine.IO sessions', () => {
  it('sessions that join no namespace are bounded per address and closed after connect_timeout_ms', async () => {
    const server = await start({ max_pending_sessions_per_address: 3, connect_timeout_ms: 800 });
    const handshake = () => fetch(engineUrl(server.url)).then(async (r) => ({ status: r.status, body: await r.text() }));
    const opened = [await handshake(), await handshake(), await handshake()];
    assert.deepEqual(opened.map((o) => o.status), [200, 200, 200]);
    const refused = await handshake();
    assert.equal(refused.status, 429);
    assert.deepEqual(JSON.parse(refused.body), {
      code: 3,
      message: 'too many Socket.IO sessions from your address are waiting to join a namespace (server.max_pending_sessions_per_address = 3)',
    });
    const { connections } = await (await fetch(`${server.url}/readyz`)).json();
    assert.equal(connections, 0, 'none of them is a socket');
    await sleep(900); // Engine.IO closed them
    const sid = JSON.parse(opened[0].body.slice(1)).sid;
    assert.equal((await fetch(engineUrl(server.url, `EIO=4&transport=polling&sid=${sid}`))).status, 400, 'closed');
    // A client that joins at once frees its place: more of them than the limit connect in turn.
    for (let i = 0; i < 5; i++) {
      const s = await connect(server.url);
      assert.equal((await ask(s, 'get-rooms')).success, true);
    }
    assert.equal(await counter(server, 'iohost_edge_refused_total', 'reason="sessions_per_address"'), 1);
  });

  it('a session stops waiting once, however many namespaces it joins', async () => {
    const server = await start({ max_pending_sessions_per_address: 2 }, { config: '[server]\nnamespaces = ["/a", "/b"]\n' });
    const first = await openSession(server.url, 'polling');
    await openSession(server.url, 'polling');
    // The first joins three namespaces: only its own waiting place is freed.
    await first.send('40', '40/a,', '40/b,');
    // (Namespaces connect concurrently: the acks may come in any order.)
    const acks = [await first.next(), await first.next(), await first.next()].map((p) => p.replace(/\{.*$/, '')).sort();
    assert.deepEqual(acks, ['40', '40/a,', '40/b,']);
    const handshake = () => fetch(engineUrl(server.url)).then((r) => r.status);
    assert.equal(await handshake(), 200, 'the place the first freed');
    assert.equal(await handshake(), 429, 'not three places');
  });

  it('a flood of handshakes is held at max_pending_sessions; live clients keep being served', async () => {
    const server = await start({ max_pending_sessions: 50, max_pending_sessions_per_address: 1000, connect_timeout_ms: 5000 });
    const live = await connect(server.url, { transports: ['websocket'] });
    const statuses = await Promise.all(Array.from({ length: 300 }, () => fetch(engineUrl(server.url)).then((r) => r.status)));
    assert.equal(statuses.filter((s) => s === 200).length, 50, 'the live client holds no pending place once joined');
    assert.equal(statuses.filter((s) => s === 503).length, 250);
    assert.equal((await ask(live, 'get-rooms')).success, true);
  });
});

describe('behind a proxy', () => {
  it('a trusted proxy names the client: limits count each client, and the API shows its address', async () => {
    const key = 'edge-key-0123456789abcdef0123456789abcdef';
    const server = await start(
      { max_pending_sessions_per_address: 1, trusted_proxies: '["127.0.0.1"]' },
      { config: `[api]\nkeys = ["${key}"]\n` },
    );
    const via = (client) => fetch(engineUrl(server.url), { headers: { 'X-Forwarded-For': `${client}, 127.0.0.1` } }).then((r) => r.status);
    assert.equal(await via('198.51.100.7'), 200);
    assert.equal(await via('198.51.100.7'), 429, 'the same client again');
    assert.equal(await via('198.51.100.8'), 200, 'another client behind the same proxy');
    const s = await connect(server.url, { extraHeaders: { 'X-Forwarded-For': '203.0.113.5' } });
    const sockets = await (await fetch(`${server.url}/api/v1/sockets`, { headers: { Authorization: `Bearer ${key}` } })).json();
    assert.equal(sockets.find((x) => x.id === s.id)?.address, '203.0.113.5');
  });

  it('anyone else\'s X-Forwarded-For is ignored', async () => {
    const server = await start({ max_pending_sessions_per_address: 1 });
    const via = (client) => fetch(engineUrl(server.url), { headers: { 'X-Forwarded-For': client } }).then((r) => r.status);
    assert.equal(await via('198.51.100.7'), 200);
    assert.equal(await via('198.51.100.8'), 429, 'both are 127.0.0.1');
  });
});
