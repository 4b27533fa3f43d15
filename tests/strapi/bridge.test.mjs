// The rest of the Strapi bridge against a real Strapi 5.54, this one in refresh-token mode:
// API-token logins and their rooms, entity subscriptions (exactly once, permission checked),
// publish / unpublish from the content manager, handlers calling Strapi (presence keeps
// isOnline / lastSeen), and access rules changed at run time.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { io } from 'socket.io-client';

import { ask, closeAll, connect, until } from '../lib/client.mjs';
import { sleep, startServer } from '../lib/server.mjs';
import { startStrapi } from '../lib/strapi.mjs';

const WEBHOOK_SECRET = 'bridge-webhook-secret-0123456789';
const API_KEY = 'bridge-api-key-0123456789abcdef0123456789abcdef';
let strapi;

before(async () => {
  strapi = await startStrapi({ jwtManagement: 'refresh' });
  // iohost signs in as Strapi's admin here, so it reads Strapi's role permissions and follows
  // them: the site lets everyone read articles.
  await strapi.permit('public', ['api::article.article.find', 'api::article.article.findOne']);
  await strapi.permit('authenticated', ['api::article.article.find', 'api::article.article.findOne', 'api::article.article.update']);
});
after(async () => {
  closeAll();
  await strapi?.stop();
});

/** Every event a socket receives, by name. */
function record(socket) {
  const events = [];
  socket.onAny((name, payload) => events.push({ name, payload }));
  return events;
}

/** An iohost wired to this Strapi (webhook included), with `extra` config appended. */
async function bridge(extra = '', options = {}) {
  const server = await startServer({
    ...options,
    config: `
[strapi]
url = "${strapi.url}"
jwt_secret = "${strapi.jwtSecret}"
api_token = "${strapi.apiToken}"
admin_email = "${strapi.admin.email}"
admin_password = "${strapi.admin.password}"
identity_cache_ms = 1500
# A busy test machine (other suites compile handlers meanwhile) can slow Strapi down.
lookup_timeout_ms = 15000
webhook_secret = "${WEBHOOK_SECRET}"
${extra}`,
  });
  const hook = await strapi.webhook(`${server.url}/strapi/webhook`, WEBHOOK_SECRET, `iohost-${server.port}`);
  const stop = server.stop;
  server.stop = async () => {
    await strapi.call(`/admin/webhooks/${hook.data.id}`, { method: 'DELETE', token: strapi.adminToken });
    await stop();
  };
  return server;
}

function newToken(name, type, permissions) {
  return strapi
    .call('/admin/api-tokens', { method: 'POST', token: strapi.adminToken, body: { name, type, lifespan: null, permissions } })
    .then((r) => r.data);
}

function createArticle(title) {
  return strapi
    .call('/api/articles', { method: 'POST', token: strapi.apiToken, body: { data: { title, description: 'd', internalNotes: 'n' } } })
    .then((r) => r.data.documentId);
}

function updateArticle(documentId, title) {
  return strapi.call(`/api/articles/${documentId}`, { method: 'PUT', token: strapi.apiToken, body: { data: { title } } });
}

describe('API-token logins', () => {
  it('a token lands in io-token-<name>, receives what its Strapi type allows, and is checked per namespace', async () => {
    const dashboard = await newToken('Dashboard', 'read-only');
    const writer = await newToken('Writer', 'custom', ['api::article.article.create']);
    const server = await bridge(`
[strapi.permissions.public]
article = ["find"]

[server]
namespaces = ["/admin"]

[access.namespaces]
"/admin" = ["token:dashboard"]
`);
    try {
      const dash = await connect(server.url, { auth: { strategy: 'api-token', token: dashboard.accessKey } });
      assert.deepEqual((await ask(dash, 'get-rooms')).rooms, ['io-token-dashboard']);
      const write = await connect(server.url, { auth: { strategy: 'api-token', token: writer.accessKey } });
      assert.deepEqual((await ask(write, 'get-rooms')).rooms, ['io-token-writer']);
      // /metrics names no tokens (metrics.name_tokens is off).
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /iohost_connections\{namespace="\/",role="token"\} 2/);
      assert.doesNotMatch(metrics, /dashboard|writer/);

      await assert.rejects(connect(server.url, { auth: { strategy: 'api-token', token: 'f'.repeat(256) } }), { message: 'Invalid token.' });
      assert.ok((await connect(`${server.url}/admin`, { auth: { strategy: 'api-token', token: dashboard.accessKey } })).connected);
      await assert.rejects(connect(`${server.url}/admin`, { auth: { strategy: 'api-token', token: writer.accessKey } }), {
        message: 'Role `token:writer` may not connect to /admin',
      });
      const { jwt } = await strapi.register('tokenless');
      await assert.rejects(connect(`${server.url}/admin`, { auth: { token: jwt } }), {
        message: 'Role `authenticated` may not connect to /admin',
      });

      const atDash = record(dash);
      const atWriter = record(write);
      const documentId = await createArticle('For the dashboard');
      assert.ok(await until(() => atDash.some((e) => e.name === 'article:publish'), 10000));
      await sleep(300);
      // The draft row's article:create goes to nobody who may not read drafts.
      assert.deepEqual(atDash.map((e) => e.name).sort(), ['article:publish']);
      assert.equal(atDash[0].payload.data.attributes.documentId, documentId);
      assert.ok(!('reviewerEmail' in atDash[0].payload.data.attributes));
      assert.deepEqual(atWriter, [], 'a custom token without find receives nothing (delivery = "find")');

      // A token made after iohost read the list works at once (an unknown key re-reads it,
      // at most once a second); a deleted one stops working within identity_cache_ms.
      await sleep(1100);
      const late = await newToken('Late Comer', 'read-only');
      const lateSocket = await connect(server.url, { auth: { strategy: 'api-token', token: late.accessKey } });
      assert.deepEqual((await ask(lateSocket, 'get-rooms')).rooms, ['io-token-late-comer']);
      await strapi.call(`/admin/api-tokens/${late.id}`, { method: 'DELETE', token: strapi.adminToken });
      await sleep(1600);
      await assert.rejects(connect(server.url, { auth: { strategy: 'api-token', token: late.accessKey } }), { message: 'Invalid token.' });
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('two tokens whose names give one room name get no content events: iohost cannot tell their sockets apart there', async () => {
    // Strapi tells them apart by key; iohost's room (`io-token-feed-a`) holds both.
    const narrow = await newToken('Feed A', 'custom', ['api::article.article.create']);
    const wide = await newToken('Feed.A', 'full-access');
    const control = await newToken('Feed Control', 'read-only');
    // The oracle: Strapi refuses the narrow token's read.
    await assert.rejects(strapi.call('/api/articles', { token: narrow.accessKey }), /-> 403/);
    const server = await bridge();
    try {
      const asNarrow = await connect(server.url, { auth: { strategy: 'api-token', token: narrow.accessKey } });
      const asWide = await connect(server.url, { auth: { strategy: 'api-token', token: wide.accessKey } });
      const asControl = await connect(server.url, { auth: { strategy: 'api-token', token: control.accessKey } });
      assert.deepEqual((await ask(asNarrow, 'get-rooms')).rooms, ['io-token-feed-a']);
      assert.deepEqual((await ask(asWide, 'get-rooms')).rooms, ['io-token-feed-a']);
      await server.waitForLog(/give one room name/);
      const [atNarrow, atWide, atControl] = [record(asNarrow), record(asWide), record(asControl)];
      await createArticle('For one feed only');
      assert.ok(await until(() => atControl.some((e) => e.name === 'article:publish'), 10000));
      await sleep(300);
      assert.deepEqual(atNarrow, [], 'the custom token may not read articles');
      assert.deepEqual(atWide, [], 'nor is the room given the full-access grant');
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('a token Strapi narrows or deletes after its sockets connected stops receiving within identity_cache_ms', async () => {
    const narrowed = await newToken('Feed Narrowed', 'custom', ['api::article.article.find']);
    const deleted = await newToken('Feed Deleted', 'read-only');
    const kept = await newToken('Feed Kept', 'read-only');
    const server = await bridge();
    try {
      const asToken = (t) => connect(server.url, { auth: { strategy: 'api-token', token: t.accessKey } });
      const [atNarrowed, atDeleted, atKept] = (await Promise.all([narrowed, deleted, kept].map(asToken))).map(record);
      const published = (events) => events.some((e) => e.name === 'article:publish');
      await createArticle('For every feed');
      assert.ok(await until(() => [atNarrowed, atDeleted, atKept].every(published), 10000));

      await strapi.call(`/admin/api-tokens/${narrowed.id}`, { method: 'PUT', token: strapi.adminToken, body: { permissions: [] } });
      await strapi.call(`/admin/api-tokens/${deleted.id}`, { method: 'DELETE', token: strapi.adminToken });
      // The oracle: Strapi refuses both now.
      await assert.rejects(strapi.call('/api/articles', { token: narrowed.accessKey }), /-> 403/);
      await assert.rejects(strapi.call('/api/articles', { token: deleted.accessKey }), /-> 401/);
      await sleep(1600); // identity_cache_ms = 1500: the list iohost read is stale now.
      for (const events of [atNarrowed, atDeleted, atKept]) events.length = 0;
      await createArticle('For the kept feed');
      assert.ok(await until(() => published(atKept), 10000));
      await sleep(300);
      assert.deepEqual(atNarrowed, [], 'the narrowed token may not read articles any more');
      assert.deepEqual(atDeleted, [], 'the deleted token is gone');
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('without strapi.api_token a user whose role cannot be read is (unknown) once Strapi has other roles, and gets no content events', async () => {
    // iohost looks users up with their own JWT then, and /api/users/me does not show the role.
    const server = await bridge('refresh_ms = 1000', { env: { IOHOST_STRAPI__API_TOKEN: '' } });
    try {
      const roomsOf = async (jwt) => (await ask(await connect(server.url, { auth: { token: jwt } }), 'get-rooms')).rooms;
      const plain = await strapi.register('plain-default');
      // Strapi has only Public and Authenticated for now: `authenticated` is what it would say.
      assert.ok(await until(async () => (await roomsOf(plain.jwt)).includes('io-role-authenticated'), 10000));

      // Trial users may read themselves (iohost's lookup without an API token), not articles.
      const trialId = await strapi.role('Trial', ['plugin::users-permissions.user.me']);
      const trial = await strapi.register('trial-user');
      await strapi.call(`/api/users/${trial.user.id}`, { method: 'PUT', token: strapi.apiToken, body: { role: trialId } });
      // The oracle: Strapi refuses the Trial user's read of articles; Authenticated may.
      await assert.rejects(strapi.call('/api/articles', { token: trial.jwt }), /-> 403/);
      assert.ok(await until(async () => (await roomsOf(trial.jwt)).includes('io-role-(unknown)'), 10000));
      await server.waitForLog(/users connect as `\(unknown\)`/);
      const asTrial = await connect(server.url, { auth: { token: trial.jwt } });
      const atTrial = record(asTrial);
      const atPublic = record(await connect(server.url));
      await createArticle('Not for trial users');
      assert.ok(await until(() => atPublic.some((e) => e.name === 'article:publish'), 10000));
      await sleep(300);
      assert.deepEqual(atTrial, [], 'a user who may be in a narrower role gets no role\'s events');
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('a stream of unknown keys costs Strapi one read of the token list; a known key never waits for it', async () => {
    const known = await newToken('Known Key', 'read-only');
    // The list stays fresh for the whole test: only unknown keys could make iohost read it.
    const server = await bridge('', { env: { IOHOST_STRAPI__IDENTITY_CACHE_MS: '60000' } });
    try {
      const asKey = (token) => connect(server.url, { auth: { strategy: 'api-token', token } }).then(() => 'connected', (e) => e.message);
      const reads = () => (server.logs().match(/read Strapi's API tokens/g) ?? []).length;
      assert.equal(await asKey(known.accessKey), 'connected');
      const before = reads();
      await sleep(1100); // past the one-read-a-second bound, so only the per-address bounds apply
      const unknown = Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(256, 'a'));
      const [answers, knownAnswer] = await Promise.all([Promise.all(unknown.map(asKey)), asKey(known.accessKey)]);
      assert.deepEqual(answers, unknown.map(() => 'Invalid token.'));
      assert.equal(knownAnswer, 'connected');
      assert.equal(reads() - before, 1, 'twenty unknown keys from one address: one read');
      await sleep(1100);
      assert.deepEqual(await Promise.all(unknown.map(asKey)), unknown.map(() => 'Invalid token.'));
      assert.equal(reads() - before, 1, 'the same keys again: refused from memory, no read');
      const fresh = Array.from({ length: 5 }, (_, i) => i.toString(16).padStart(256, 'b'));
      assert.deepEqual(await Promise.all(fresh.map(asKey)), fresh.map(() => 'Invalid token.'));
      assert.equal(reads() - before, 1, 'new unknown keys from the same address within 10 s: no read');
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('handlers never see a verified credential: the JWT or API-token key is gone from their auth object', async () => {
    const dashboard = await newToken('Peeked At', 'read-only');
    const server = await bridge('', { handlers: ['hostile'] });
    try {
      const { jwt } = await strapi.register('peeked-at');
      // The hostile fixture sends each socket the auth object it was given, on connect.
      const seen = (auth) =>
        new Promise((res, rej) => {
          const s = io(server.url, { auth, forceNew: true, reconnection: false });
          s.once('hostile:auth', (got) => {
            s.close();
            res(got);
          });
          s.once('connect_error', rej);
        });
      assert.deepEqual(await seen({ token: jwt, theme: 'dark' }), { theme: 'dark' });
      assert.deepEqual(await seen({ strategy: 'api-token', token: dashboard.accessKey, theme: 'dark' }), { strategy: 'api-token', theme: 'dark' });
      assert.deepEqual(await seen({ token: 'not-verified', theme: 'dark' }).catch((e) => e.message), 'Invalid token.', 'a bad token is refused, not passed on');
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('without admin credentials a token login gets a clear connect_error', async () => {
    const server = await startServer({ config: `[strapi]\nurl = "${strapi.url}"\njwt_secret = "${strapi.jwtSecret}"\n` });
    try {
      await assert.rejects(connect(server.url, { auth: { strategy: 'api-token', token: strapi.apiToken } }), {
        message: 'API token authentication is not configured on this server (strapi.admin_email / admin_password)',
      });
    } finally {
      await server.stop();
    }
  });
});

describe('a Python handler with Strapi identities (order-status)', () => {
  it('a shop connected with an API token tells one customer, and only them, about their order', async () => {
    const shopToken = await newToken('Shop', 'custom', ['api::article.article.find']);
    const server = await bridge('[handlers.reserved_rooms]\norder-status = ["user-*"]\n', { handlers: ['order-status'], sidecars: { 'order-status': '[config]\nsenders = ["token:shop"]\n' } });
    try {
      const customer = await strapi.register('customer-carl');
      const other = await strapi.register('customer-olga');
      const carl = await connect(server.url, { auth: { token: customer.jwt } });
      const olga = await connect(server.url, { auth: { token: other.jwt } });
      const atCarl = record(carl);
      const atOlga = record(olga);
      const shop = await connect(server.url, { auth: { strategy: 'api-token', token: shopToken.accessKey } });
      const ack = await ask(shop, 'order:update', { orderId: 'A-1', customerId: customer.user.id, status: 'paid' });
      assert.deepEqual(ack, { success: true, room: `user-${customer.user.id}`, message: 'Thanks! We received your payment for order A-1.' });
      assert.ok(await until(() => atCarl.length === 1, 5000));
      assert.deepEqual(atCarl[0], { name: 'order:status', payload: { orderId: 'A-1', status: 'paid', message: ack.message } });
      assert.match((await ask(carl, 'order:update', { orderId: 'A-1', customerId: other.user.id, status: 'cancelled' })).error, /role `authenticated` may not send order updates/);
      await sleep(300);
      assert.deepEqual(atOlga, [], 'nobody else hears about it');
    } finally {
      closeAll();
      await server.stop();
    }
  });
});

describe('a content handler with Strapi (order-router)', () => {
  it('order events reach only the order\'s customer (looked up in Strapi) and followers, labelled; never a role that may not read orders', async () => {
    await strapi.permit('authenticated', ['api::order.order.find', 'api::order.order.findOne']);
    const server = await bridge('[handlers.strapi]\nallow = ["order-router"]\n[handlers.content]\nallow = ["order-router"]\n', { handlers: ['order-router'] });
    try {
      const carl = await strapi.register('content-carl');
      const olga = await strapi.register('content-olga');
      const atCarl = record(await connect(server.url, { auth: { token: carl.jwt } }));
      const atOlga = record(await connect(server.url, { auth: { token: olga.jwt } }));
      // Public may not read orders: following the order's room gets it nothing.
      const stranger = await connect(server.url);
      assert.equal((await ask(stranger, 'join-room', 'order-C-1')).success, true);
      const atStranger = record(stranger);
      const order = await strapi.call('/api/orders', { method: 'POST', token: strapi.apiToken, body: { data: { orderNumber: 'C-1', notes: 'private', customer: carl.user.documentId } } });
      await strapi.call(`/api/orders/${order.data.documentId}`, { method: 'PUT', token: strapi.apiToken, body: { data: { status: 'paid' } } });
      const orders = (events) => events.filter((e) => e.name.startsWith('order:'));
      assert.ok(await until(() => orders(atCarl).length === 2, 10000), 'the customer hears of both');
      // Then a barrier every socket receives (authenticated and Public may read articles),
      // made after iohost sent the order events: anything else of them would have come first.
      await createArticle('content-barrier');
      const published = (events) => events.some((e) => e.name === 'article:publish' && e.payload.data.attributes?.title === 'content-barrier');
      assert.ok(await until(() => published(atCarl) && published(atOlga) && published(atStranger), 10000), 'the barrier arrived');
      const toCarl = orders(atCarl);
      assert.deepEqual(toCarl.map((e) => e.name).sort(), ['order:create', 'order:update']);
      const update = toCarl.find((e) => e.name === 'order:update').payload.data.attributes;
      assert.equal(update.status, 'paid');
      assert.equal(update.statusLabel, 'Paid');
      assert.equal(update.notes, undefined, 'private fields stay private');
      assert.deepEqual(orders(atOlga), [], 'another customer hears nothing');
      assert.deepEqual(orders(atStranger), [], 'a role that may not read orders hears nothing, whatever room it is in');
    } finally {
      closeAll();
      await server.stop();
    }
  });
});

describe('refresh-mode JWTs', () => {
  it('access tokens connect; refresh tokens are refused', async () => {
    const server = await bridge();
    try {
      const registered = await strapi.register('refresher');
      const s = await connect(server.url, { auth: { token: registered.jwt } });
      assert.ok((await ask(s, 'get-rooms')).rooms.includes(`user-${registered.user.id}`));
      const login = await strapi.call('/api/auth/local', {
        method: 'POST',
        body: { identifier: 'refresher', password: 'Passw0rd!' },
      });
      assert.ok(login.refreshToken, `refresh mode hands out refresh tokens: ${JSON.stringify(Object.keys(login))}`);
      await assert.rejects(connect(server.url, { auth: { token: login.refreshToken } }), { message: 'Invalid token.' });
    } finally {
      closeAll();
      await server.stop();
    }
  });
});

describe('users changed in Strapi after they connected', () => {
  it('a user blocked, moved to another role or deleted is disconnected everywhere and connects again as Strapi now says; other changes leave them be', async () => {
    const server = await bridge();
    try {
      const reviewer = await strapi.role('Reviewer', ['plugin::users-permissions.user.me']);
      const [kept, blocked, moved, deleted] = await Promise.all(
        ['stays', 'gets-blocked', 'gets-moved', 'gets-deleted'].map((name) => strapi.register(`changed-${name}`)),
      );
      const sockets = await Promise.all(
        [kept, blocked, moved, deleted].map(async ({ jwt }) => {
          const s = await connect(server.url, { auth: { token: jwt } });
          // Two sockets each: all of a changed user's sockets go.
          const t = await connect(`${server.url}/`, { auth: { token: jwt }, forceNew: true });
          return [s, t].map((socket) => {
            const gone = { socket, reason: null };
            socket.on('disconnect', (reason) => (gone.reason = reason));
            return gone;
          });
        }),
      );
      const put = (user, data) => strapi.call(`/api/users/${user.user.id}`, { method: 'PUT', token: strapi.apiToken, body: data });
      await put(kept, { isPremium: true });
      await put(blocked, { blocked: true });
      await put(moved, { role: reviewer });
      // From the admin panel: a deletion through /api/users sends Strapi no webhook.
      await strapi.call(`/content-manager/collection-types/plugin::users-permissions.user/${deleted.user.documentId}`, {
        method: 'DELETE',
        token: strapi.adminToken,
      });

      const [stays, ...changed] = sockets;
      assert.ok(await until(() => changed.flat().every((g) => g.reason !== null), 15000), 'every changed user is disconnected');
      for (const g of changed.flat()) assert.equal(g.reason, 'io server disconnect');
      await sleep(300);
      assert.deepEqual(stays.map((g) => [g.reason, g.socket.connected]), [[null, true], [null, true]]);

      // Connecting again, each as Strapi now says.
      const again = (user) => connect(server.url, { auth: { token: user.jwt }, forceNew: true });
      await assert.rejects(again(blocked), { message: 'Your account has been blocked' });
      await assert.rejects(again(deleted), { message: 'Invalid token.' });
      assert.ok((await ask(await again(moved), 'get-rooms')).rooms.includes('io-role-reviewer'));
    } finally {
      closeAll();
      await server.stop();
    }
  });
});

describe('entity subscriptions', () => {
  it('followers get a document\'s events once, even when their role room would not, and only with read permission', async () => {
    const server = await bridge(`
delivery = "action"
entity_subscriptions_max = 2

[strapi.drafts]
roles = ["authenticated"]

[strapi.permissions.public]
article = ["find"]

[strapi.permissions.authenticated]
article = ["find", "update"]
`);
    try {
      const followed = await createArticle('Followed');
      const other = await createArticle('Other');
      const third = await createArticle('Third');
      // Strapi sends its webhooks after answering: let the six of these creations (a draft row
      // and a published one each) arrive before anyone follows, or one may reach a follower.
      const webhooks = async () =>
        [...(await (await fetch(`${server.url}/metrics`)).text()).matchAll(/^iohost_webhooks_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
      assert.ok(await until(async () => (await webhooks()) >= 6, 10000), 'the creations\' webhooks arrived');
      const reader = await connect(server.url);
      const { jwt } = await strapi.register('editor');
      const editor = await connect(server.url, { auth: { token: jwt } });
      const uid = 'api::article.article';

      const ack = await ask(reader, 'subscribe-entity', { uid, id: followed });
      assert.deepEqual(ack, { success: true, uid, id: followed, room: `${uid}:${followed}` });
      assert.deepEqual(await ask(reader, 'subscribe-entity', { uid, id: followed }), ack, 'again: no duplicate');
      assert.equal((await ask(editor, 'subscribe-entity', { uid, id: followed })).success, true);
      assert.deepEqual(await ask(reader, 'get-entity-subscriptions'), {
        success: true,
        subscriptions: [{ uid, id: followed, room: `${uid}:${followed}` }],
      });
      assert.match((await ask(reader, 'subscribe-entity', { uid: 'api::page.page', id: followed })).error, /role `public` may not read `api::page.page`/);
      assert.match((await ask(reader, 'subscribe-entity', { uid, id: 42 })).error, /documentId/);
      assert.equal((await ask(reader, 'subscribe-entity', { uid, id: other })).success, true);
      assert.deepEqual(await ask(reader, 'subscribe-entity', { uid, id: third }), {
        success: false,
        error: 'this socket already follows 2 entities, the most allowed',
      });
      assert.equal((await ask(reader, 'unsubscribe-entity', { uid, id: other })).success, true);

      const atReader = record(reader);
      const atEditor = record(editor);
      await updateArticle(followed, 'Followed, edited');
      await updateArticle(third, 'Third, edited');
      assert.ok(await until(() => atEditor.filter((e) => e.name === 'article:update').length === 2, 10000));
      await sleep(500);
      // public may only read: through its entity room, only the followed document, every
      // action but the draft's update (public may not read drafts).
      assert.deepEqual(atReader.map((e) => e.name).sort(), ['article:publish']);
      assert.ok(atReader.every((e) => e.payload.data.attributes.documentId === followed));
      // authenticated may update and read drafts: its role room has every update (not
      // publish), once each, the followed document included.
      const editorUpdates = atEditor.filter((e) => e.name === 'article:update').map((e) => e.payload.data.attributes.documentId);
      assert.deepEqual(editorUpdates.sort(), [followed, third].sort());
      assert.ok(!atEditor.some((e) => e.name === 'article:publish' && e.payload.data.attributes.documentId === third));
      assert.equal(atEditor.filter((e) => e.name === 'article:publish').length, 1, 'publish of the followed one, through the entity room');

      await ask(reader, 'unsubscribe-entity', { uid, id: followed });
      atReader.length = 0;
      await updateArticle(followed, 'Followed, again');
      assert.ok(await until(() => atEditor.filter((e) => e.name === 'article:update').length === 3, 10000));
      await sleep(500);
      assert.deepEqual(atReader, [], 'nothing after unsubscribing');
    } finally {
      closeAll();
      await server.stop();
    }
  });
});

describe('the content manager', () => {
  it('a draft never reaches readers; publish and unpublish do, the unpublish as {id, documentId}', async () => {
    const server = await bridge(`
[strapi.permissions.public]
article = ["find"]
`);
    try {
      const reader = await connect(server.url);
      const at = record(reader);
      const base = '/content-manager/collection-types/api::article.article';
      const draft = await strapi.call(base, { method: 'POST', token: strapi.adminToken, body: { title: 'Draft first' } });
      const documentId = draft.data.documentId;
      await server.waitForLog(/article:create was delivered to nobody: it is a draft/, 10000);
      await strapi.call(`${base}/${documentId}/actions/publish`, { method: 'POST', token: strapi.adminToken, body: {} });
      assert.ok(await until(() => at.some((e) => e.name === 'article:publish'), 10000));
      await strapi.call(`${base}/${documentId}/actions/unpublish`, { method: 'POST', token: strapi.adminToken, body: {} });
      assert.ok(await until(() => at.some((e) => e.name === 'article:unpublish'), 10000));
      await sleep(300);
      const forDocument = at.filter((e) => (e.payload.data.attributes ?? e.payload.data).documentId === documentId);
      assert.deepEqual(
        forDocument.map((e) => e.name).filter((n) => n !== 'article:update' && n !== 'article:delete').sort(),
        ['article:publish', 'article:unpublish'],
      );
      assert.ok(!at.some((e) => e.payload.data.attributes?.publishedAt === null), 'no draft');
      const unpublish = at.find((e) => e.name === 'article:unpublish');
      assert.deepEqual(Object.keys(unpublish.payload.data).sort(), ['documentId', 'id']);
    } finally {
      closeAll();
      await server.stop();
    }
  });
});

describe('handlers calling Strapi', () => {
  const user = (id) => strapi.call(`/api/users/${id}`, { token: strapi.apiToken });

  it('the presence handler, granted, keeps the user\'s isOnline and lastSeen', async () => {
    const server = await bridge(`
[handlers.strapi]
allow = ["presence"]
`, { handlers: ['presence'], sidecars: { presence: '[config]\nupdate_strapi = true\n' } });
    try {
      const { jwt, user: ada } = await strapi.register('online-ada');
      assert.equal((await user(ada.id)).isOnline, false);
      const s = await connect(server.url, { auth: { token: jwt } });
      assert.ok(await until(async () => (await user(ada.id)).isOnline === true, 5000), 'online in Strapi');
      const before = Date.now();
      s.close();
      assert.ok(await until(async () => (await user(ada.id)).isOnline === false, 5000), 'offline in Strapi');
      const lastSeen = Date.parse((await user(ada.id)).lastSeen);
      assert.ok(Math.abs(lastSeen - before) < 5000, `lastSeen ${lastSeen} near ${before}`);
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('a granted handler reads Strapi\'s REST API with iohost\'s token and gets Strapi\'s answer', async () => {
    const server = await bridge(`
[handlers.strapi]
allow = ["strapi-probe"]
`, { handlers: ['strapi-probe'] });
    try {
      const documentId = await createArticle('Read by a handler');
      const s = await connect(server.url);
      const answer = await ask(s, 'strapi:get', `/api/articles/${documentId}`);
      assert.equal(answer.status, 200);
      assert.equal(JSON.parse(answer.body).data.title, 'Read by a handler');
      assert.equal((await ask(s, 'strapi:get', '/api/articles/nope')).status, 404, 'Strapi\'s errors come back as they are');
      // Ways out of /api/ are refused before anything is sent (Strapi would answer them).
      for (const trick of ['/api/%2e%2e/admin/users', '/api/x/%2E%2E/%2e%2e/admin', '/api/x%2f..%2f..%2fadmin', '/api/../admin']) {
        const refused = await ask(s, 'strapi:get', trick);
        assert.match(refused.error ?? '', /^bad-request: path .* is refused/, trick);
      }
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('without the grant the handler gets a clear error and Strapi is not touched', async () => {
    const server = await bridge('', { handlers: ['presence'], sidecars: { presence: '[config]\nupdate_strapi = true\n' } });
    try {
      const { jwt, user: bea } = await strapi.register('offline-bea');
      await connect(server.url, { auth: { token: jwt } });
      await server.waitForLog(/handler `presence` may not call Strapi \(grant it with \[handlers.strapi\] allow in iohost.toml\)/);
      assert.equal((await user(bea.id)).isOnline, false);
    } finally {
      closeAll();
      await server.stop();
    }
  });
});

describe('access rules at run time', () => {
  it('a settings change applies to the next connection, without a restart', async () => {
    const server = await bridge(`[api]\nkeys = ["${API_KEY}"]\n`);
    const put = (body) =>
      fetch(`${server.url}/api/v1/settings`, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    try {
      assert.ok((await connect(server.url)).connected);
      assert.equal((await put({ access: { require_auth: true } })).status, 200);
      await assert.rejects(connect(server.url), { message: 'Authentication required' });
      const { jwt } = await strapi.register('settled');
      assert.ok((await connect(server.url, { auth: { token: jwt } })).connected);
      assert.equal((await put({ access: { roles: ['Admin'] } })).status, 400, 'role names are lower case');
      assert.equal((await put({})).status, 200);
      assert.ok((await connect(server.url)).connected, 'back to the config file\'s rules');
    } finally {
      closeAll();
      await server.stop();
    }
  });
});

/** A private certificate authority and a certificate for 127.0.0.1 signed by it (openssl). */
function privateCa() {
  const dir = mkdtempSync(join(tmpdir(), 'iohost-ca-'));
  const f = (name) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=iohost test CA']);
  execFileSync('openssl', ['req', ...ec, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(f('leaf.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  execFileSync('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '1', '-extfile', f('leaf.ext')]);
  return { caFile: f('ca.pem'), key: readFileSync(f('leaf.key')), cert: readFileSync(f('leaf.pem')) };
}

describe('Strapi over https', () => {
  it('users are looked up over TLS, trusting strapi.ca_file; an untrusted certificate is a clear refusal', async () => {
    const ca = privateCa();
    // TLS in front of the real Strapi, as a reverse proxy would put it.
    const target = new URL(strapi.url);
    const tls = createHttpsServer({ key: ca.key, cert: ca.cert }, (req, res) => {
      const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise((r) => tls.listen(0, '127.0.0.1', r));
    const httpsUrl = `https://127.0.0.1:${tls.address().port}`;
    const config = (caLine) => `[strapi]\nurl = "${httpsUrl}"\n${caLine}\njwt_secret = "${strapi.jwtSecret}"\napi_token = "${strapi.apiToken}"\nlookup_timeout_ms = 15000\n`;
    const trusting = await startServer({ config: config(`ca_file = "${ca.caFile}"`) });
    const untrusting = await startServer({ config: config('') });
    try {
      const { jwt, user } = await strapi.register('tls-tess');
      const s = await connect(trusting.url, { auth: { token: jwt } });
      assert.ok((await ask(s, 'get-rooms')).rooms.includes(`user-${user.id}`));
      await assert.rejects(connect(untrusting.url, { auth: { token: jwt } }), { message: 'Authentication is unavailable right now, try again' });
      await untrusting.waitForLog(/cannot reach Strapi to look a user up: .*(certificate|Unknown|issuer)/i);
    } finally {
      closeAll();
      await Promise.all([trusting.stop(), untrusting.stop()]);
      tls.close();
    }
  });
});
