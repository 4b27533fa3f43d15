// The Strapi webhook receiver, driven with the bodies Strapi 5.54 sends (captured in the
// reference notes): secret, parsing, permissions per role, field filtering, payload shapes and
// de-duplication, checked by what socket.io-client receives. End-to-end tests against a running
// Strapi come with Strapi authentication.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect } from '../lib/client.mjs';
import { once, sleep, startServer } from '../lib/server.mjs';

const SECRET = 'webhook-secret-0123456789';
const published = {
  event: 'entry.publish',
  createdAt: '2026-11-25T19:00:02.956Z',
  model: 'article',
  uid: 'api::article.article',
  entry: {
    id: 2, documentId: 'cwcb8wu1eapp985jh5w0p9pu', title: 'Hello', description: 'first',
    internalNotes: 'never leaves', createdAt: '2026-11-25T19:00:02.924Z',
    updatedAt: '2026-11-25T19:00:02.924Z', publishedAt: '2026-11-25T19:00:02.927Z',
  },
};
let n = 0;
/** The same kind of notification, made unique (Strapi stamps each one with createdAt). */
const notice = (event, extra = {}) => ({ ...published, event, createdAt: `2026-11-25T19:00:${String(n++).padStart(2, '0')}.000Z`, ...extra });

async function startWith(strapi) {
  return startServer({ config: `[strapi]\nwebhook_secret = "${SECRET}"\n${strapi}` });
}

function post(server, body, { secret = SECRET, raw } = {}) {
  return fetch(`${server.url}/strapi/webhook`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'x-strapi-event': body?.event ?? '', ...(secret ? { Authorization: `Bearer ${secret}` } : {}) },
    body: raw ?? JSON.stringify(body),
  });
}


describe('webhook receiver', () => {
  let server;
  before(async () => {
    server = await startWith(`
[strapi.permissions.public]
article = ["find"]

[strapi.fields.article]
deny = ["internalNotes"]
[strapi.fields.article.roles.public]
allow = ["title", "description", "publishedAt"]
`);
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  it('refuses a missing or wrong secret with 401 and emits nothing', async () => {
    const s = await connect(server.url);
    const got = collect(s, 'article:publish');
    for (const secret of [null, 'wrong-secret-0123456789']) {
      const res = await post(server, notice('entry.publish'), { secret });
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error.code, 'unauthorized');
    }
    await ask(s, 'get-rooms');
    assert.deepEqual(got, []);
    await server.waitForLog(/refused a webhook: missing or wrong secret/);
    assert.ok(!server.logs().includes(SECRET), 'the secret is never logged');
  });

  it('delivers <model>:<action> in the plugin shape, with only the fields the role may see', async () => {
    const s = await connect(server.url);
    const got = once(s, 'article:publish');
    const res = await post(server, notice('entry.publish'));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { success: true, event: 'article:publish', rooms: ['io-role-public'] });
    assert.deepEqual(await got, {
      data: {
        id: 2,
        attributes: { documentId: 'cwcb8wu1eapp985jh5w0p9pu', title: 'Hello', description: 'first', publishedAt: '2026-11-25T19:00:02.927Z' },
      },
      meta: {},
    });
  });

  it('sends deletes and unpublishes as {data: {id, documentId}} and every action under the find rule', async () => {
    const s = await connect(server.url);
    for (const action of ['create', 'update', 'unpublish', 'delete']) {
      const got = once(s, `article:${action}`);
      assert.equal((await post(server, notice(`entry.${action}`))).status, 200);
      const payload = await got;
      if (action === 'delete' || action === 'unpublish') assert.deepEqual(payload, { data: { id: 2, documentId: 'cwcb8wu1eapp985jh5w0p9pu' } });
      else assert.equal(payload.data.attributes.title, 'Hello');
    }
  });

  it('never sends a draft (publishedAt null) to a role that may not read drafts', async () => {
    const s = await connect(server.url);
    const got = collect(s, 'article:update');
    const draft = notice('entry.update', { entry: { ...published.entry, id: 1, title: 'Unpublished edit', publishedAt: null } });
    const res = await post(server, draft);
    assert.deepEqual((await res.json()).rooms, []);
    const undated = notice('entry.update', { entry: { id: 1, documentId: 'x', title: 'No publishedAt' } });
    assert.deepEqual((await (await post(server, undated)).json()).rooms, [], 'without a schema, not published means draft');
    await ask(s, 'get-rooms');
    assert.deepEqual(got, []);
    await server.waitForLog(/article:update was delivered to nobody: it is a draft, and no role that may read article may read drafts/);
  });

  it('without Strapi\'s schemas only the document\'s own single values leave', async () => {
    const s = await connect(server.url);
    const got = once(s, 'article:publish');
    const nested = { ...published.entry, description: { html: '<b>' }, author: { id: 1, email: 'a@example.com' } };
    await post(server, notice('entry.publish', { entry: nested }));
    const { data } = await got;
    assert.deepEqual(Object.keys(data.attributes).sort(), ['documentId', 'publishedAt', 'title']);
    await server.waitForLog(/Strapi's content types are not known/);
  });

  it('delivers the same notification once, also when posted in parallel', async () => {
    const s = await connect(server.url);
    const got = collect(s, 'article:update');
    const body = notice('entry.update');
    const results = await Promise.all(Array.from({ length: 5 }, () => post(server, body).then((r) => r.json())));
    assert.equal(results.filter((r) => r.duplicate).length, 4);
    const distinct = Array.from({ length: 5 }, () => notice('entry.update'));
    await Promise.all(distinct.map((b) => post(server, b)));
    await sleep(200);
    await ask(s, 'get-rooms');
    assert.equal(got.length, 6);
  });

  it('answers trigger-test, and refuses bad bodies with the reason', async () => {
    assert.deepEqual(await (await post(server, { event: 'trigger-test', createdAt: 'now' })).json(), { success: true, test: true });
    for (const [body, code, pattern] of [
      [{ event: 'entry.explode', model: 'article', entry: { id: 1 } }, 'unknown_event', /unknown event `entry.explode`/],
      [{ event: 'entry.create', entry: { id: 1 } }, 'bad_request', /`model` is missing/],
      [{ event: 'entry.create', model: 'article' }, 'bad_request', /`entry` is missing/],
      [{ event: 'entry.create', model: '../x', entry: { id: 1 } }, 'bad_request', /singular name/],
      [{ model: 'article' }, 'bad_request', /not a Strapi webhook/],
    ]) {
      const res = await post(server, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      const { error } = await res.json();
      assert.equal(error.code, code);
      assert.match(error.message, pattern);
    }
    const res = await post(server, null, { raw: '{"event": ' });
    assert.equal(res.status, 400);
  });

  it('does not deliver content types the role has no permission on', async () => {
    const s = await connect(server.url);
    const got = collect(s, 'order:create');
    const res = await post(server, notice('entry.create', { model: 'order', uid: 'api::order.order' }));
    assert.deepEqual((await res.json()).rooms, []);
    await ask(s, 'get-rooms');
    assert.deepEqual(got, []);
  });
});

describe('other rules', () => {
  it('the action rule (the plugin\'s): create permission receives only :create; deletes are checked too', async () => {
    // A role must be able to read a type to receive anything of it: `find` as well.
    const server = await startWith(`delivery = "action"\n[strapi.permissions.public]\narticle = ["find", "create"]\n`);
    try {
      const s = await connect(server.url);
      const updates = collect(s, 'article:update');
      const deletes = collect(s, 'article:delete');
      const created = once(s, 'article:create');
      await post(server, notice('entry.update'));
      await post(server, notice('entry.delete'));
      await post(server, notice('entry.create'));
      assert.equal((await created).data.id, 2);
      assert.deepEqual(updates, []);
      assert.deepEqual(deletes, []);
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('the flat shape sends Strapi 5\'s entry as is (minus denied fields)', async () => {
    const server = await startWith(`payload = "flat"\n[strapi.permissions.public]\narticle = ["find"]\n[strapi.fields.article]\ndeny = ["internalNotes"]\n`);
    try {
      const s = await connect(server.url);
      const got = once(s, 'article:publish');
      await post(server, notice('entry.publish'));
      const { data, meta } = await got;
      assert.deepEqual(meta, {});
      assert.equal(data.title, 'Hello');
      assert.equal(data.documentId, 'cwcb8wu1eapp985jh5w0p9pu');
      assert.ok(!('internalNotes' in data));
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('answers 503 while no secret is configured', async () => {
    const server = await startServer();
    try {
      const res = await post(server, notice('entry.create'));
      assert.equal(res.status, 503);
      assert.equal((await res.json()).error.code, 'not_configured');
    } finally {
      await server.stop();
    }
  });
});
