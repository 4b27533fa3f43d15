'use strict';

// The relay's side in Strapi: what `server.on('connection')` listeners see and what the plugin
// sends back, against a loopback server that streams relay messages as iohost does and
// records the plugin's requests (tests/strapi/plugin.test.mjs runs the same with the real
// iohost and Strapi: the usage guide's patterns 1 and 2).

const assert = require('node:assert/strict');
const http = require('node:http');
const { after, before, it } = require('node:test');

const { createClient } = require('../server/client');
const { createIo } = require('../server/io');
const { createRelay } = require('../server/relay');

let server;
let url;
let stream = null;
let streamQuery = null;
const requests = [];

before(async () => {
  server = http.createServer((req, res) => {
    if (req.url.startsWith('/api/v1/relay?')) {
      streamQuery = new URL(req.url, 'http://x').searchParams.get('namespaces');
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ type: 'hello', stream: 1, node: 'n' })}\n\n`);
      stream = res;
      return;
    }
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, body: text ? JSON.parse(text) : undefined });
      res.writeHead(req.method === 'PUT' || req.url.includes('/answers/') ? 204 : 200, { 'Content-Type': 'application/json' });
      res.end(req.method === 'PUT' || req.url.includes('/answers/') ? '' : '{"success":true}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

const send = (message) => stream.write(`data: ${JSON.stringify(message)}\n\n`);
const log = { info() {}, warn() {}, error() {}, debug() {} };

async function until(check, ms = 2000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

const view = (id, namespace = '/') => ({ id, namespace, rooms: ['io-role-authenticated'], role: 'authenticated', user: { id: 7, username: 'ann' }, address: '127.0.0.1:5000', transport: 'websocket', node: 'n', connectedAt: 1, query: {} });

/** strapi.$io and the relay, wired as the plugin wires them, against the loopback server. */
function wired() {
  const options = { url, apiKey: 'k', timeoutMs: 2000 };
  const client = createClient(options);
  let relay = null;
  const io = createIo({ client, log, onConnection: (ns, fn) => relay.onConnection(ns, fn) });
  relay = createRelay({ client, clientOptions: options, io, log });
  return { io, relay };
}

it('runs connection listeners, registers what they listen to, answers verdicts and acks, and calls disconnect listeners', async () => {
  const { io, relay } = wired();

  const seen = [];
  io.server.on('connection', (socket) => {
    seen.push({ id: socket.id, user: socket.user, rooms: [...socket.rooms], ns: socket.nsp.name });
    socket.use(([event], next) => next(event === 'forbidden' ? new Error('not here') : undefined));
    socket.on('hello', (data, ack) => ack({ got: data }, 2));
    socket.on('note', (data) => seen.push({ note: data }));
    socket.on('disconnect', (reason) => seen.push({ gone: reason }));
    // Added later: registered again.
    setTimeout(() => socket.on('late', () => {}), 50);
  });
  io.server.of('admin').on('connection', () => {});
  relay.start();
  assert.ok(await until(() => stream));
  assert.equal(streamQuery, '/,/admin', 'one stream for the namespaces with connection listeners');

  send({ type: 'connection', socket: view('s1') });
  assert.ok(await until(() => requests.some((r) => r.method === 'PUT')));
  assert.deepEqual(seen[0], { id: 's1', user: { id: 7, username: 'ann' }, rooms: ['io-role-authenticated'], ns: '/' });
  const puts = () => requests.filter((r) => r.method === 'PUT');
  assert.deepEqual(puts()[0], { method: 'PUT', url: '/api/v1/relay/sockets/s1', body: { events: ['hello', 'note'], middleware: true } });
  assert.ok(await until(() => puts().length === 2));
  assert.deepEqual(puts()[1].body, { events: ['hello', 'note', 'late'], middleware: true });

  const answers = () => requests.filter((r) => r.url.startsWith('/api/v1/relay/answers/'));
  send({ type: 'event', id: 1, socket: 's1', namespace: '/', event: 'hello', args: ['x'], ack: true, answer: true });
  send({ type: 'event', id: 2, socket: 's1', namespace: '/', event: 'forbidden', args: [], ack: false, answer: true });
  send({ type: 'event', id: 3, socket: 's1', namespace: '/', event: 'note', args: [{ n: 1 }], ack: false, answer: true });
  send({ type: 'event', id: 4, socket: 'gone', namespace: '/', event: 'note', args: [], ack: false, answer: true });
  assert.ok(await until(() => answers().length === 4));
  const byId = Object.fromEntries(answers().map((r) => [r.url.split('/').pop(), r.body]));
  assert.deepEqual(byId, { 1: { ack: [{ got: 'x' }, 2] }, 2: { error: 'not here' }, 3: {}, 4: {} });
  assert.ok(seen.some((s) => s.note?.n === 1));

  send({ type: 'disconnect', socket: 's1', namespace: '/', reason: 'client namespace disconnect' });
  assert.ok(await until(() => seen.some((s) => s.gone)));
  assert.deepEqual(seen.at(-1), { gone: 'client namespace disconnect' });
  assert.equal(relay.size(), 0);

  // The stream breaks: the sockets Strapi knew are disconnected for its listeners.
  send({ type: 'connection', socket: view('s2') });
  assert.ok(await until(() => relay.size() === 1));
  stream.destroy();
  assert.ok(await until(() => seen.some((s) => s.gone === 'relay closed')));
  relay.stop();
});

it('socket.broadcast.emit and socket.to(room).emit leave the socket itself out', async () => {
  const { io, relay } = wired();
  io.server.on('connection', (socket) => {
    socket.broadcast.emit('b', 1);
    socket.to('room').emit('r', 2);
  });
  stream = null;
  relay.start();
  assert.ok(await until(() => stream));
  send({ type: 'connection', socket: view('s3') });
  const emits = () => requests.filter((r) => r.url === '/api/v1/emit');
  assert.ok(await until(() => emits().length === 2));
  assert.deepEqual(emits()[0].body, { event: 'b', args: [1], namespace: '/', except: ['s3'] });
  assert.deepEqual(emits()[1].body, { event: 'r', args: [2], namespace: '/', rooms: ['room'], except: ['s3'] });
  relay.stop();
  stream.destroy();
});
