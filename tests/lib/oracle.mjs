// The content-event oracle, shared by the two ways content events reach iohost: Strapi's
// webhooks (strapi/oracle.test.mjs: every payload a subset of what Strapi's REST API shows that
// role) and iohost's Strapi plugin (strapi/plugin-oracle.test.mjs: every payload equal to it).
// Against a real Strapi 5.54, an audience of roles and API tokens, each with a socket and the
// credentials REST gets too, follows generated documents through generated histories (create
// as draft or published, edit the draft, publish, edit-and-publish, unpublish, discard the
// draft, delete); every event each socket gets is checked against REST for that role, nothing
// of a draft reaches a role that may not read drafts, and a client keeping a live list from the
// events ends with exactly what `GET /api/articles` returns it.
import assert from 'node:assert/strict';

import { connect } from './client.mjs';
import { sleep } from './server.mjs';

export const SEED = Number(process.env.ORACLE_SEED ?? 20261202);
export const ARTICLES = Number(process.env.ORACLE_ARTICLES ?? 10);

/** A small seeded generator (mulberry32), so a failing run can be replayed. */
export function random(seed) {
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

export const DEEP = [
  'populate[author]=true',
  'populate[category]=true',
  'populate[cover]=true',
  'populate[seo][populate][ogImage]=true',
  'populate[links][populate][category]=true',
  'populate[blocks][on][shared.quote][populate][by]=true',
  'populate[blocks][on][shared.link][populate][category]=true',
].join('&');

/** Where Strapi's REST API shows one document of each type (deep-populated). */
export const REST = {
  article: (id, draft) => `/api/articles/${id}?${DEEP}${draft ? '&status=draft' : ''}`,
  category: (id) => `/api/categories/${id}`,
  order: (id) => `/api/orders/${id}?populate[customer]=true`,
  user: (_documentId, _draft, data) => `/api/users/${data.id}?populate[role]=true`,
  media: (_documentId, _draft, data) => `/api/upload/files/${data.id}`,
};

/** `part` is within `whole`: every key with the same value, at every depth. */
export function subset(part, whole, path = 'data') {
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
export function keysOf(value, out = new Set()) {
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (!Array.isArray(value)) out.add(k);
      keysOf(v, out);
    }
  }
  return out;
}

/** How many content events each kind of change sends iohost: Strapi's webhooks (one per row). */
export const WEBHOOK_EVENTS = {
  user: 1, category: 1, file: 1, order: 1, 'order-delete': 1,
  'create-published': 2, 'create-draft': 1, 'edit-draft': 1, publish: 2, 'edit-and-publish': 2,
  unpublish: 1, discard: 1, 'delete-published': 2, 'delete-draft': 1,
};

/**
 * Runs the oracle. `counts`: events per kind of change; `seen()`: content events iohost has
 * taken so far; `compare(payload, rest, where)`: how a payload must relate to REST's answer;
 * `denied`: fields iohost's [strapi.fields] removes, never delivered.
 */
export async function runOracle({ name, strapi, iohostUrl, fullToken, editorRole, counts, seen, compare, denied = [] }) {
  const rng = random(SEED);
  const newToken = (name, type, permissions) =>
    strapi.call('/admin/api-tokens', { method: 'POST', token: strapi.adminToken, body: { name, type, lifespan: null, permissions } }).then((r) => r.data.accessKey);

  // The audience: one socket per role and token, with the credentials REST gets too.
  const authUser = await strapi.register('oracle-member');
  const editorUser = await strapi.register('oracle-editor');
  await strapi.call(`/api/users/${editorUser.user.id}`, { method: 'PUT', token: fullToken, body: { role: editorRole } });
  const authors = [authUser.user, (await strapi.register('oracle-author-a')).user, (await strapi.register('oracle-author-b')).user];
  const audience = [
    { role: 'public', drafts: false },
    { role: 'authenticated', credential: authUser.jwt, drafts: false },
    { role: 'editor', credential: editorUser.jwt, drafts: true },
    { role: 'token:oracle-reader', credential: await newToken('Oracle Reader', 'read-only'), strategy: 'api-token', drafts: false },
    { role: 'token:oracle-articles', credential: await newToken('Oracle Articles', 'custom', ['api::article.article.find', 'api::article.article.findOne']), strategy: 'api-token', drafts: false },
    { role: 'token:oracle-full', credential: await newToken('Oracle Full', 'full-access'), strategy: 'api-token', drafts: true },
  ];
  // The events of the users made above have all arrived once the count stays put: only then
  // does the audience connect, so that none gets a user's event older than what REST shows.
  let awaited = await seen();
  for (let quiet = 0; quiet < 10; quiet++) {
    await sleep(100);
    const now = await seen();
    if (now !== awaited) quiet = 0;
    awaited = now;
  }
  for (const member of audience) {
    const auth = member.credential ? { token: member.credential, ...(member.strategy ? { strategy: member.strategy } : {}) } : {};
    member.socket = await connect(iohostUrl, { auth });
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
  /** Runs `act` (a change of kind `kind`) and checks every event it caused. */
  const step = async (label, kind, act) => {
    actions += 1;
    const result = await act();
    assert.ok(kind in counts, `no count for ${kind}`);
    awaited += counts[kind];
    const deadline = Date.now() + 15000;
    while ((await seen()) < awaited) {
      assert.ok(Date.now() < deadline, `${label}: the content events did not all arrive`);
      await sleep(50);
    }
    await sleep(200); // socket delivery after iohost's answer
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
    for (const field of denied) assert.ok(!keys.has(field), `${where}: ${field}, a field [strapi.fields] denies`);
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
    compare(data, shown.body.data ?? shown.body, `${where} data`);
    if (model === 'article' && !member.drafts) member.list.set(data.documentId, data.title);
    member.checked += 1;
    comparisons += 1;
  };

  await checkAll('users made');
  // A user who signs up while everyone listens.
  authors.push((await step('user signed up', 'user', () => strapi.register('oracle-late'))).user);

  // Categories and media (types without draft & publish), then orders with customers.
  const categories = [];
  for (let i = 0; i < 3; i++) {
    categories.push((await step(`category ${i}`, 'category', () => api('/api/categories', 'POST', { data: { name: `Category ${i}`, slug: `c${i}`, secretCode: `S${i}` } }))).data);
  }
  await step('category renamed', 'category', () => api(`/api/categories/${categories[0].documentId}`, 'PUT', { data: { name: 'Renamed' } }));
  const files = [];
  for (let i = 0; i < 2; i++) files.push(await step(`file ${i}`, 'file', () => strapi.upload(`oracle-${i}.png`, fullToken)));
  for (let i = 0; i < 3; i++) {
    const order = await step(`order ${i}`, 'order', () => api('/api/orders', 'POST', { data: { orderNumber: `O-${i}`, total: 10.5 + i, notes: 'private', customer: rng.pick(authors).id } }));
    await step(`order ${i} paid`, 'order', () => api(`/api/orders/${order.data.documentId}`, 'PUT', { data: { status: 'paid' } }));
    if (i === 0) await step('order deleted', 'order-delete', () => api(`/api/orders/${order.data.documentId}`, 'DELETE'));
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
    const created = await step(`article ${n} created (${published ? 'published' : 'draft'})`, published ? 'create-published' : 'create-draft', () =>
      api(`/api/articles${published ? '' : '?status=draft'}`, 'POST', { data: content(n) }),
    );
    const id = created.data.documentId;
    for (let k = 0; k < 4; k++) {
      const choice = rng.pick(['edit-draft', 'edit-draft', 'publish', 'edit-and-publish', 'unpublish', 'discard', 'delete']);
      edits += 1;
      if (choice === 'edit-draft') {
        await step(`article ${n}: draft edited`, 'edit-draft', () => api(`/api/articles/${id}?status=draft`, 'PUT', { data: { title: `DRAFT ONLY ${n}.${k}`, description: `unpublished ${k}` } }));
        dirty = true;
      } else if (choice === 'publish') {
        await step(`article ${n}: published`, 'publish', () => admin(`/${id}/actions/publish`));
        published = true;
        dirty = false;
      } else if (choice === 'edit-and-publish') {
        await step(`article ${n}: edited and published`, 'edit-and-publish', () => api(`/api/articles/${id}`, 'PUT', { data: { ...content(n), title: `Article ${n} v${k}` } }));
        published = true;
        dirty = false;
      } else if (choice === 'unpublish' && published) {
        await step(`article ${n}: unpublished`, 'unpublish', () => admin(`/${id}/actions/unpublish`));
        published = false;
      } else if (choice === 'discard' && published && dirty) {
        await step(`article ${n}: draft discarded`, 'discard', () => admin(`/${id}/actions/discard`));
        dirty = false;
      } else if (choice === 'delete') {
        await step(`article ${n}: deleted`, published ? 'delete-published' : 'delete-draft', () => api(`/api/articles/${id}`, 'DELETE'));
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
    `${name} oracle (seed ${SEED}): ${ARTICLES} articles, 3 categories, 3 orders, 2 files, ${audience.length} roles and tokens, ${actions} actions (${edits} article edits); ${comparisons} payloads compared with Strapi's REST API: ${JSON.stringify(byRole)}`,
  );
}
