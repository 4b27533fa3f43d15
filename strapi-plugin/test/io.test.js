'use strict';

// The plugin's own tests: what each strapi.$io call sends to iohost's API, in which order, and
// what it answers, against a small HTTP server on loopback that records requests and answers
// as iohost's API does (the end-to-end tests in tests/strapi/ use the real iohost and Strapi).

const assert = require('node:assert/strict');
const http = require('node:http');
const { after, before, beforeEach, describe, it } = require('node:test');

const { createClient, IohostError } = require('../server/client');
const { createIo, namespaceOf, addressOnly, entitySubscriptions } = require('../server/io');
const { createMonitoring, connectionStats, withFresh } = require('../server/monitoring');

const KEY = 'unit-test-key';
let server;
let url;
let requests = [];
/** Per `METHOD path` (query cut off): [status, body] or a function of the request. */
let answers = {};

before(async () => {
  server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', async () => {
      const seen = { method: req.method, url: req.url, auth: req.headers.authorization, body: text ? JSON.parse(text) : undefined, at: Date.now() };
      requests.push(seen);
      const key = `${req.method} ${req.url.split('?')[0]}`;
      let answer = answers[key] ?? [200, { success: true, missingSockets: [], partial: false }];
      if (typeof answer === 'function') answer = await answer(seen);
      if (answer === 'hang') return;
      res.writeHead(answer[0], { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(answer[1]));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());
beforeEach(() => {
  requests = [];
  answers = {};
});

const logs = [];
const log = { info: (m) => logs.push(['info', m]), warn: (m) => logs.push(['warn', m]), error: (m) => logs.push(['error', m]), debug: () => {} };
const make = (options = {}) => createIo({ client: createClient({ url, apiKey: KEY, timeoutMs: 2000, ...options }), log });

describe('strapi.$io over the HTTP API', () => {
  it('sends each helper as the matching API call, with the bearer key', async () => {
    const io = make();
    await io.sendPrivateMessage('s1', 'notification', { n: 1 });
    await io.broadcast('s2', 'document:change', { d: 1 });
    await io.emitToNamespace('admin', 'dashboard:stats', { c: 1 });
    await io.raw({ event: 'news', data: { x: 1 }, rooms: ['a', 'b'] });
    await io.emitToEntity('api::article.article', 'doc1', 'article:note', { y: 2 });
    await io.server.to('chat-room-1').except('s3').emit('chat:message', { id: 7 }, 'second');
    await io.server.of('/admin').in(['r1', 'r2']).emit('x');
    await io.server.emit('everyone', 1);
    assert.ok(requests.every((r) => r.auth === `Bearer ${KEY}`));
    assert.deepEqual(
      requests.map((r) => [r.method, r.url, r.body]),
      [
        ['POST', '/api/v1/emit', { event: 'notification', args: [{ n: 1 }], namespace: '/', sockets: ['s1'] }],
        ['POST', '/api/v1/emit', { event: 'document:change', args: [{ d: 1 }], namespace: '/', except: ['s2'] }],
        ['POST', '/api/v1/emit', { event: 'dashboard:stats', args: [{ c: 1 }], namespace: '/admin' }],
        ['POST', '/api/v1/emit', { event: 'news', args: [{ data: { x: 1 } }], namespace: '/', rooms: ['a', 'b'] }],
        ['POST', '/api/v1/emit', { event: 'article:note', args: [{ y: 2 }], namespace: '/', rooms: ['api::article.article:doc1'] }],
        ['POST', '/api/v1/emit', { event: 'chat:message', args: [{ id: 7 }, 'second'], namespace: '/', rooms: ['chat-room-1'], except: ['s3'] }],
        ['POST', '/api/v1/emit', { event: 'x', args: [], namespace: '/admin', rooms: ['r1', 'r2'] }],
        ['POST', '/api/v1/emit', { event: 'everyone', args: [1], namespace: '/' }],
      ],
    );
  });

  it('joinRoom, leaveRoom and disconnectSocket answer true when done and false for an unknown socket', async () => {
    const io = make();
    answers['POST /api/v1/sockets/gone/rooms'] = [404, { error: { code: 'no_socket', message: 'no socket `gone` in `/`' } }];
    answers['DELETE /api/v1/sockets/gone'] = [404, { error: { code: 'no_socket', message: 'no socket `gone` in `/`' } }];
    assert.equal(await io.joinRoom('s1', 'document-1'), true);
    assert.equal(await io.joinRoom('gone', 'document-1'), false);
    assert.equal(await io.leaveRoom('s1', 'a room/with slash'), true);
    assert.equal(await io.disconnectSocket('s1'), true);
    assert.equal(await io.disconnectSocket('gone'), false);
    assert.deepEqual(
      requests.map((r) => [r.method, r.url, r.body]),
      [
        ['POST', '/api/v1/sockets/s1/rooms', { room: 'document-1', namespace: '/' }],
        ['POST', '/api/v1/sockets/gone/rooms', { room: 'document-1', namespace: '/' }],
        ['DELETE', '/api/v1/sockets/s1/rooms/a%20room%2Fwith%20slash?namespace=%2F', undefined],
        ['DELETE', '/api/v1/sockets/s1?namespace=%2F', undefined],
        ['DELETE', '/api/v1/sockets/gone?namespace=%2F', undefined],
      ],
    );
  });

  it('getSocketsInRoom and fetchSockets describe every listed socket', async () => {
    const io = make();
    const view = (id, rooms, user) => ({ id, namespace: '/', rooms, role: user ? 'authenticated' : 'public', user, address: '127.0.0.1:5000', transport: 'websocket', node: 'n1', connectedAt: 1700000000000, query: { v: '1' } });
    answers['GET /api/v1/sockets'] = (req) =>
      req.url.includes('room=a') ? [200, [view('s1', ['a'], { id: 3, username: 'ann' }), view('s2', ['a', 'x'], null)]] : [200, [view('s3', ['b'], null)]];
    assert.deepEqual(await io.getSocketsInRoom('a'), [
      { id: 's1', user: { id: 3, username: 'ann' } },
      { id: 's2', user: null },
    ]);
    const fetched = await io.server.in(['a', 'b']).except('x').fetchSockets();
    assert.deepEqual(
      fetched.map((s) => [s.id, [...s.rooms], s.handshake.address, s.handshake.query]),
      [
        ['s1', ['a'], '127.0.0.1', { v: '1' }],
        ['s3', ['b'], '127.0.0.1', { v: '1' }],
      ],
    );
    assert.equal(fetched[0].user.username, 'ann');
  });

  it('calls reach iohost in the order they were made, also when nobody awaits them', async () => {
    const io = make();
    // The join is slow to answer; the emit made after it must still arrive after it.
    answers['POST /api/v1/sockets/s1/rooms'] = () => new Promise((r) => setTimeout(() => r([200, { success: true }]), 150));
    io.joinRoom('s1', 'document-9');
    const last = io.server.to('document-9').emit('editor:joined', { userId: 1 });
    await last;
    assert.deepEqual(
      requests.map((r) => r.url),
      ['/api/v1/sockets/s1/rooms', '/api/v1/emit'],
    );
    assert.ok(requests[1].at >= requests[0].at + 140, 'the emit was sent after the join was answered');
  });

  it('an error from iohost is thrown with its message and code, and logged when nobody awaits it', async () => {
    const io = make();
    answers['POST /api/v1/emit'] = [404, { error: { code: 'no_namespace', message: 'no namespace `/nope`' } }];
    await assert.rejects(io.emitToNamespace('nope', 'x', {}), (e) => e instanceof IohostError && e.code === 'no_namespace' && e.status === 404 && e.message === 'iohost: no namespace `/nope`');
    logs.length = 0;
    io.emitToNamespace('nope', 'x', {});
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(logs, [['error', "iohost: emitToNamespace('nope') failed: iohost: no namespace `/nope`"]]);
  });

  it('a call iohost does not answer in time fails with a timeout and does not hold up the next', async () => {
    const io = make({ timeoutMs: 200 });
    answers['POST /api/v1/sockets/s1/rooms'] = () => 'hang';
    await assert.rejects(io.joinRoom('s1', 'r'), (e) => e.code === 'timeout' && /within 200 ms/.test(e.message));
    assert.equal(await io.joinRoom('s2', 'r'), true);
  });

  it('an unreachable iohost and a missing configuration are named', async () => {
    const closed = createIo({ client: createClient({ url: 'http://127.0.0.1:1', apiKey: KEY, timeoutMs: 2000 }), log });
    await assert.rejects(closed.sendPrivateMessage('s', 'e', 1), (e) => e.code === 'unreachable' && /unreachable at http:\/\/127.0.0.1:1/.test(e.message));
    const unset = createIo({ client: createClient({ url: '', apiKey: '', timeoutMs: 2000 }), log });
    await assert.rejects(unset.getSocketsInRoom('a'), (e) => e.code === 'not_configured' && /IOHOST_API_KEY/.test(e.message));
  });

  it('an emit with an acknowledgement callback but no timeout is refused clearly', () => {
    const io = make();
    assert.throws(
      () => io.server.emit('x', 1, () => {}),
      (e) => e.code === 'bad_request' && /needs a timeout: server\.timeout\(ms\)/.test(e.message),
    );
  });

  it('timeout(ms).emitWithAck waits for the clients\' acks (first arguments); a silent one rejects as socket.io does', async () => {
    const io = make({ timeoutMs: 200 });
    // iohost answers after the acks came in: later than the client's own deadline (200 ms).
    answers['POST /api/v1/emit'] = async () => {
      await new Promise((r) => setTimeout(r, 400));
      return [200, { success: true, missingSockets: [], partial: false, acks: [{ socket: 'a', args: [{ ok: 1 }, 'extra'] }, { socket: 'b', args: [2] }], timedOut: [] }];
    };
    assert.deepEqual(await io.server.to('quiz').timeout(1000).emitWithAck('question', { q: 1 }), [{ ok: 1 }, 2]);
    assert.deepEqual(requests.at(-1).body, { event: 'question', args: [{ q: 1 }], namespace: '/', rooms: ['quiz'], ack: { timeoutMs: 1000 } });
    answers['POST /api/v1/emit'] = [200, { success: true, missingSockets: [], partial: false, acks: [{ socket: 'a', args: ['yes'] }], timedOut: ['b'] }];
    await assert.rejects(io.server.of('/admin').volatile.timeout(50).emitWithAck('question'), (e) => {
      assert.equal(e.message, 'operation has timed out');
      assert.deepEqual(e.responses, ['yes']);
      assert.deepEqual(e.timedOut, ['b']);
      return true;
    });
    assert.deepEqual(requests.at(-1).body, { event: 'question', args: [], namespace: '/admin', volatile: true, ack: { timeoutMs: 50 } });
    // Without timeout(ms): 10 s, the plugin's default.
    answers['POST /api/v1/emit'] = [200, { success: true, missingSockets: [], partial: false, acks: [], timedOut: [] }];
    assert.deepEqual(await io.server.emitWithAck('question'), []);
    assert.deepEqual(requests.at(-1).body.ack, { timeoutMs: 10000 });
    // socket.io's callback form: (err, responses).
    const called = await new Promise((resolve) => io.server.timeout(100).emit('question', 'q', (err, responses) => resolve([err, responses])));
    assert.deepEqual(called, [null, []]);
    for (const ms of [0, 1.5, 60001, '10']) assert.throws(() => io.server.timeout(ms), (e) => e.code === 'bad_request' && /1 to 60000/.test(e.message));
    // A waiting emit does not hold up the calls made after it.
    answers['POST /api/v1/emit'] = async () => {
      await new Promise((r) => setTimeout(r, 500));
      return [200, { success: true, missingSockets: [], partial: false, acks: [], timedOut: [] }];
    };
    let answered = false;
    const waiting = io.server.timeout(1000).emitWithAck('slow').then(() => (answered = true));
    await io.joinRoom('s1', 'r');
    assert.equal(answered, false, 'the join was answered while the emit still waited for acks');
    await waiting;
  });

  it('entity subscriptions join and leave the plugin\'s <uid>:<id> room', async () => {
    const io = make();
    assert.deepEqual(await io.subscribeToEntity('s1', 'api::article.article', 'abc'), { success: true, room: 'api::article.article:abc', uid: 'api::article.article', id: 'abc' });
    assert.deepEqual(await io.subscribeToEntity('s1', 'not a uid', 'abc'), { success: false, error: 'Content type not found' });
    assert.deepEqual(await io.unsubscribeFromEntity('s1', 'api::article.article', 'abc'), { success: true, room: 'api::article.article:abc', uid: 'api::article.article', id: 'abc' });
    assert.deepEqual(entitySubscriptions(['io-role-public', 'api::article.article:abc', 'chat:1']), [{ uid: 'api::article.article', id: 'abc', room: 'api::article.article:abc' }]);
  });
});

describe('names', () => {
  it('namespaces as the plugin names them, addresses as socket.io shows them', () => {
    assert.deepEqual(['admin', '/admin', '', undefined, '/'].map(namespaceOf), ['/admin', '/admin', '/', '/', '/']);
    assert.deepEqual(['127.0.0.1:5000', '[::1]:80', 'unix'].map(addressOnly), ['127.0.0.1', '::1', 'unix']);
  });
});

describe('the monitoring service', () => {
  const snapshot = {
    stats: { namespaces: [{ name: '/', rooms: [{ name: 'io-role-public', members: 2 }, { name: 'api::article.article:d1', members: 1 }, { name: 'io-entity-public-api::article.article:d1', members: 1 }] }] },
    sockets: [
      { id: 's1', namespace: '/', rooms: ['io-role-public', 'api::article.article:d1', 'io-entity-public-api::article.article:d1'], role: 'public', user: null, address: '10.0.0.1:4000', transport: 'polling', node: 'n', connectedAt: 0, query: {} },
      { id: 's2', namespace: '/admin', rooms: [], role: 'public', user: null, address: '10.0.0.2:4000', transport: 'polling', node: 'n', connectedAt: 0, query: {} },
    ],
  };

  it('getConnectionStats answers at once from the mirror, and fresh from iohost when awaited', async () => {
    const mirror = { latest: () => snapshot };
    const client = createClient({ url, apiKey: KEY, timeoutMs: 2000 });
    const monitoring = createMonitoring({ client, io: createIo({ client, log }), mirror });
    const now = monitoring.getConnectionStats();
    assert.equal(now.connected, 1, 'the main namespace, as the plugin counted');
    assert.deepEqual(now.sockets[0].rooms, ['io-role-public', 'api::article.article:d1']);
    assert.deepEqual(now.sockets[0].entitySubscriptions, [{ uid: 'api::article.article', id: 'd1', room: 'api::article.article:d1' }]);
    assert.equal(now.sockets[0].handshake.address, '10.0.0.1');
    assert.deepEqual(now.entitySubscriptions, { total: 1, byContentType: { 'api::article.article': 1 }, rooms: ['api::article.article:d1'] });
    assert.deepEqual(now.rooms.map((r) => r.name), ['io-role-public', 'api::article.article:d1']);
    assert.equal(requests.length, 0, 'no call for the synchronous answer');

    answers['GET /api/v1/sockets'] = [200, []];
    answers['GET /api/v1/stats'] = [200, { namespaces: [] }];
    const fresh = await monitoring.getConnectionStats();
    assert.equal(fresh.connected, 0);
    assert.equal(typeof fresh.then, 'undefined', 'the awaited answer is a plain object');
    assert.deepEqual(requests.map((r) => r.url).sort(), ['/api/v1/sockets', '/api/v1/stats']);
  });

  it('logEvent, getEventStats, getEventLog and resetStats count as the plugin did', () => {
    const monitoring = createMonitoring({ client: null, io: null, mirror: { latest: () => null }, eventLogSize: 2 });
    monitoring.logEvent('order-update', { orderId: 1 });
    monitoring.logEvent('order-update', { orderId: 2 });
    monitoring.logEvent('login');
    const stats = monitoring.getEventStats();
    assert.equal(stats.totalEvents, 3);
    assert.deepEqual(stats.eventsByType, { 'order-update': 2, login: 1 });
    assert.deepEqual(monitoring.getEventLog().map((e) => e.type), ['order-update', 'login'], 'kept to eventLogSize');
    monitoring.resetStats();
    assert.equal(monitoring.getEventStats().totalEvents, 0);
    assert.deepEqual(monitoring.getConnectionStats().sockets, [], 'no snapshot yet: empty');
  });

  it('withFresh leaves the value as it is for synchronous readers', async () => {
    const value = withFresh({ a: 1 }, async () => ({ a: 2 }));
    assert.deepEqual(Object.keys(value), ['a']);
    assert.equal(JSON.stringify(value), '{"a":1}');
    assert.deepEqual(await value, { a: 2 });
    assert.deepEqual(connectionStats([], []), { connected: 0, rooms: [], sockets: [], entitySubscriptions: { total: 0, byContentType: {}, rooms: [] } });
  });
});
