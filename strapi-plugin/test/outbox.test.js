'use strict';

// How the outbox cuts its oldest events into requests (tests/strapi/plugin-outbox.test.mjs sends
// them through the real Strapi and iohost).

const assert = require('node:assert/strict');
const { it } = require('node:test');

const { requests } = require('../server/outbox');

const head = (id, bytes = 10) => ({ id, body: { id: String(id), pad: 'x'.repeat(bytes) } });

it('keeps the order, 50 events a request at most', () => {
  const heads = Array.from({ length: 120 }, (_, i) => head(i));
  const cut = requests(heads);
  assert.deepEqual(cut.map((r) => r.length), [50, 50, 20]);
  assert.deepEqual(cut.flat().map((h) => h.id), heads.map((h) => h.id));
});

it('starts a new request past about 512 KB, and sends a larger event alone', () => {
  const cut = requests([head(1, 300_000), head(2, 300_000), head(3, 700_000), head(4), head(5)]);
  assert.deepEqual(cut.map((r) => r.map((h) => h.id)), [[1], [2], [3], [4, 5]]);
});

it('sends nothing for no events', () => {
  assert.deepEqual(requests([]), []);
});
