// Nothing lost between Strapi and iohost: the plugin writes each content event to its outbox
// in Strapi's database and sends it until iohost has taken it. Two iohost nodes on one Redis;
// the plugin talks to node A, a client listens on node B (so it stays connected while A is
// down). Node A is stopped in the middle of a burst of content changes and started again:
// Strapi's requests all succeed meanwhile, the outbox grows and drains, and the client gets
// every event once, in order per document. A retried event (the same id, on either node) is
// delivered once. And the usage guide's pattern 1 (socket listeners in Strapi) across the two
// nodes: the plugin reads both nodes' relay streams.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect, until } from '../lib/client.mjs';
import { startRedis } from '../lib/redis.mjs';
import { freePort, sleep, startServer } from '../lib/server.mjs';
import { startStrapi } from '../lib/strapi.mjs';

const KEY = 'plugin-outbox-api-key-0123456789abcdef0123456';
let strapi;
let redis;
let portA;
let portB;
let config;
let a;
let b;

before(async () => {
  redis = await startRedis();
  portA = await freePort();
  portB = await freePort();
  strapi = await startStrapi({
    env: {
      IOHOST_URL: `http://127.0.0.1:${portA}`,
      IOHOST_API_KEY: KEY,
      IOHOST_CONTENT_TYPES: JSON.stringify(['api::category.category']),
      IOHOST_GUIDE_LISTENERS: '1',
      IOHOST_RELAY_URLS: `http://127.0.0.1:${portA},http://127.0.0.1:${portB}`,
    },
  });
  await strapi.permit('public', ['api::category.category.find', 'api::category.category.findOne']);
  config = `
[cluster]
redis_url = "redis://127.0.0.1:${redis.port}"
prefix = "outbox-${process.pid}"

[api]
keys = ["${KEY}"]

${strapi.iohostSection()}
payload = "flat"
`;
  a = await startServer({ port: portA, config });
  b = await startServer({ port: portB, config });
});

after(async () => {
  closeAll();
  await Promise.all([a, b].filter(Boolean).map((n) => n.stop()));
  await strapi?.stop();
  await redis?.stop();
});

/** The plugin's status as its admin route shows it. */
const status = () => strapi.call('/io/status', { token: strapi.adminToken });

describe('socket listeners in Strapi on two nodes', () => {
  it('pattern 1: a user:online on either node reaches Strapi\'s listener, which tells the sockets on both nodes', async () => {
    // The plugin reads both nodes' relay streams (it retries with backoff until they are up).
    for (const node of [a, b]) assert.ok(await until(() => strapi.relaying(node.url), 20000), `the plugin streams from ${node.url}`);
    const people = [];
    for (const [name, node] of [['ann', a], ['ben', b], ['cat', a]]) {
      const { jwt, user } = await strapi.register(`${name}-${process.pid}`);
      const socket = await connect(node.url, { auth: { token: jwt } });
      const person = { user, socket, heard: [] };
      people.push(person);
      socket.on('friend:online', (p) => person.heard.push(p.username));
    }
    const [ann, ben, cat] = people;
    ben.socket.emit('user:online');
    ann.socket.emit('user:online');
    assert.ok(await until(() => ann.heard.length === 1 && ben.heard.length === 1 && cat.heard.length === 2, 10000), JSON.stringify(people.map((p) => p.heard)));
    assert.deepEqual(ann.heard, [ben.user.username], 'ann (node A) hears ben (node B)');
    assert.deepEqual(ben.heard, [ann.user.username], 'ben (node B) hears ann (node A)');
    assert.deepEqual(cat.heard.sort(), [ann.user.username, ben.user.username].sort());
    // Pattern 2's socket.use counts each node's sockets too.
    const answers = [];
    for (let i = 0; i < 61; i++) answers.push(await ask(ben.socket, 'get-rooms'));
    assert.deepEqual(answers.at(-1), { success: false, error: 'Rate limit exceeded' });
    for (const p of people) p.socket.disconnect();
  });
});

describe('the plugin\'s outbox', () => {
  it('iohost stopped during a burst of changes: Strapi keeps working, and every event arrives once, in order per document', async () => {
    const reader = await connect(b.url);
    const got = [];
    for (const name of ['category:create', 'category:update']) reader.on(name, (p) => got.push({ name, documentId: p.data.documentId, label: p.data.name }));
    const call = (path, method, body) => strapi.call(path, { method, token: strapi.apiToken, body });

    // The way is clear: a first change reaches the client on node B.
    await call('/api/categories', 'POST', { data: { name: 'warm-up' } });
    assert.ok(await until(() => got.length === 1, 10000), 'the first event arrives');
    got.length = 0;

    const DOCS = 5;
    const ROUNDS = 10;
    const ids = [];
    let requests = 0;
    for (let i = 0; i < DOCS; i++) {
      ids.push((await call('/api/categories', 'POST', { data: { name: `c${i}-created` } })).data.documentId);
      requests++;
    }
    let stoppedAt;
    let restartedAt;
    let outboxWhileDown = 0;
    for (let round = 0; round < ROUNDS; round++) {
      if (round === 3) {
        await a.stop();
        stoppedAt = Date.now();
      }
      if (round === 7) {
        outboxWhileDown = (await status()).outbox.length;
        a = await startServer({ port: portA, config });
        restartedAt = Date.now();
      }
      // While A is down the burst goes on at a human pace (2 s in all).
      if (round >= 3 && round < 7) await sleep(500);
      for (let i = 0; i < DOCS; i++) {
        // strapi.call throws on any status but 2xx: every request succeeds.
        await call(`/api/categories/${ids[i]}`, 'PUT', { data: { name: `c${i}-v${round}` } });
        requests++;
      }
    }
    const expected = DOCS * (ROUNDS + 1);
    assert.ok(outboxWhileDown > 0, 'events waited in the outbox while iohost was down');
    await until(() => got.length >= expected, 30000);
    const seen = new Set(got.map((e) => e.label));
    const missing = ids.flatMap((_, i) => [`c${i}-created`, ...Array.from({ length: ROUNDS }, (_, r) => `c${i}-v${r}`)]).filter((l) => !seen.has(l));
    assert.deepEqual(missing, [], `every event arrives (${got.length} of ${expected})`);
    const drainedAt = Date.now();
    await sleep(500);
    assert.equal(got.length, expected, 'no event twice');
    for (let i = 0; i < DOCS; i++) {
      const labels = got.filter((e) => e.documentId === ids[i]).map((e) => e.label);
      assert.deepEqual(labels, [`c${i}-created`, ...Array.from({ length: ROUNDS }, (_, r) => `c${i}-v${r}`)], `document ${i}'s events in order`);
    }
    const after = await status();
    assert.equal(after.outbox.length, 0, 'the outbox is empty');
    assert.equal(after.iohost.reachable, true);
    console.log(
      `outbox: ${requests} Strapi requests, all answered; iohost down ${restartedAt - stoppedAt} ms with ${outboxWhileDown} events waiting; ` +
        `all ${expected} delivered ${drainedAt - restartedAt} ms after the restart (the outbox retries at most every 5 s)`,
    );
  });

  it('a retried event (same id) is delivered once, on whichever node it arrives', async () => {
    const reader = await connect(b.url);
    const got = [];
    reader.on('category:update', (p) => got.push(p.data));
    const event = {
      id: `retry-${process.pid}`,
      event: 'update',
      uid: 'api::category.category',
      model: 'category',
      entry: { id: 1, documentId: 'retrieddocument000000000', publishedAt: new Date().toISOString() },
      payloads: { public: { id: 1, documentId: 'retrieddocument000000000', name: 'once' } },
    };
    const send = (node) =>
      fetch(`${node.url}/api/v1/content-events`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify(event) }).then(async (r) => [r.status, await r.json()]);
    const first = await send(a);
    assert.deepEqual(first, [200, { id: event.id, success: true, event: 'category:update', rooms: ['io-role-public'] }]);
    assert.deepEqual(await send(a), [200, { id: event.id, success: true, duplicate: true, event: 'category:update' }]);
    assert.deepEqual(await send(b), [200, { id: event.id, success: true, duplicate: true, event: 'category:update' }]);
    // A later, different event is the barrier: the repeats would have come before it.
    const later = { ...event, id: `later-${process.pid}`, payloads: { public: { ...event.payloads.public, name: 'later' } } };
    await fetch(`${a.url}/api/v1/content-events`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify(later) });
    assert.ok(await until(() => got.some((d) => d.name === 'later'), 5000));
    assert.deepEqual(got.map((d) => d.name), ['once', 'later']);
  });

  it('a batch is taken in order, each event answered: delivered, repeated, or refused for good', async () => {
    const reader = await connect(b.url);
    const got = [];
    reader.on('category:update', (p) => got.push(p.data.name));
    const event = (id, name) => ({
      id: `${id}-${process.pid}`,
      event: 'update',
      uid: 'api::category.category',
      model: 'category',
      entry: { id: 2, documentId: 'batcheddocument000000000', publishedAt: new Date().toISOString() },
      payloads: { public: { id: 2, documentId: 'batcheddocument000000000', name } },
    });
    const post = (body) =>
      fetch(`${a.url}/api/v1/content-events`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => [r.status, await r.json()]);
    const batch = [event('b1', 'one'), event('b1', 'one again'), { ...event('b2', 'bad'), event: 'nope' }, event('b3', 'three')];
    const [status, { results }] = await post(batch);
    assert.equal(status, 200);
    assert.deepEqual(
      results.map((r) => [r.id, r.success, r.duplicate ?? false, r.error?.code ?? null]),
      [
        [batch[0].id, true, false, null],
        [batch[1].id, true, true, null],
        [batch[2].id, false, false, 'bad_request'],
        [batch[3].id, true, false, null],
      ],
    );
    assert.ok(await until(() => got.length === 2, 5000));
    assert.deepEqual(got, ['one', 'three'], 'in order, the repeat once');
    const [tooMany, { error }] = await post(Array.from({ length: 101 }, (_, i) => event(`many-${i}`, 'x')));
    assert.deepEqual([tooMany, error.code], [400, 'bad_request']);
    assert.match(error.message, /at most 100 content events at once, not 101/);
  });

  it('refuses events without the API key and bodies that are not content events, naming the problem', async () => {
    const post = (body, key = KEY) =>
      fetch(`${a.url}/api/v1/content-events`, { method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body }).then(async (r) => [r.status, (await r.json()).error]);
    assert.deepEqual(await post('{}', 'wrong'), [401, { code: 'unauthorized', message: 'missing or wrong API key' }]);
    const [status, error] = await post('{"id": "x"}');
    assert.equal(status, 400);
    assert.match(error.message, /missing field/);
    const good = { id: 'y', event: 'nope', uid: 'api::category.category', model: 'category', entry: { documentId: 'd' }, payloads: {} };
    assert.deepEqual(await post(JSON.stringify(good)), [400, { code: 'bad_request', message: '`event` must be create, update, delete, publish, unpublish or draft-discard, not `nope`' }]);
    assert.deepEqual(await post(JSON.stringify({ ...good, event: 'create', uid: 'nope' })), [400, { code: 'bad_request', message: '`uid` is not a content type uid: `nope`' }]);
    assert.deepEqual(await post(JSON.stringify({ ...good, event: 'create', id: '' })), [400, { code: 'bad_request', message: '`id` must have 1 to 128 characters' }]);
  });

  it('a full outbox (iohost away too long) drops new events, logging and counting each, and Strapi keeps working', async () => {
    const nowhere = await freePort();
    const lonely = await startStrapi({
      env: { IOHOST_URL: `http://127.0.0.1:${nowhere}`, IOHOST_API_KEY: KEY, IOHOST_CONTENT_TYPES: JSON.stringify(['api::category.category']), IOHOST_OUTBOX_MAX: '3' },
    });
    try {
      for (let i = 0; i < 5; i++) await lonely.call('/api/categories', { method: 'POST', token: lonely.apiToken, body: { data: { name: `full-${i}` } } });
      const { iohost, outbox } = await lonely.call('/io/status', { token: lonely.adminToken });
      assert.equal(iohost.reachable, false);
      assert.match(iohost.error, /unreachable/);
      assert.equal(outbox.length, 3, 'the outbox holds its limit');
      assert.equal(outbox.dropped, 2, 'the rest are counted');
      assert.equal(outbox.written, 3);
      assert.ok(outbox.oldest > 0);
      assert.equal((lonely.logs().match(/outbox full \(3 events\): dropped category:create/g) ?? []).length, 2, 'each drop is logged');
    } finally {
      await lonely.stop();
    }
  });
});
