// Content handlers (`on-content`, the 0.1.1 content-handler world) see each audience's content
// event before delivery and may drop it, narrow it to some rooms or change its data, never
// widen it: the example `order-router` sends order events only to the order's followers with a
// status label, and drops deletions. A failing content handler drops the event under
// fail_closed and lets it through unchanged under fail_open. Driven through the webhook with
// the bodies Strapi sends (tests/strapi has the same against a real Strapi).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect } from '../lib/client.mjs';
import { once, startServer } from '../lib/server.mjs';

const SECRET = 'content-handler-secret-0123456789';
const PERMISSIONS = `
[strapi]
webhook_secret = "${SECRET}"
[strapi.permissions.public]
article = ["find"]
order = ["find"]
fault = ["find"]
[strapi.fields.order]
deny = ["notes"]
[handlers.content]
allow = ["order-router", "faults"]
`;
let n = 0;
function post(server, event, model, entry) {
  const body = { event, createdAt: `2026-12-03T10:00:${String(n++).padStart(2, '0')}.000Z`, model, uid: `api::${model}.${model}`, entry };
  return fetch(`${server.url}/strapi/webhook`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${SECRET}` },
    body: JSON.stringify(body),
  }).then((res) => res.json());
}
// Without Strapi's schema iohost counts any row without publishedAt as a draft.
const order = (number, status, id = 7) => ({ id, documentId: `doc-${number}`, orderNumber: number, status, notes: 'private', createdAt: '2026-12-03T10:00:00.000Z', updatedAt: '2026-12-03T10:00:00.000Z', publishedAt: '2026-12-03T10:00:00.000Z' });
const article = { id: 1, documentId: 'art1', title: 'Barrier', publishedAt: '2026-12-03T10:00:00.000Z' };

/** Posts an article every socket receives: what was sent before it has arrived. */
async function barrier(server, sockets) {
  const arrived = sockets.map((s) => once(s, 'article:publish'));
  await post(server, 'entry.publish', 'article', article);
  await Promise.all(arrived);
}

async function socketIn(server, room) {
  const s = await connect(server.url);
  if (room) assert.equal((await ask(s, 'join-room', room)).success, true);
  return s;
}

describe('a content handler (order-router)', () => {
  let server;
  before(async () => {
    server = await startServer({ config: PERMISSIONS, handlers: ['order-router'] });
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  it('narrows an order event to the order\'s followers and adds a label to what they may read', async () => {
    const follower = await socketIn(server, 'order-A-1');
    const otherOrder = await socketIn(server, 'order-B-2');
    const nobody = await socketIn(server);
    const got = [follower, otherOrder, nobody].map((s) => collect(s, 'order:update'));
    const answer = await post(server, 'entry.update', 'order', order('A-1', 'paid'));
    assert.deepEqual(answer, { success: true, event: 'order:update', rooms: ['io-role-public'] });
    await barrier(server, [follower, otherOrder, nobody]);
    const { id, notes, ...readable } = order('A-1', 'paid');
    assert.equal(notes, 'private');
    // The plugin's (v4) shape, with the handler's label beside the fields Public may read.
    assert.deepEqual(got, [[{ data: { id, attributes: { ...readable, statusLabel: 'Paid' } }, meta: {} }], [], []]);
  });

  it('drops what it drops for everyone, and passes other types unchanged', async () => {
    const follower = await socketIn(server, 'order-A-1');
    const deletes = collect(follower, 'order:delete');
    const answer = await post(server, 'entry.delete', 'order', order('A-1', 'paid'));
    assert.deepEqual(answer, { success: true, event: 'order:delete', rooms: [] });
    const published = once(follower, 'article:publish');
    await post(server, 'entry.publish', 'article', article);
    assert.deepEqual((await published).data.attributes.title, 'Barrier', 'articles pass unchanged');
    assert.deepEqual(deletes, []);
  });

  it('cannot widen: sockets outside the audience\'s room never get it, whatever rooms it names', async () => {
    // Only admins (a role nobody here has) may read orders on this server: the handler is not
    // even asked for Public, and a Public follower of the order gets nothing.
    const narrow = await startServer({
      config: PERMISSIONS.replace('order = ["find"]\n', '') + '[strapi.permissions.admin]\norder = ["find"]\n',
      handlers: ['order-router'],
    });
    try {
      const follower = await socketIn(narrow, 'order-A-1');
      const got = collect(follower, 'order:update');
      const answer = await post(narrow, 'entry.update', 'order', order('A-1', 'paid'));
      // Admins were asked about (no admin follows the order, so none got it); Public never.
      assert.deepEqual(answer.rooms, []);
      await narrow.waitForLog(/order:update was delivered to nobody: content handlers \(\[handlers.content\]\) dropped it, or narrowed it to rooms nobody of its audience is in/);
      await barrier(narrow, [follower]);
      assert.deepEqual(got, []);
    } finally {
      await narrow.stop();
    }
  });
});

describe('a content handler the operator did not grant', () => {
  it('is loaded but never shown content: events go out as iohost shaped them, and a warning says why', async () => {
    const server = await startServer({ config: PERMISSIONS.replace('allow = ["order-router", "faults"]', 'allow = []'), handlers: ['order-router'] });
    try {
      await server.waitForLog(/exports on-content but is not granted content events \(\[handlers.content\] allow\): it will not see them handler=order-router/);
      const anyone = await socketIn(server);
      const got = once(anyone, 'order:delete');
      await post(server, 'entry.delete', 'order', order('A-1', 'paid'));
      assert.deepEqual(await got, { data: { id: 7, documentId: 'doc-A-1' } }, 'not dropped, not narrowed');
    } finally {
      closeAll();
      await server.stop();
    }
  });
});

describe('a content handler that fails', () => {
  for (const [policy, delivered] of [['fail_closed', false], ['fail_open', true]]) {
    it(`${policy}: the event is ${delivered ? 'delivered unchanged' : 'dropped'}, and the fault is logged`, async () => {
      const server = await startServer({
        config: `${PERMISSIONS}\n[handlers.failure]\ndisable_after = 0\non_fault = "${policy}"\n`,
        handlers: ['faults', 'order-router'],
      });
      try {
        const s = await socketIn(server, 'order-A-1');
        const faults = collect(s, 'fault:update');
        await post(server, 'entry.update', 'fault', { id: 1, documentId: 'f1', title: 'boom', publishedAt: article.publishedAt });
        // Other content handlers still run: the order event goes through order-router.
        const orders = collect(s, 'order:update');
        await post(server, 'entry.update', 'order', order('A-1', 'shipped'));
        await barrier(server, [s]);
        const unchanged = { data: { id: 1, attributes: { documentId: 'f1', title: 'boom', publishedAt: article.publishedAt } }, meta: {} };
        assert.deepEqual(faults, delivered ? [unchanged] : []);
        assert.equal(orders.length, 1);
        assert.equal(orders[0].data.attributes.statusLabel, 'On its way');
        await server.waitForLog(/handler `faults` failed: .*(unreachable|panic)/);
      } finally {
        closeAll();
        await server.stop();
      }
    });
  }
});
