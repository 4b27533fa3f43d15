// The usage guide's scenarios 2 (notifications), 3 (chat) and 5 (collaborative editing) on a
// cluster of three iohost nodes, a real Strapi 5 and a real Redis: the users' sockets are on
// nodes A and B, and the backend's calls (the HTTP API the guide's `strapi.$io` calls stand
// for) all go to node C, which holds none of them. Strapi's webhooks go to C too, and entity
// followers on A and B get the document's events.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { startRedis } from '../lib/redis.mjs';
import { startServer } from '../lib/server.mjs';
import { startStrapi } from '../lib/strapi.mjs';

const KEY = 'guide-cluster-api-key-0123456789abcdef0123456789';
const WEBHOOK_SECRET = 'guide-cluster-webhook-secret-0123456789';
let strapi;
let redis;
let a;
let b;
let c;
let hook;

before(async () => {
  [strapi, redis] = await Promise.all([startStrapi(), startRedis()]);
  await strapi.permit('public', ['api::article.article.find', 'api::article.article.findOne']);
  await strapi.permit('authenticated', ['api::article.article.find', 'api::article.article.findOne']);
  const config = `
[cluster]
redis_url = "redis://127.0.0.1:${redis.port}"
prefix = "guide-${process.pid}"

[api]
keys = ["${KEY}"]

${strapi.iohostSection()}
webhook_secret = "${WEBHOOK_SECRET}"
delivery = "action"
`;
  [a, b, c] = [await startServer({ config }), await startServer({ config }), await startServer({ config })];
  hook = await strapi.webhook(`${c.url}/strapi/webhook`, WEBHOOK_SECRET, 'iohost-c');
});
after(async () => {
  closeAll();
  await Promise.all([a, b, c].filter(Boolean).map((n) => n.stop()));
  await strapi?.stop();
  await redis?.stop();
});

/** The backend's view of iohost: every call goes to node C. */
async function backend(path, { method = 'GET', body } = {}) {
  const res = await fetch(`${c.url}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  assert.notEqual(res.headers.get('x-iohost-partial'), 'true', 'every node answered');
  return json;
}

/** A user signed up in Strapi, with a socket on `node` as the guide's frontend opens it. */
async function user(name, node) {
  const { jwt, user } = await strapi.register(`${name}-${process.pid}`);
  const socket = await connect(node.url, { auth: { token: jwt } });
  return { user, socket };
}

describe('the usage guide on a cluster, the backend on a node with none of the sockets', () => {
  it('use case 2: a notification to the user\'s socket found through user-<id>', async () => {
    const alice = await user('alice', a);
    // Frontend: joins its own room on connect, listens for notifications.
    assert.equal((await ask(alice.socket, 'join-room', `user-${alice.user.id}`)).success, true);
    const notifications = collect(alice.socket, 'notification');

    // Backend: getSocketsInRoom(`user-${userId}`), then sendPrivateMessage(sockets[0].id, ...).
    const sockets = await backend(`/sockets?room=user-${alice.user.id}`);
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0].user.id, alice.user.id);
    const sent = await backend('/emit', {
      method: 'POST',
      body: { event: 'notification', sockets: [sockets[0].id], data: { id: 1, message: 'Order shipped', type: 'info' } },
    });
    assert.deepEqual(sent.missingSockets, []);
    assert.ok(await until(() => notifications.length === 1, 5000));
    assert.equal(notifications[0].message, 'Order shipped');
  });

  it('use case 3: a chat message to the room reaches members on every node', async () => {
    const alice = await user('alice3', a);
    const bob = await user('bob3', b);
    for (const s of [alice.socket, bob.socket]) assert.equal((await ask(s, 'join-room', 'chat-room-1')).success, true);
    const atAlice = collect(alice.socket, 'chat:message');
    const atBob = collect(bob.socket, 'chat:message');
    // Backend: strapi.$io.server.to(`chat-room-${roomId}`).emit('chat:message', {...}).
    await backend('/emit', {
      method: 'POST',
      body: { event: 'chat:message', rooms: ['chat-room-1'], data: { id: 7, content: 'hello', author: { id: alice.user.id, username: alice.user.username } } },
    });
    assert.ok(await until(() => atAlice.length === 1 && atBob.length === 1, 5000));
    assert.deepEqual(atAlice, atBob);
  });

  it('use case 5: editors join the document room by API, and a change goes to everyone but its author', async () => {
    const alice = await user('alice5', a);
    const bob = await user('bob5', b);
    const documentId = 'doc-42';
    const joined = { alice: collect(alice.socket, 'editor:joined'), bob: collect(bob.socket, 'editor:joined') };
    const changes = { alice: collect(alice.socket, 'document:change'), bob: collect(bob.socket, 'document:change') };

    // Backend startEditing: find the user's socket in the connection list, join it to the
    // document room, tell the room, list the active editors.
    async function startEditing(who) {
      const all = await backend('/sockets');
      const userSocket = all.find((s) => s.user?.id === who.user.id);
      assert.ok(userSocket, 'the user\'s socket is found though it is on another node');
      await backend(`/sockets/${userSocket.id}/rooms`, { method: 'POST', body: { room: `document-${documentId}` } });
      await backend('/emit', {
        method: 'POST',
        body: { event: 'editor:joined', rooms: [`document-${documentId}`], data: { userId: who.user.id, username: who.user.username } },
      });
      const editors = await backend(`/sockets?room=document-${documentId}`);
      return editors.map((e) => e.user).filter(Boolean);
    }
    assert.deepEqual((await startEditing(alice)).map((u) => u.id), [alice.user.id]);
    const active = await startEditing(bob);
    assert.deepEqual(active.map((u) => u.id).sort(), [alice.user.id, bob.user.id].sort());
    assert.ok(await until(() => joined.alice.length === 2 && joined.bob.length === 1, 5000), 'editor:joined to the room');

    // Backend broadcastChange: broadcast(userSocket.id, 'document:change', ...): not the author.
    const all = await backend('/sockets');
    const aliceSocket = all.find((s) => s.user?.id === alice.user.id);
    await backend('/emit', {
      method: 'POST',
      body: { event: 'document:change', except: aliceSocket.id, data: { documentId, changes: ['+hi'], author: { id: alice.user.id } } },
    });
    assert.ok(await until(() => changes.bob.length === 1, 5000));
    // A marker after it, to the author: by then the change would have reached her too.
    const marker = collect(alice.socket, 'marker');
    await backend('/emit', { method: 'POST', body: { event: 'marker', sockets: [aliceSocket.id] } });
    assert.ok(await until(() => marker.length === 1, 5000));
    assert.deepEqual(changes.alice, [], 'the author does not get her own change');
  });

  it('a user blocked in Strapi is disconnected on A and B though the webhook reached C, and B does not let them back in', async () => {
    const { jwt, user: blocked } = await strapi.register(`blocked-${process.pid}`);
    // One socket on each of A and B: B has the user in its cache from here.
    const sockets = [await connect(a.url, { auth: { token: jwt } }), await connect(b.url, { auth: { token: jwt } })];
    const reasons = sockets.map((s) => {
      const seen = [];
      s.on('disconnect', (reason) => seen.push(reason));
      return seen;
    });
    await strapi.call(`/api/users/${blocked.id}`, { method: 'PUT', token: strapi.apiToken, body: { blocked: true } });
    assert.ok(await until(() => reasons.every((r) => r.length > 0), 15000), 'disconnected on both nodes');
    assert.deepEqual(reasons, [['io server disconnect'], ['io server disconnect']]);
    // identity_cache_ms is 60 s here: only the news from C made B forget the user.
    await assert.rejects(connect(b.url, { auth: { token: jwt }, forceNew: true }), { message: 'Your account has been blocked' });
  });

  it('entity followers on A and B get the events of a document whose webhook reached C', async () => {
    const { data } = await strapi.call('/api/articles', {
      method: 'POST',
      token: strapi.apiToken,
      body: { data: { title: 'Followed', description: 'd', reviewerEmail: 'r@example.com' } },
    });
    const uid = 'api::article.article';
    const reader = await connect(a.url);
    const member = await user('carol', b);
    const followers = [reader, member.socket];
    for (const s of followers) assert.equal((await ask(s, 'subscribe-entity', { uid, id: data.documentId })).success, true);
    const got = followers.map((s) => collect(s, 'article:publish'));
    await strapi.call(`/api/articles/${data.documentId}`, { method: 'PUT', token: strapi.apiToken, body: { data: { title: 'Edited' } } });
    assert.ok(await until(() => got.every((g) => g.length >= 1), 15000), 'both followers got the publish');
    for (const g of got) {
      assert.equal(g[0].data.attributes.documentId, data.documentId);
      assert.equal(g[0].data.attributes.title, 'Edited');
      assert.equal(g[0].data.attributes.description, 'd');
      assert.equal(g[0].data.attributes.reviewerEmail, undefined, 'private fields stay out');
    }
    await strapi.call(`/admin/webhooks/${hook.data.id}`, { method: 'DELETE', token: strapi.adminToken });
  });
});
