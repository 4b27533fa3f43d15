// The content-event oracle through iohost's Strapi plugin (no webhook at all): the plugin reads
// each change from Strapi's document service and hands iohost, per role and API token, what
// Strapi's own sanitiser makes of it; so every payload a socket receives must EQUAL what
// Strapi's REST API returns that role for the same document with the same populate (the
// webhook path can only reach a subset). Same audience, documents and generated histories as
// strapi/oracle.test.mjs (tests/lib/oracle.mjs); nothing of a draft reaches a role that may not
// read drafts, and live lists end as REST's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { closeAll, collect, connect, until } from '../lib/client.mjs';
import { runOracle } from '../lib/oracle.mjs';
import { freePort, startServer } from '../lib/server.mjs';
import { startStrapi } from '../lib/strapi.mjs';

const KEY = 'plugin-oracle-api-key-0123456789abcdef012345';

/** The populate of tests/lib/oracle.mjs's REST paths, as the plugin's per-type setting. */
const CONTENT_TYPES = [
  {
    uid: 'api::article.article',
    populate: {
      author: true,
      category: true,
      cover: true,
      seo: { populate: { ogImage: true } },
      links: { populate: { category: true } },
      blocks: { on: { 'shared.quote': { populate: { by: true } }, 'shared.link': { populate: { category: true } } } },
    },
  },
  'api::category.category',
  { uid: 'api::order.order', populate: { customer: true } },
  // Users too (the plugin sends them only when listed).
  { uid: 'plugin::users-permissions.user', populate: { role: true } },
];

/** Content events per kind of change through the plugin: one per document action (users
 * included, as they are listed), none for uploads (not listed). */
const PLUGIN_EVENTS = {
  user: 1, category: 1, file: 0, order: 1, 'order-delete': 1,
  'create-published': 2, 'create-draft': 1, 'edit-draft': 1, publish: 2, 'edit-and-publish': 2,
  unpublish: 1, discard: 1, 'delete-published': 1, 'delete-draft': 1,
};

let strapi;
let iohost;
let editorRole;

before(async () => {
  const port = await freePort();
  strapi = await startStrapi({
    env: { IOHOST_URL: `http://127.0.0.1:${port}`, IOHOST_API_KEY: KEY, IOHOST_CONTENT_TYPES: JSON.stringify(CONTENT_TYPES) },
  });
  const read = ['find', 'findOne'];
  const on = (uid, verbs = read) => verbs.map((v) => `${uid}.${v}`);
  const upload = on('plugin::upload.content-api');
  await strapi.permit('public', [...on('api::article.article'), ...on('api::category.category'), ...upload]);
  await strapi.permit('authenticated', [...on('api::article.article'), ...on('api::order.order'), ...on('plugin::users-permissions.user')]);
  editorRole = await strapi.role('Editor', [...on('api::article.article'), ...on('api::category.category'), ...on('plugin::users-permissions.user'), ...upload]);
  iohost = await startServer({
    port,
    config: `
[api]
keys = ["${KEY}"]

${strapi.iohostSection('payload = "flat"\nidentity_cache_ms = 60000\nrefresh_ms = 1000')}

[strapi.drafts]
roles = ["editor", "token:oracle-full"]
`,
  });
});

after(async () => {
  closeAll();
  await iohost?.stop();
  await strapi?.stop();
});

/** Plugin content events iohost has taken so far (every result). */
async function pluginEventsSeen() {
  const text = await (await fetch(`${iohost.url}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^iohost_webhooks_total\{[^}]*event="plugin"[^}]*\} (\d+)$/gm)) total += Number(m[1]);
  return total;
}

describe('content events through the plugin against Strapi\'s REST API (oracle)', () => {
  it('every payload equals what REST shows that role; no draft leaks; live lists end equal', async () => {
    await runOracle({
      name: 'plugin',
      strapi,
      iohostUrl: iohost.url,
      fullToken: strapi.apiToken,
      editorRole,
      counts: PLUGIN_EVENTS,
      seen: pluginEventsSeen,
      compare: (payload, rest, where) => assert.deepEqual(payload, rest, where),
    });
  });

  it('a user deleted through the users-permissions API (below the document service) is one user:delete; one deleted in the admin panel is one too', async () => {
    const reader = await strapi.register(`reader-${process.pid}`);
    const socket = await connect(iohost.url, { auth: { token: reader.jwt } });
    const deleted = collect(socket, 'user:delete');
    const created = collect(socket, 'user:create');
    // Public may not read users through REST: it gets none of their events.
    const guest = await connect(iohost.url);
    const guestHears = [];
    guest.onAny((name) => name.startsWith('user:') && guestHears.push(name));
    const gone = await strapi.register(`gone-api-${process.pid}`);
    const alsoGone = await strapi.register(`gone-admin-${process.pid}`);
    const res = await fetch(`${strapi.url}/api/users/${gone.user.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${strapi.apiToken}` } });
    assert.equal(res.status, 200, await res.text());
    await strapi.call(`/content-manager/collection-types/plugin::users-permissions.user/${alsoGone.user.documentId}`, { method: 'DELETE', token: strapi.adminToken });
    // Written after the deletes, so it arrives after them: the barrier for a repeat.
    const last = await strapi.register(`barrier-${process.pid}`);
    assert.ok(await until(() => created.some((p) => p.data.documentId === last.user.documentId), 10000), 'the barrier arrives');
    assert.deepEqual(
      deleted.map((p) => p.data),
      [
        { id: gone.user.id, documentId: gone.user.documentId },
        { id: alsoGone.user.id, documentId: alsoGone.user.documentId },
      ],
    );
    assert.deepEqual(guestHears, [], 'Public, which REST shows no users, hears of none');
  });
});
