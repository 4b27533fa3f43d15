// Several iohost nodes on one real Redis behave as one: room emits, HTTP API emits and
// handlers' emits made on one node reach sockets on the others; presence (handler KV in Redis)
// is right across nodes; Redis going away and coming back on the same port recovers cross-node
// delivery without restarting the nodes, and each node keeps serving its own clients meanwhile.
// The suite runs its own redis-server (real Redis, a free port) so it can stop it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { startRedis } from '../lib/redis.mjs';
import { sleep, startServer } from '../lib/server.mjs';

const KEY = 'cluster-api-key-0123456789abcdef0123456789abcdef';
let redisPort;
let redis;

before(async () => {
  redis = await startRedis();
  redisPort = redis.port;
});
after(async () => {
  closeAll();
  await redis.stop();
});

let clusters = 0;
/** `count` nodes sharing this suite's Redis under a prefix of their own. */
const WEBHOOK_SECRET = 'cluster-webhook-secret-0123456789';
async function cluster(count, { handlers = ['chat-messages'], sidecars = {} } = {}) {
  const prefix = `test-${process.pid}-${clusters++}`;
  const nodes = [];
  for (let i = 0; i < count; i++) {
    nodes.push(
      await startServer({
        config: `[cluster]\nredis_url = "redis://127.0.0.1:${redisPort}"\nprefix = "${prefix}"\n[api]\nkeys = ["${KEY}"]\n[strapi]\nwebhook_secret = "${WEBHOOK_SECRET}"\n`,
        handlers,
        sidecars,
      }),
    );
  }
  return nodes;
}

function emit(node, body) {
  return fetch(`${node.url}/api/v1/emit`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function member(node, room = 'chat-room-1', name) {
  const s = await connect(node.url, name ? { auth: { name } } : {});
  assert.equal((await ask(s, 'join-room', room)).success, true);
  return s;
}

describe('a cluster of nodes on Redis', () => {
  it('room emits, API emits and handler emits made on one node reach sockets on the others', async () => {
    const [a, b, c] = await cluster(3);
    try {
      const onA = await member(a);
      const onB = await member(b);
      const onC = await member(c);
      const gotA = collect(onA, 'chat:message');
      const gotC = collect(onC, 'chat:message');
      const newsA = collect(onA, 'news');
      const newsB = collect(onB, 'news');

      // A handler (chat-messages) on B emits to the room: members on A and C get it.
      const sent = await ask(onB, 'chat:message', { roomId: 1, text: 'from B' });
      assert.equal(sent.success, true, JSON.stringify(sent));
      assert.ok(await until(() => gotA.length === 1 && gotC.length === 1, 5000), 'handler emit crossed nodes');
      assert.equal(gotA[0].text, 'from B');

      // The HTTP API of C emits to the room and to the whole namespace.
      assert.equal((await emit(c, { event: 'news', data: { n: 1 }, rooms: ['chat-room-1'] })).status, 200);
      assert.equal((await emit(c, { event: 'news', data: { n: 2 } })).status, 200);
      assert.ok(await until(() => newsA.length === 2 && newsB.length === 2, 5000), 'API emits crossed nodes');
      assert.deepEqual(newsA, [{ n: 1 }, { n: 2 }]);

      // Someone who left the room on A no longer gets its emits from B.
      await ask(onA, 'leave-room', 'chat-room-1');
      await ask(onB, 'chat:message', { roomId: 1, text: 'again' });
      assert.ok(await until(() => gotC.length === 2, 5000));
      await sleep(200);
      assert.equal(gotA.length, 1, 'the leave was seen by the other nodes');
    } finally {
      closeAll();
      await Promise.all([a, b, c].map((n) => n.stop()));
    }
  });

  it('the API of one node joins, leaves and disconnects a socket connected to another', async () => {
    const [a, b] = await cluster(2);
    const api = (path, method, body) =>
      fetch(`${b.url}/api/v1${path}`, {
        method,
        headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    try {
      const onA = await connect(a.url);
      const vip = collect(onA, 'vip');
      // The node that holds the socket carries the join out and says so before the 200.
      const roomsOfA = async () => (await ask(onA, 'get-rooms')).rooms.sort().join(',');
      assert.equal((await api(`/sockets/${onA.id}/rooms`, 'POST', { room: 'vip' })).status, 200);
      assert.equal(await roomsOfA(), 'io-role-public,vip', 'remote join applied');
      assert.equal((await emit(b, { event: 'vip', data: 1, rooms: ['vip'] })).status, 200);
      assert.ok(await until(() => vip.length === 1, 5000));
      assert.equal((await api(`/sockets/${onA.id}/rooms/vip`, 'DELETE')).status, 200);
      assert.equal(await roomsOfA(), 'io-role-public', 'remote leave applied');
      assert.equal((await api('/sockets/nobody-anywhere', 'DELETE')).status, 404);
      const gone = new Promise((r) => onA.once('disconnect', r));
      assert.equal((await api(`/sockets/${onA.id}`, 'DELETE')).status, 200);
      assert.equal(await gone, 'io server disconnect');
    } finally {
      closeAll();
      await Promise.all([a, b].map((n) => n.stop()));
    }
  });

  it('presence is right across nodes (the handler\'s KV lives in Redis)', async () => {
    const [a, b] = await cluster(2, { handlers: ['presence'], sidecars: { presence: '[config]\nroom_prefix = "chat-room-"\n' } });
    try {
      const ada = await connect(a.url, { auth: { name: 'ada' } });
      const online = collect(ada, 'friend:online');
      const offline = collect(ada, 'friend:offline');
      const bob = await connect(b.url, { auth: { name: 'bob' } });
      assert.ok(await until(() => online.some((p) => p.username === 'bob'), 5000), 'bob on B is announced to ada on A');
      const { online: list } = await ask(ada, 'user:online');
      assert.deepEqual(list.map((p) => p.username), ['ada', 'bob']);
      // A second socket of bob on A: still one bob; he goes offline only when both leave.
      const bob2 = await connect(a.url, { auth: { name: 'bob' } });
      bob.close();
      await sleep(300);
      assert.deepEqual(offline, []);
      bob2.close();
      assert.ok(await until(() => offline.some((p) => p.username === 'bob'), 5000));
      assert.deepEqual((await ask(ada, 'user:online')).online.map((p) => p.username), ['ada']);
    } finally {
      closeAll();
      await Promise.all([a, b].map((n) => n.stop()));
    }
  });

  it('a settings change on one node applies on the others (a permission change, access rules)', async () => {
    const [a, b] = await cluster(2);
    const api = (node, path, method = 'GET', body) =>
      fetch(`${node.url}/api/v1${path}`, {
        method,
        headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const webhook = (node) =>
      fetch(`${node.url}/strapi/webhook`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${WEBHOOK_SECRET}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ event: 'entry.create', model: 'article', uid: 'api::article.article', entry: { id: Math.random(), documentId: 'd1', title: 'Hi', publishedAt: '2026-11-25T19:00:02.927Z' } }),
      });
    try {
      const reader = await connect(a.url);
      const got = collect(reader, 'article:create');
      assert.equal((await webhook(b)).status, 200);
      await sleep(300);
      assert.deepEqual(got, [], 'nobody may read articles yet');

      assert.equal((await api(a, '/settings', 'PUT', { permissions: { public: { article: ['find'] } } })).status, 200);
      assert.ok(
        await until(async () => (await (await api(b, '/settings')).json()).settings.permissions?.public?.article?.[0] === 'find', 5000),
        'B has the new matrix',
      );
      // B's webhook now delivers to the public role, whose socket is on A.
      assert.equal((await webhook(b)).status, 200);
      assert.ok(await until(() => got.length === 1, 5000));

      assert.equal((await api(b, '/settings', 'PUT', { access: { require_auth: true } })).status, 200);
      assert.ok(
        await until(async () => connect(a.url).then(() => false, (e) => e.message === 'Authentication required'), 5000),
        'A refuses sockets without a user',
      );
      await a.waitForLog(/run-time settings changed on another node: applied/);
    } finally {
      closeAll();
      await Promise.all([a, b].map((n) => n.stop()));
    }
  });

  it('stats show every node and the sums', async () => {
    const [a, b] = await cluster(2);
    try {
      await connect(a.url);
      await connect(b.url);
      await connect(b.url);
      let stats;
      assert.ok(
        await until(async () => {
          stats = await (await fetch(`${a.url}/api/v1/stats`, { headers: { Authorization: `Bearer ${KEY}` } })).json();
          return stats.cluster?.nodes.length === 2 && stats.cluster.connections === 3;
        }, 8000),
        JSON.stringify(stats?.cluster),
      );
      assert.equal(stats.cluster.status, 'ok');
      assert.equal(stats.connections, 1, 'this node\'s own');
      assert.deepEqual(stats.cluster.nodes.map((n) => n.connections).sort(), [1, 2]);
      assert.deepEqual(stats.cluster.nodes.map((n) => n.address).sort(), [a.url, b.url].map((u) => u.slice('http://'.length)).sort());

      // The admin page of A lists both nodes and the total, in Chromium.
      const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
      });
      try {
        const page = await (await browser.newContext()).newPage();
        await page.goto(`${a.url}/admin`);
        await page.fill('#key', KEY);
        await page.click('#sign-in button');
        await page.waitForSelector('#nodes-section:not([hidden])');
        await page.waitForFunction(() => document.querySelectorAll('#nodes tr').length === 2 && document.querySelector('#cluster-connections').textContent === '3');
      } finally {
        await browser.close();
      }
    } finally {
      closeAll();
      await Promise.all([a, b].map((n) => n.stop()));
    }
  });

  it('a node that cannot reach Redis at start refuses to start, naming it', async () => {
    await assert.rejects(
      startServer({ config: `[cluster]\nredis_url = "redis://:secret@127.0.0.1:1"\n` }),
      (e) => /cannot reach Redis at redis:\/\/\*\*\*@127.0.0.1:1/.test(e.message) && !e.message.includes('secret'),
    );
  });

  it('Redis stopped mid-run: each node serves its own clients; restarted: cross-node delivery resumes', async () => {
    const [a, b] = await cluster(2);
    try {
      const onA = await member(a);
      const alsoOnA = await member(a);
      const onB = await member(b);
      const gotA = collect(alsoOnA, 'chat:message');
      const news = collect(onA, 'news');
      await ask(onB, 'chat:message', { roomId: 1, text: 'before' });
      assert.ok(await until(() => gotA.length === 1, 5000));

      await redis.stop();
      // Local delivery goes on: an API emit on A reaches A's sockets; a handler that uses the
      // shared KV gets an answer at once (here: it carries on without a message id).
      const localNews = collect(alsoOnA, 'news');
      assert.equal((await emit(a, { event: 'news', data: { n: 'local' }, rooms: ['chat-room-1'] })).status, 200);
      assert.ok(await until(() => localNews.length === 1, 5000), 'local delivery goes on');
      const answer = await ask(onA, 'chat:message', { roomId: 1, text: 'local while down' });
      assert.equal(answer.success, true, JSON.stringify(answer));
      assert.ok(await until(() => gotA.some((m) => m.text === 'local while down'), 5000));
      assert.ok(
        await until(async () => (await (await fetch(`${a.url}/readyz`)).json()).cluster === 'degraded', 5000),
        '/readyz says degraded',
      );
      assert.equal((await fetch(`${a.url}/readyz`)).status, 200);
      await a.waitForLog(/Redis is unreachable/, 5000);
      // The API answers with what this node has, saying so, rather than wait for Redis (it
      // waits at most 500 ms for it; the fetch gives up after 3 s).
      const stats = await (await fetch(`${a.url}/api/v1/stats`, { headers: { Authorization: `Bearer ${KEY}` }, signal: AbortSignal.timeout(3000) })).json();
      assert.equal(stats.cluster.status, 'degraded');
      assert.deepEqual(stats.cluster.nodes.map((n) => n.address), [new URL(a.url).host], 'only its own figures');

      redis = await startRedis({ port: redisPort });
      assert.ok(
        await until(async () => (await (await fetch(`${a.url}/readyz`)).json()).cluster === 'ok', 15000),
        'reconnected',
      );
      await a.waitForLog(/Redis is reachable again/, 15000);
      // Subscriptions came back too: an API emit on B reaches the socket on A.
      assert.ok(
        await until(async () => {
          await emit(b, { event: 'news', data: { n: news.length } });
          await sleep(200);
          return news.length > 0;
        }, 15000),
        'cross-node delivery resumed',
      );
      assert.ok(onA.connected && onB.connected, 'no client was dropped');
    } finally {
      closeAll();
      await Promise.all([a, b].map((n) => n.stop()));
    }
  });
});
