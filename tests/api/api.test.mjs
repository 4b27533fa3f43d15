// The HTTP API for backends: every endpoint, its auth failures and bad bodies.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect } from '../lib/client.mjs';
import { once, sleep, startServer } from '../lib/server.mjs';

const KEY = 'test-key-0123456789abcdef0123456789abcdef';
let server;
let api;
before(async () => {
  server = await startServer({
    config: `[server]\nnamespaces = ["/admin"]\n[api]\nkeys = ["${KEY}"]\n`,
    handlers: ['echo'],
  });
  api = (path, { method = 'GET', body, key = KEY, raw } = {}) =>
    fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: {
        ...(key ? { Authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined || raw ? { 'Content-Type': 'application/json' } : {}),
      },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
});
after(async () => {
  closeAll();
  await server.stop();
});

async function json(res, status) {
  assert.equal(res.status, status, `status ${res.status}`);
  return res.json();
}


describe('auth', () => {
  it('refuses a missing or wrong key with 401 and a JSON reason; never logs the key', async () => {
    for (const key of [null, 'wrong-key', `${KEY}x`]) {
      const body = await json(await api('/stats', { key }), 401);
      assert.equal(body.error.code, 'unauthorized');
      assert.match(body.error.message, /Bearer/);
    }
    await api('/stats', { key: 'a-secret-that-must-not-be-logged' });
    assert.ok(!server.logs().includes(KEY));
    assert.ok(!server.logs().includes('a-secret-that-must-not-be-logged'));
  });

  it('answers 503 when no key is configured', async () => {
    const off = await startServer();
    try {
      const res = await fetch(`${off.url}/api/v1/stats`, { headers: { Authorization: `Bearer ${KEY}` } });
      assert.equal((await json(res, 503)).error.code, 'not_configured');
    } finally {
      await off.stop();
    }
  });

  it('serves the OpenAPI document without a key', async () => {
    const doc = await json(await api('/openapi.json', { key: null }), 200);
    assert.equal(doc.info.title, 'iohost HTTP API');
    for (const path of ['/emit', '/sockets', '/sockets/{id}', '/sockets/{id}/rooms', '/sockets/{id}/rooms/{room}', '/stats', '/handlers']) {
      assert.ok(doc.paths[path], `missing ${path}`);
    }
    assert.ok(doc.components.securitySchemes.bearer);
  });
});

describe('POST /emit', () => {
  it('reaches the whole namespace by default, with one argument', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    const got = Promise.all([once(a, 'dashboard:stats'), once(b, 'dashboard:stats')]);
    const res = await json(await api('/emit', { method: 'POST', body: { event: 'dashboard:stats', data: { active: 2 } } }), 200);
    assert.deepEqual(res, { success: true, missingSockets: [], partial: false });
    assert.deepEqual(await got, [{ active: 2 }, { active: 2 }]);
  });

  it('reaches only a room, and several arguments arrive as several arguments', async () => {
    const [inside, outside] = await Promise.all([connect(server.url), connect(server.url)]);
    await ask(inside, 'join-room', 'chat-room-5');
    const missed = collect(outside, 'chat:message');
    const got = new Promise((r) => inside.once('chat:message', (...args) => r(args)));
    await json(await api('/emit', { method: 'POST', body: { event: 'chat:message', args: ['hi', 2, { x: true }], rooms: ['chat-room-5'] } }), 200);
    assert.deepEqual(await got, ['hi', 2, { x: true }]);
    await ask(outside, 'get-rooms');
    assert.deepEqual(missed, []);
  });

  it('reaches a user through their private room, a socket directly, and skips `except`', async () => {
    const [user7, direct, sender, other] = await Promise.all([1, 2, 3, 4].map(() => connect(server.url)));
    // Until Strapi auth puts users in user-<id> themselves, the API can.
    await json(await api(`/sockets/${user7.id}/rooms`, { method: 'POST', body: { room: 'user-7' } }), 200);
    const toUser = once(user7, 'notification');
    await json(await api('/emit', { method: 'POST', body: { event: 'notification', data: { n: 1 }, users: [7] } }), 200);
    assert.deepEqual(await toUser, { n: 1 });

    const toSocket = once(direct, 'order:status-update');
    const res = await json(await api('/emit', { method: 'POST', body: { event: 'order:status-update', data: { status: 'shipped' }, sockets: [direct.id, 'NOPE0000NOPE0000'] } }), 200);
    assert.deepEqual(res.missingSockets, ['NOPE0000NOPE0000']);
    assert.deepEqual(await toSocket, { status: 'shipped' });

    for (const s of [sender, other]) await ask(s, 'join-room', 'document-9');
    const atSender = collect(sender, 'document:change');
    const atOther = once(other, 'document:change');
    await json(await api('/emit', { method: 'POST', body: { event: 'document:change', data: { v: 2 }, rooms: ['document-9'], except: sender.id } }), 200);
    assert.deepEqual(await atOther, { v: 2 });
    await ask(sender, 'get-rooms');
    assert.deepEqual(atSender, []);
  });

  it('sends once to a socket named directly and also in a target room', async () => {
    const s = await connect(server.url);
    await ask(s, 'join-room', 'both-ways');
    const got = collect(s, 'once-only');
    await json(await api('/emit', { method: 'POST', body: { event: 'once-only', rooms: ['both-ways'], sockets: [s.id] } }), 200);
    await sleep(100);
    await ask(s, 'get-rooms');
    assert.equal(got.length, 1);
  });

  it('reaches another namespace', async () => {
    const admin = await connect(`${server.url}/admin`);
    const got = once(admin, 'dashboard:stats');
    await json(await api('/emit', { method: 'POST', body: { event: 'dashboard:stats', data: 1, namespace: '/admin' } }), 200);
    assert.equal(await got, 1);
  });

  for (const [name, request, pattern] of [
    ['no event', { data: 1 }, /event/],
    ['an empty event', { event: '' }, /1 to 200/],
    ['a reserved event', { event: 'disconnect' }, /reserved/],
    ['data and args', { event: 'x', data: 1, args: [1] }, /either/],
    ['an unknown field', { event: 'x', room: 'typo' }, /room/],
    ['args that are not a list', { event: 'x', args: 'nope' }, /args|sequence/],
  ]) {
    it(`answers 400 to ${name}`, async () => {
      const body = await json(await api('/emit', { method: 'POST', body: request }), 400);
      assert.equal(body.error.code, 'bad_request');
      assert.match(body.error.message, pattern);
    });
  }

  it('answers 400 to malformed JSON and 404 to an unknown namespace', async () => {
    assert.equal((await json(await api('/emit', { method: 'POST', raw: '{"event": ' }), 400)).error.code, 'bad_request');
    const body = await json(await api('/emit', { method: 'POST', body: { event: 'x', namespace: '/nope' } }), 404);
    assert.deepEqual(body.error, { code: 'no_namespace', message: 'no namespace `/nope`' });
  });
});

describe('sockets', () => {
  it('lists sockets with their rooms, per namespace and per room', async () => {
    const s = await connect(server.url, { query: { page: 'home', token: 'secret' } });
    await ask(s, 'join-room', 'listed-room');
    const listing = await api('/sockets');
    // One node: the list covers it all.
    assert.deepEqual(['x-iohost-nodes', 'x-iohost-nodes-answered', 'x-iohost-partial'].map((h) => listing.headers.get(h)), ['1', '1', 'false']);
    const all = await json(listing, 200);
    const me = all.find((v) => v.id === s.id);
    assert.match(me.node, /^[0-9a-f]{16}$/, 'the id of the node that holds it');
    assert.deepEqual(me.rooms.sort(), ['io-role-public', 'listed-room']);
    assert.equal(me.role, 'public');
    assert.equal(me.user, null);
    assert.equal(me.namespace, '/');
    assert.match(me.address, /^127\.0\.0\.1:\d+$/);
    const inRoom = await json(await api('/sockets?room=listed-room'), 200);
    assert.deepEqual(inRoom.map((v) => v.id), [s.id]);
    assert.deepEqual(await json(await api('/sockets?namespace=/admin&room=listed-room'), 200), []);
    assert.equal((await json(await api('/sockets?namespace=/x'), 404)).error.code, 'no_namespace');
    assert.equal((await json(await api('/sockets?colour=red'), 400)).error.code, 'bad_request');
  });

  it('joins and leaves rooms for a socket; iohost rooms are refused', async () => {
    const s = await connect(server.url);
    assert.deepEqual(await json(await api(`/sockets/${s.id}/rooms`, { method: 'POST', body: { room: 'document-1' } }), 200), { success: true, room: 'document-1' });
    assert.ok((await ask(s, 'get-rooms')).rooms.includes('document-1'));
    assert.deepEqual(await json(await api(`/sockets/${s.id}/rooms/document-1`, { method: 'DELETE' }), 200), { success: true, room: 'document-1' });
    assert.ok(!(await ask(s, 'get-rooms')).rooms.includes('document-1'));
    assert.equal((await json(await api(`/sockets/${s.id}/rooms/io-role-public`, { method: 'DELETE' }), 400)).error.code, 'bad_request');
    assert.equal((await json(await api(`/sockets/${s.id}/rooms`, { method: 'POST', body: { room: '' } }), 400)).error.code, 'bad_request');
    assert.equal((await json(await api('/sockets/nobody/rooms', { method: 'POST', body: { room: 'x' } }), 404)).error.code, 'no_socket');
  });

  it('disconnects a socket', async () => {
    const s = await connect(server.url);
    const gone = once(s, 'disconnect');
    assert.deepEqual(await json(await api(`/sockets/${s.id}`, { method: 'DELETE' }), 200), { success: true });
    const [reason] = await gone;
    assert.equal(reason, 'io server disconnect');
    assert.equal((await json(await api(`/sockets/${s.id}`, { method: 'DELETE' }), 404)).error.code, 'no_socket');
  });
});

describe('stats and handlers', () => {
  it('counts connections and room members', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    await ask(a, 'join-room', 'counted');
    await ask(b, 'join-room', 'counted');
    const stats = await json(await api('/stats'), 200);
    assert.ok(stats.connections >= 2);
    const root = stats.namespaces.find((n) => n.name === '/');
    assert.deepEqual(root.rooms.find((r) => r.name === 'counted'), { name: 'counted', members: 2 });
    assert.ok(stats.namespaces.some((n) => n.name === '/admin'));
    assert.ok(root.roles.public >= 2);
  });

  it('lists handlers with their figures, and files that failed to load', async () => {
    const s = await connect(server.url);
    await ask(s, 'message-with-ack', 1);
    writeFileSync(join(server.handlersDir, 'broken.wasm'), 'not wasm');
    await server.waitForLog(/cannot load handler.*broken/);
    const body = await json(await api('/handlers'), 200);
    const echo = body.handlers.find((h) => h.name === 'echo');
    assert.match(echo.version, /^[0-9a-f]{12}$/);
    assert.ok(echo.calls >= 1);
    assert.deepEqual(echo.events, ['message', 'message-with-ack']);
    assert.ok(echo.p50Micros > 0 && echo.p99Micros >= echo.p50Micros, JSON.stringify(echo));
    assert.equal(echo.lastError, null);
    assert.match(body.loadErrors.broken, /not a WebAssembly component/);
  });
});
