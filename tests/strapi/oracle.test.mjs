// The content-event oracle: against a real Strapi 5.54, every payload a socket of a role
// receives is a subset (same keys, same values, at every depth) of what Strapi's own REST API
// returns that role for the same document, deep-populated; nothing of a draft reaches a role
// that may not read drafts; and a client keeping a live list from the events ends with exactly
// what `GET /api/articles` returns it.
//
// Strapi is set up as a site would be: Public may read articles, categories and media; the
// Authenticated role articles, orders and users; a custom Editor role articles, categories,
// users and media, and reads drafts through iohost's [strapi.drafts]; three API tokens (read
// only, custom on articles only, full access). iohost is configured by `iohost strapi setup`
// and follows Strapi's own permissions: no [strapi.permissions] at all. The documents and the
// actions on them (create as draft or published, edit the draft, publish, edit-and-publish,
// unpublish, discard the draft, delete) are generated from a seed (ORACLE_SEED to replay).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { closeAll, connect, until } from '../lib/client.mjs';
import { binary, freePort, sleep, startServer } from '../lib/server.mjs';
import { startStrapi } from '../lib/strapi.mjs';

const SEED = Number(process.env.ORACLE_SEED ?? 20261202);
const ARTICLES = Number(process.env.ORACLE_ARTICLES ?? 10);

/** A small seeded generator (mulberry32), so a failing run can be replayed. */
function random(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (list) => list[Math.floor(next() * list.length)],
    chance: (p) => next() < p,
  };
}

const DEEP = [
  'populate[author]=true',
  'populate[category]=true',
  'populate[cover]=true',
  'populate[seo][populate][ogImage]=true',
  'populate[links][populate][category]=true',
  'populate[blocks][on][shared.quote][populate][by]=true',
  'populate[blocks][on][shared.link][populate][category]=true',
].join('&');

/** Where Strapi's REST API shows one document of each type (deep-populated). */
const REST = {
  article: (id, draft) => `/api/articles/${id}?${DEEP}${draft ? '&status=draft' : ''}`,
  category: (id) => `/api/categories/${id}`,
  order: (id) => `/api/orders/${id}?populate[customer]=true`,
  user: (_documentId, _draft, data) => `/api/users/${data.id}?populate[role]=true`,
  media: (_documentId, _draft, data) => `/api/upload/files/${data.id}`,
};

/** `part` is within `whole`: every key with the same value, at every depth. */
function subset(part, whole, path = 'data') {
  if (part !== null && typeof part === 'object') {
    assert.ok(whole !== null && typeof whole === 'object', `${path}: REST has ${JSON.stringify(whole)}`);
    if (Array.isArray(part)) {
      assert.ok(Array.isArray(whole) && whole.length === part.length, `${path}: REST has ${JSON.stringify(whole)}`);
      part.forEach((item, i) => subset(item, whole[i], `${path}[${i}]`));
      return;
    }
    for (const [key, value] of Object.entries(part)) {
      assert.ok(key in whole, `${path}.${key} is not in what Strapi's REST API shows: ${JSON.stringify(whole)}`);
      subset(value, whole[key], `${path}.${key}`);
    }
    return;
  }
  assert.deepEqual(part, whole, `${path}`);
}

/** Every key anywhere in a JSON value. */
function keysOf(value, out = new Set()) {
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (!Array.isArray(value)) out.add(k);
      keysOf(v, out);
    }
  }
  return out;
}

let strapi;
let iohost;
let fullToken;
let webhookSecret;
const execFileAsync = promisify(execFile);

before(async () => {
  strapi = await startStrapi();
  const read = ['find', 'findOne'];
  const on = (uid, verbs = read) => verbs.map((v) => `${uid}.${v}`);
  const upload = on('plugin::upload.content-api');
  await strapi.permit('public', [...on('api::article.article'), ...on('api::category.category'), ...upload]);
  await strapi.permit('authenticated', [...on('api::article.article'), ...on('api::order.order'), ...on('plugin::users-permissions.user')]);
  const editorRole = await strapi.role('Editor', [...on('api::article.article'), ...on('api::category.category'), ...on('plugin::users-permissions.user'), ...upload]);

  // iohost configured the way a user would: `iohost strapi setup`, then JWT_SECRET and the
  // two choices this test makes (flat payloads, who reads drafts), nothing about permissions.
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iohost-oracle-'));
  const configFile = join(dir, 'iohost.toml');
  writeFileSync(configFile, '');
  await execFileAsync(binary, ['--config', configFile, 'strapi', 'setup', '--strapi-url', strapi.url, '--public-url', `http://127.0.0.1:${port}`], {
    env: { ...process.env, STRAPI_ADMIN_EMAIL: strapi.admin.email, STRAPI_ADMIN_PASSWORD: strapi.admin.password },
  });
  const written = readFileSync(configFile, 'utf8');
  // setup regenerated the `iohost` token: it is the full-access key from now on.
  fullToken = /api_token = "([0-9a-f]+)"/.exec(written)[1];
  webhookSecret = /webhook_secret = "([0-9a-f]+)"/.exec(written)[1];
  writeFileSync(
    configFile,
    written.replace(
      '[strapi]',
      `[strapi]\njwt_secret = "${strapi.jwtSecret}"\npayload = "flat"\nidentity_cache_ms = 60000\nlookup_timeout_ms = 15000\nrefresh_ms = 1000\n`,
    ) +
      `
[strapi.drafts]
roles = ["editor", "token:oracle-full"]

[strapi.fields.article]
deny = ["internalNotes"]

[strapi.fields.user]
deny = ["email"]

[api]
keys = ["oracle-api-key-0123456789abcdef0123456789"]
`,
  );
  iohost = await startServer({ port, profile: configFile });
  iohost.editorRole = editorRole;
});

after(async () => {
  closeAll();
  await iohost?.stop();
  await strapi?.stop();
});

/** Webhooks iohost has received so far (every result). */
async function webhooksSeen() {
  const text = await (await fetch(`${iohost.url}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^iohost_webhooks_total\{[^}]*\} (\d+)$/gm)) total += Number(m[1]);
  return total;
}

describe('content events against Strapi\'s REST API (oracle)', () => {
  it('every payload is a subset of what REST shows that role; no draft leaks; live lists end equal', async () => {
    const rng = random(SEED);
    const newToken = (name, type, permissions) =>
      strapi.call('/admin/api-tokens', { method: 'POST', token: strapi.adminToken, body: { name, type, lifespan: null, permissions } }).then((r) => r.data.accessKey);

    // The audience: one socket per role and token, with the credentials REST gets too.
    const authUser = await strapi.register('oracle-member');
    const editorUser = await strapi.register('oracle-editor');
    await strapi.call(`/api/users/${editorUser.user.id}`, { method: 'PUT', token: fullToken, body: { role: iohost.editorRole } });
    const authors = [authUser.user, (await strapi.register('oracle-author-a')).user, (await strapi.register('oracle-author-b')).user];
    const audience = [
      { role: 'public', drafts: false },
      { role: 'authenticated', credential: authUser.jwt, drafts: false },
      { role: 'editor', credential: editorUser.jwt, drafts: true },
      { role: 'token:oracle-reader', credential: await newToken('Oracle Reader', 'read-only'), strategy: 'api-token', drafts: false },
      { role: 'token:oracle-articles', credential: await newToken('Oracle Articles', 'custom', ['api::article.article.find', 'api::article.article.findOne']), strategy: 'api-token', drafts: false },
      { role: 'token:oracle-full', credential: await newToken('Oracle Full', 'full-access'), strategy: 'api-token', drafts: true },
    ];
    for (const member of audience) {
      const auth = member.credential ? { token: member.credential, ...(member.strategy ? { strategy: member.strategy } : {}) } : {};
      member.socket = await connect(iohost.url, { auth });
      member.events = [];
      member.socket.onAny((name, payload) => member.events.push({ name, payload }));
      member.checked = 0;
      member.list = new Map(); // documentId -> title: the live list of published articles
    }

    const rest = async (member, path) => {
      const res = await fetch(`${strapi.url}${path}`, { headers: member.credential ? { Authorization: `Bearer ${member.credential}` } : {} });
      return { status: res.status, body: res.status === 204 ? null : await res.json() };
    };
    const admin = (path, method = 'POST', body = {}) => strapi.call(`/content-manager/collection-types/api::article.article${path}`, { method, token: strapi.adminToken, body });
    const api = (path, method, body) => strapi.call(path, { method, token: fullToken, body });

    let actions = 0;
    let comparisons = 0;
    // The webhooks of the users made above have all arrived once the count stays put.
    let awaited = await webhooksSeen();
    for (let quiet = 0; quiet < 10; quiet++) {
      await sleep(100);
      const now = await webhooksSeen();
      if (now !== awaited) quiet = 0;
      awaited = now;
    }
    /** Runs `act` (which sends `webhooks` webhooks) and checks every event it caused. */
    const step = async (label, webhooks, act) => {
      actions += 1;
      const result = await act();
      awaited += webhooks;
      const deadline = Date.now() + 15000;
      while ((await webhooksSeen()) < awaited) {
        assert.ok(Date.now() < deadline, `${label}: Strapi's webhooks did not all arrive`);
        await sleep(50);
      }
      await sleep(200); // socket delivery after the webhook's answer
      await checkAll(label);
      return result;
    };
    const checkAll = async (label) => {
      for (const member of audience) {
        for (const { name, payload } of member.events.splice(0)) {
          await verify(member, name, payload, label);
        }
      }
    };

    const verify = async (member, name, payload, label) => {
      const [model, action] = name.split(':');
      const where = `${label}: ${member.role} got ${name}`;
      assert.ok(REST[model], `${where}: an event of a type this test does not know`);
      const data = payload.data;
      assert.ok(data?.documentId || data?.id, `${where}: ${JSON.stringify(payload)}`);
      const keys = keysOf(data);
      assert.ok(!keys.has('internalNotes'), `${where}: a field [strapi.fields] denies`);
      assert.ok(!keys.has('password') && !keys.has('reviewerEmail') && !keys.has('metaSecret') && !keys.has('secretCode'), `${where}: a private field`);
      const draftRow = model === 'article' && data.publishedAt === null;
      if (!member.drafts) assert.ok(!draftRow, `${where}: a draft reached a role that may not read drafts: ${JSON.stringify(data)}`);
      if (action === 'delete' || action === 'unpublish') {
        if (model === 'article' && !member.drafts) {
          const now = await rest(member, REST.article(data.documentId));
          assert.equal(now.status, 404, `${where}: REST still shows it`);
          member.list.delete(data.documentId);
        }
        member.checked += 1;
        comparisons += 1;
        return;
      }
      const shown = await rest(member, REST[model](data.documentId, draftRow, data));
      assert.equal(shown.status, 200, `${where}, but REST answers that role ${shown.status}: ${JSON.stringify(shown.body)}`);
      subset(data, shown.body.data ?? shown.body, `${where} data`);
      if (model === 'article' && !member.drafts) member.list.set(data.documentId, data.title);
      member.checked += 1;
      comparisons += 1;
    };

    await checkAll('users made');

    // Categories and media (types without draft & publish), then orders with customers.
    const categories = [];
    for (let i = 0; i < 3; i++) {
      categories.push((await step(`category ${i}`, 1, () => api('/api/categories', 'POST', { data: { name: `Category ${i}`, slug: `c${i}`, secretCode: `S${i}` } }))).data);
    }
    await step('category renamed', 1, () => api(`/api/categories/${categories[0].documentId}`, 'PUT', { data: { name: 'Renamed' } }));
    const files = [];
    for (let i = 0; i < 2; i++) files.push(await step(`file ${i}`, 1, () => strapi.upload(`oracle-${i}.png`, fullToken)));
    for (let i = 0; i < 3; i++) {
      const order = await step(`order ${i}`, 1, () => api('/api/orders', 'POST', { data: { orderNumber: `O-${i}`, total: 10.5 + i, notes: 'private', customer: rng.pick(authors).id } }));
      await step(`order ${i} paid`, 1, () => api(`/api/orders/${order.data.documentId}`, 'PUT', { data: { status: 'paid' } }));
      if (i === 0) await step('order deleted', 1, () => api(`/api/orders/${order.data.documentId}`, 'DELETE'));
    }

    // Articles: generated content, generated histories.
    const content = (n) => {
      const data = { title: `Article ${n}`, description: `about ${n}`, internalNotes: `internal ${n}`, reviewerEmail: `r${n}@example.com`, views: rng.int(1000), extra: { n, tags: ['a', 'b'].slice(0, rng.int(3)) } };
      if (rng.chance(0.7)) data.author = rng.pick(authors).id;
      if (rng.chance(0.7)) data.category = rng.pick(categories).documentId;
      if (rng.chance(0.6)) data.cover = rng.pick(files).id;
      if (rng.chance(0.7)) data.seo = { metaTitle: `Meta ${n}`, metaSecret: `secret ${n}`, ...(rng.chance(0.5) ? { ogImage: rng.pick(files).id } : {}) };
      data.links = Array.from({ length: rng.int(3) }, (_, k) => ({ label: `L${n}.${k}`, url: `/l/${k}`, internalTag: 'internal', ...(rng.chance(0.6) ? { category: rng.pick(categories).documentId } : {}) }));
      data.blocks = Array.from({ length: rng.int(3) }, (_, k) =>
        rng.chance(0.5)
          ? { __component: 'shared.quote', text: `Quote ${n}.${k}`, ...(rng.chance(0.7) ? { by: rng.pick(authors).id } : {}) }
          : { __component: 'shared.link', label: `B${n}.${k}`, url: '/b', internalTag: 'internal', ...(rng.chance(0.6) ? { category: rng.pick(categories).documentId } : {}) },
      );
      return data;
    };
    let edits = 0;
    for (let n = 0; n < ARTICLES; n++) {
      let published = rng.chance(0.6);
      let dirty = false; // the draft differs from the published version
      const created = await step(`article ${n} created (${published ? 'published' : 'draft'})`, published ? 2 : 1, () =>
        api(`/api/articles${published ? '' : '?status=draft'}`, 'POST', { data: content(n) }),
      );
      const id = created.data.documentId;
      for (let k = 0; k < 4; k++) {
        const choice = rng.pick(['edit-draft', 'edit-draft', 'publish', 'edit-and-publish', 'unpublish', 'discard', 'delete']);
        edits += 1;
        if (choice === 'edit-draft') {
          await step(`article ${n}: draft edited`, 1, () => api(`/api/articles/${id}?status=draft`, 'PUT', { data: { title: `DRAFT ONLY ${n}.${k}`, description: `unpublished ${k}` } }));
          dirty = true;
        } else if (choice === 'publish') {
          await step(`article ${n}: published`, 2, () => admin(`/${id}/actions/publish`));
          published = true;
          dirty = false;
        } else if (choice === 'edit-and-publish') {
          await step(`article ${n}: edited and published`, 2, () => api(`/api/articles/${id}`, 'PUT', { data: { ...content(n), title: `Article ${n} v${k}` } }));
          published = true;
          dirty = false;
        } else if (choice === 'unpublish' && published) {
          await step(`article ${n}: unpublished`, 1, () => admin(`/${id}/actions/unpublish`));
          published = false;
        } else if (choice === 'discard' && published && dirty) {
          await step(`article ${n}: draft discarded`, 1, () => admin(`/${id}/actions/discard`));
          dirty = false;
        } else if (choice === 'delete') {
          await step(`article ${n}: deleted`, published ? 2 : 1, () => api(`/api/articles/${id}`, 'DELETE'));
          break;
        }
      }
    }

    // Every live list ends as REST's list for that role.
    for (const member of audience.filter((m) => !m.drafts)) {
      const listed = await rest(member, '/api/articles?pagination[pageSize]=100&fields[0]=title');
      const expected = new Map(listed.body.data.map((a) => [a.documentId, a.title]));
      assert.deepEqual(new Map([...member.list].sort()), new Map([...expected].sort()), `${member.role}'s live list`);
    }
    const byRole = Object.fromEntries(audience.map((m) => [m.role, m.checked]));
    // Not vacuous: each role received and had checked what Strapi lets it read.
    for (const member of audience) assert.ok(member.checked > 0, `${member.role} received nothing`);
    console.log(
      `oracle (seed ${SEED}): ${ARTICLES} articles, 3 categories, 3 orders, 2 files, ${audience.length} roles and tokens, ${actions} actions (${edits} article edits); ${comparisons} payloads compared with Strapi's REST API: ${JSON.stringify(byRole)}`,
    );
  });
});

describe('kept current with Strapi', () => {
  it('a permission changed in Strapi applies within refresh_ms', async () => {
    const reader = await connect(iohost.url);
    const got = [];
    reader.on('category:create', (p) => got.push(p.data.name));
    // A full-access token hears of every category: when it has, the reader would have too.
    const witness = await connect(iohost.url, { auth: { strategy: 'api-token', token: fullToken } });
    const witnessed = [];
    witness.on('category:create', (p) => witnessed.push(p.data.name));
    const create = (name) => strapi.call('/api/categories', { method: 'POST', token: fullToken, body: { data: { name } } });
    await create('seen');
    assert.ok(await until(() => got.includes('seen'), 5000), 'Public may find categories');
    await strapi.permit('public', ['api::category.category.find'], false);
    await sleep(2500); // past refresh_ms (1000)
    await create('unseen');
    assert.ok(await until(() => witnessed.includes('unseen'), 5000));
    await sleep(200);
    assert.ok(!got.includes('unseen'), 'no longer once Strapi says so');
    await strapi.permit('public', ['api::category.category.find']);
    await sleep(2500);
    await create('seen again');
    assert.ok(await until(() => got.includes('seen again'), 5000));
    reader.close();
    witness.close();
  });

  it('what does not fit the schema is removed, named in the answer, and never delivered unfiltered', async () => {
    const reader = await connect(iohost.url);
    const got = [];
    reader.on('article:publish', (p) => got.push(p));
    const body = {
      event: 'entry.publish',
      createdAt: new Date().toISOString(),
      model: 'article',
      uid: 'api::article.article',
      entry: {
        id: 9999, documentId: 'handmade0000000000000000', title: 'Hand made', subtitle: 'not in the schema',
        description: { html: '<b>not text</b>' }, publishedAt: new Date().toISOString(),
        author: { id: 1, documentId: 'u', username: 'x', password: 'p' },
        seo: { id: 1, metaTitle: 'M', metaSecret: 'hidden', extra: 'unknown' },
        blocks: [{ __component: 'shared.nope', text: 'x' }, 'not an object'],
      },
    };
    const res = await fetch(`${iohost.url}/strapi/webhook`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${webhookSecret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200);
    const answer = await res.json();
    assert.deepEqual(
      [...answer.removed].sort(),
      [
        'article.blocks: an item without a known `__component`',
        'article.blocks: expected components',
        'article.description: expected a single value',
        'article.seo.extra: not in Strapi\'s schema',
        'article.subtitle: not in Strapi\'s schema',
      ],
    );
    assert.ok(await until(() => got.length === 1, 5000));
    assert.deepEqual(got[0].data, {
      id: 9999, documentId: 'handmade0000000000000000', title: 'Hand made', publishedAt: body.entry.publishedAt,
      seo: { id: 1, metaTitle: 'M' }, blocks: [],
    }, 'Public may not find users: no author; private and unknown keys gone');
    reader.close();
  });
});
