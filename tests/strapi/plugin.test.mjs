// iohost's Strapi plugin (strapi-plugin/, installed into the test app from this repository):
// the usage guide's backend code, copied as written into tests/strapi/app (src/api/notification,
// chat, document, src/guide/), calls `strapi.$io` and the `monitoring` service unchanged; the
// plugin turns those calls into iohost API calls, and real socket.io-client sockets connected
// to iohost get what the guide says they get.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { binary, freePort, startServer } from '../lib/server.mjs';
import { startStrapi } from '../lib/strapi.mjs';

const KEY = 'plugin-test-api-key-0123456789abcdef0123456789ab';
let strapi;
let iohost;

before(async () => {
  const port = await freePort();
  strapi = await startStrapi({ env: { IOHOST_URL: `http://127.0.0.1:${port}`, IOHOST_API_KEY: KEY, IOHOST_GUIDE: '1' } });
  await strapi.permit('authenticated', [
    'api::chat.chat.send',
    'api::chat.chat.listRooms',
    'api::document.document.startEditing',
    'api::document.document.broadcastChange',
  ]);
  iohost = await startServer({
    port,
    config: `
[server]
namespaces = ["/admin"]

[api]
keys = ["${KEY}"]

${strapi.iohostSection()}
`,
  });
});
after(async () => {
  closeAll();
  await iohost?.stop();
  await strapi?.stop();
});

/** A Strapi user and a socket connected to iohost with their JWT, as the guide's frontend. */
async function user(name) {
  const { jwt, user } = await strapi.register(`${name}-${process.pid}`);
  const socket = await connect(iohost.url, { auth: { token: jwt } });
  return { jwt, user, socket };
}

/** iohost's live event log (the admin page's): the entries recorded while it is open. */
async function watchLog() {
  const controller = new AbortController();
  const res = await fetch(`${iohost.url}/api/v1/live?interval_ms=60000`, { headers: { Authorization: `Bearer ${KEY}` }, signal: controller.signal });
  assert.equal(res.status, 200);
  const entries = [];
  (async () => {
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += Buffer.from(chunk).toString();
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: ?(.*)$/m.exec(message)?.[1];
        if (/^event: event$/m.test(message) && data) entries.push(JSON.parse(data));
      }
    }
  })().catch(() => {});
  return { entries, close: () => controller.abort() };
}

/** Calls Strapi's REST API as `token` (a user's JWT, or the full-access API token). */
async function rest(path, { method = 'GET', body, token = strapi.apiToken } = {}) {
  const res = await fetch(`${strapi.url}/api${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path} -> ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The monitoring service's synchronous answer lists `socket` (its mirror has caught up). */
const mirrored = (socket) =>
  until(async () => (await (await fetch(`${strapi.url}/api/io-probe/connection-stats`)).json()).sockets.some((s) => s.id === socket.id), 10000);

describe('the usage guide\'s backend code through iohost\'s plugin', () => {
  it('use case 2: the notification controller finds the user\'s socket and sends it the notification', async () => {
    const alice = await user('alice2');
    assert.equal((await ask(alice.socket, 'join-room', `user-${alice.user.id}`)).success, true);
    const notifications = collect(alice.socket, 'notification');
    const created = await rest('/notifications', { method: 'POST', body: { userId: alice.user.id, message: 'Your order shipped', type: 'info' } });
    assert.ok(await until(() => notifications.length === 1, 5000), 'the notification arrives');
    assert.equal(notifications[0].id, created.id);
    assert.equal(notifications[0].message, 'Your order shipped');
    assert.equal(notifications[0].type, 'info');
  });

  it('use case 3: the chat controller\'s strapi.$io.server.to(room).emit reaches the room\'s members', async () => {
    const alice = await user('alice3');
    const bob = await user('bob3');
    const outsider = await user('carol3');
    for (const s of [alice.socket, bob.socket]) assert.equal((await ask(s, 'join-room', 'chat-room-5')).success, true);
    assert.equal((await ask(outsider.socket, 'join-room', `user-${outsider.user.id}`)).success, true);
    const outsiderNotes = collect(outsider.socket, 'notification');
    const got = [alice, bob, outsider].map((u) => collect(u.socket, 'chat:message'));
    const answer = await rest('/chat/send', { method: 'POST', token: alice.jwt, body: { roomId: 5, message: 'hello room' } });
    assert.equal(answer.success, true);
    assert.ok(await until(() => got[0].length === 1 && got[1].length === 1, 5000), 'both members get the message');
    assert.equal(got[0][0].content, 'hello room');
    assert.deepEqual(got[0][0].author, { id: alice.user.id, username: alice.user.username });
    // The outsider is not in the room: a notification sent to it after the message arrives,
    // and the message did not come before it.
    await rest('/notifications', { method: 'POST', body: { userId: outsider.user.id, message: 'later', type: 'y' } });
    assert.ok(await until(() => outsiderNotes.length === 1, 5000));
    assert.deepEqual(got[2], []);
  });

  it('use case 4: the bootstrap cron sends dashboard stats to the /admin namespace with getConnectionStats() figures', async () => {
    const { jwt } = await strapi.register(`dash-${process.pid}`);
    const dashboard = await connect(`${iohost.url}/admin`, { auth: { token: jwt } });
    const stats = collect(dashboard, 'dashboard:stats');
    // The cron fires every 5 s.
    assert.ok(await until(() => stats.length >= 1, 12000), 'dashboard:stats arrives');
    const last = stats.at(-1);
    assert.equal(typeof last.connections.active, 'number');
    assert.equal(typeof last.connections.rooms, 'number');
    assert.equal(typeof last.metrics.users, 'number');
    assert.ok(last.metrics.users >= 1);
  });

  it('use case 5: startEditing joins the editor\'s socket to the document room; broadcastChange skips its author', async () => {
    const alice = await user('alice5');
    const bob = await user('bob5');
    const documentId = `doc-${process.pid}`;
    const joined = collect(alice.socket, 'editor:joined');
    const changes = { alice: collect(alice.socket, 'document:change'), bob: collect(bob.socket, 'document:change') };
    for (const u of [alice, bob]) assert.ok(await mirrored(u.socket), 'the plugin\'s mirror lists the socket');

    const first = await rest(`/documents/${documentId}/start-editing`, { method: 'POST', token: alice.jwt });
    assert.deepEqual(first.activeEditors.map((u) => u.id), [alice.user.id]);
    const second = await rest(`/documents/${documentId}/start-editing`, { method: 'POST', token: bob.jwt });
    assert.deepEqual(second.activeEditors.map((u) => u.id).sort(), [alice.user.id, bob.user.id].sort());
    // joinRoom was not awaited by the controller; its emit right after still found the socket
    // in the room (the plugin sends calls in order).
    assert.ok(await until(() => joined.length === 2, 5000), 'alice hears both editors join');
    assert.deepEqual(joined.map((j) => j.userId), [alice.user.id, bob.user.id]);

    const sent = await rest('/documents/change', { method: 'POST', token: alice.jwt, body: { documentId, changes: [{ op: 'insert', at: 3, text: 'x' }] } });
    assert.equal(sent.success, true);
    assert.ok(await until(() => changes.bob.length === 1, 5000), 'the other editor gets the change');
    assert.deepEqual(changes.bob[0].changes, [{ op: 'insert', at: 3, text: 'x' }]);
    assert.equal(changes.bob[0].author.id, alice.user.id);
    assert.deepEqual(changes.alice, [], 'its author does not');
  });

  it('use case 6: the order lifecycle tells the customer about a status change', async () => {
    const customer = await user('cust6');
    assert.equal((await ask(customer.socket, 'join-room', `user-${customer.user.id}`)).success, true);
    const updates = collect(customer.socket, 'order:status-update');
    const order = await rest('/orders', { method: 'POST', body: { data: { orderNumber: `A-${process.pid}`, customer: customer.user.documentId } } });
    await rest(`/orders/${order.data.documentId}?populate=customer`, { method: 'PUT', body: { data: { status: 'shipped' } } });
    assert.ok(await until(() => updates.length === 1, 5000), 'the customer gets the status update');
    assert.equal(updates[0].status, 'shipped');
    assert.equal(updates[0].statusMessage, 'Your order is on its way!');
  });

  it('pattern 3: premium users found through getConnectionStats() get the premium notification', async () => {
    const premium = await user('prem');
    const regular = await user('reg');
    assert.equal((await ask(regular.socket, 'join-room', `user-${regular.user.id}`)).success, true);
    const regularNotes = collect(regular.socket, 'notification');
    await strapi.call(`/content-manager/collection-types/plugin::users-permissions.user/${premium.user.documentId}`, {
      method: 'PUT',
      token: strapi.adminToken,
      body: { isPremium: true },
    });
    const got = [premium, regular].map((u) => collect(u.socket, 'premium:notification'));
    for (const u of [premium, regular]) assert.ok(await mirrored(u.socket));
    await rest('/io-probe/premium', { method: 'POST', body: { message: 'early access' } });
    assert.ok(await until(() => got[0].length === 1, 5000), 'the premium user is notified');
    assert.equal(got[0][0].message, 'early access');
    assert.equal(got[0][0].type, 'exclusive');
    // The regular user gets a later notification, and nothing before it.
    await rest('/notifications', { method: 'POST', body: { userId: regular.user.id, message: 'later', type: 'y' } });
    assert.ok(await until(() => regularNotes.length === 1, 5000));
    assert.deepEqual(got[1], [], 'the regular user is not notified');
  });

  it('pattern 1: user:online marks the user online in Strapi and tells the others; disconnecting marks them offline', async () => {
    // The plugin reads iohost's relay stream (it retries with backoff until iohost is up).
    assert.ok(await until(() => strapi.relaying(iohost.url), 20000), 'the plugin streams from iohost');
    const alice = await user('alice');
    const bob = await user('bob');
    const bobHears = collect(bob.socket, 'friend:online');
    const aliceHears = collect(alice.socket, 'friend:online');
    // Emitted at once after connecting: the event waits for Strapi's listeners of this socket.
    const log = await watchLog();
    alice.socket.emit('user:online');
    assert.ok(await until(() => bobHears.length === 1, 5000), 'bob hears that alice is online');
    // The live log says who took it: a listener in Strapi, not "no handler".
    assert.ok(await until(() => log.entries.some((e) => e.event === 'user:online'), 5000));
    assert.deepEqual(
      log.entries.filter((e) => e.event === 'user:online').map(({ socket, outcome, detail }) => ({ socket, outcome, detail })),
      [{ socket: alice.socket.id, outcome: 'strapi', detail: null }],
    );
    log.close();
    assert.deepEqual(bobHears[0], { userId: alice.user.id, username: alice.user.username });
    const stored = async () =>
      (await strapi.call(`/content-manager/collection-types/plugin::users-permissions.user/${alice.user.documentId}`, { token: strapi.adminToken })).data;
    assert.ok(await until(async () => (await stored()).isOnline === true, 5000), 'Strapi has alice online');
    const online = await stored();
    assert.ok(Date.now() - Date.parse(online.lastSeen) < 60000, `lastSeen is now: ${online.lastSeen}`);
    assert.deepEqual(aliceHears, [], 'socket.broadcast leaves out alice herself');

    alice.socket.disconnect();
    assert.ok(await until(async () => (await stored()).isOnline === false, 5000), 'Strapi has alice offline after she disconnects');
    // A socket without a user: the listener does nothing, and nothing fails.
    const guest = await connect(iohost.url);
    const errors = collect(guest, 'error');
    guest.emit('user:online');
    assert.deepEqual(await ask(guest, 'get-rooms'), { success: true, rooms: ['io-role-public'] });
    assert.deepEqual(errors, []);
    assert.equal(bobHears.length, 1, 'nobody hears of a guest');
  });

  it('pattern 2: socket.use refuses the 61st event within a minute with the middleware\'s message; other sockets are not limited', async () => {
    const busy = await connect(iohost.url);
    const log = await watchLog();
    const answers = [];
    for (let i = 0; i < 61; i++) answers.push(await ask(busy, 'get-rooms'));
    assert.deepEqual(answers.slice(0, 60).map((a) => a.success), Array(60).fill(true), 'the first 60 events pass');
    assert.deepEqual(answers[60], { success: false, error: 'Rate limit exceeded' });
    // The live log: 60 built-in answers, then socket.use's refusal with its message.
    assert.ok(await until(() => log.entries.filter((e) => e.socket === busy.id).length === 61, 5000));
    const outcomes = log.entries.filter((e) => e.socket === busy.id).map((e) => `${e.outcome}${e.detail ? `: ${e.detail}` : ''}`);
    assert.deepEqual(outcomes, [...Array(60).fill('built-in'), 'rejected: Rate limit exceeded']);
    log.close();
    // Without an ack the refusal is an `error` event naming the event.
    const errors = collect(busy, 'error');
    busy.emit('join-room', 'limited');
    assert.ok(await until(() => errors.length === 1, 5000));
    assert.deepEqual(errors[0], { event: 'join-room', error: 'Rate limit exceeded' });
    assert.deepEqual(await ask(busy, 'get-rooms'), { success: false, error: 'Rate limit exceeded' }, 'the room was not joined either');
    const calm = await connect(iohost.url);
    assert.deepEqual(await ask(calm, 'get-rooms'), { success: true, rooms: ['io-role-public'] });
  });

  // Last: setup regenerates the `iohost` API token the iohost above uses.
  it('iohost strapi setup --plugin: no webhook, an API key for the plugin, and the lines to add to Strapi', async () => {
    await strapi.webhook(`${iohost.url}/strapi/webhook`, 'an-old-secret', 'iohost');
    const configFile = join(mkdtempSync(join(tmpdir(), 'iohost-setup-plugin-')), 'iohost.toml');
    writeFileSync(configFile, '');
    const setup = () =>
      promisify(execFile)(binary, ['--config', configFile, 'strapi', 'setup', '--plugin', '--strapi-url', strapi.url, '--public-url', 'http://10.0.0.5:1338'], {
        env: { ...process.env, STRAPI_ADMIN_EMAIL: strapi.admin.email, STRAPI_ADMIN_PASSWORD: strapi.admin.password },
      });
    const first = (await setup()).stdout;
    assert.match(first, /Strapi webhook `iohost` deleted/);
    assert.match(first, /wrote a new API key for the plugin to api\.keys/);
    assert.match(first, /npm install <iohost>\/strapi-plugin/);
    assert.match(first, /config\/plugins\.js: io: \{ enabled: true, config: \{ url: env\('IOHOST_URL'\), apiKey: env\('IOHOST_API_KEY'\) \} \}/);
    assert.match(first, /IOHOST_URL=http:\/\/10\.0\.0\.5:1338/);
    const written = readFileSync(configFile, 'utf8');
    const key = /keys = \["([0-9a-f]{64})"\]/.exec(written)?.[1];
    assert.ok(key, written);
    assert.ok(!first.includes(key), 'the key is not printed');
    assert.doesNotMatch(written, /webhook_secret/);
    assert.equal(statSync(configFile).mode & 0o777, 0o600);
    const hooks = await strapi.call('/admin/webhooks', { token: strapi.adminToken });
    assert.ok(!hooks.data.some((h) => h.name === 'iohost'), 'no webhook would send changes a second time');

    const second = (await setup()).stdout;
    assert.doesNotMatch(second, /webhook/i);
    assert.doesNotMatch(second, /new API key/);
    assert.equal(/keys = \["([0-9a-f]{64})"\]/.exec(readFileSync(configFile, 'utf8'))?.[1], key, 'the key is kept');
  });
});
