// GET /metrics in Prometheus text format, scraped after real traffic.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { sleep, startServer } from '../lib/server.mjs';

let server;
before(async () => {
  server = await startServer({ handlers: ['echo', 'faults'] });
});
after(async () => {
  closeAll();
  await server.stop();
});

/** Parses Prometheus text into [{name, labels, value}]. */
function parse(text) {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      assert.ok(m, `unparsable line: ${line}`);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      return { name: m[1], labels, value: Number(m[3]) };
    });
}

/** The value of the sample `name` whose labels include `labels`. */
function sample(samples, name, labels = {}) {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0].value;
}

describe('/metrics', () => {
  it('reports connections, events, refusals and handler figures', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    await ask(a, 'join-room', 'metrics-room');
    await ask(a, 'message-with-ack', 'x');
    await ask(b, 'mystery-event-1');
    await ask(b, 'mystery-event-2');
    await ask(b, 'trap');

    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain/);
    const samples = parse(await res.text());

    assert.equal(sample(samples, 'iohost_connections', { namespace: '/', role: 'public' }), 2);
    assert.equal(sample(samples, 'iohost_events_total', { event: 'join-room' }), 1);
    assert.equal(sample(samples, 'iohost_events_total', { event: 'message-with-ack' }), 1);
    assert.equal(sample(samples, 'iohost_events_total', { event: 'other' }), 2, 'made-up names are not label values');
    assert.ok(!samples.some((s) => s.labels.event?.startsWith('mystery')));
    assert.equal(sample(samples, 'iohost_events_refused_total', { reason: 'no_handler' }), 2);
    assert.equal(sample(samples, 'iohost_events_refused_total', { reason: 'failed' }), 1);
    assert.equal(sample(samples, 'iohost_handler_faults_total', { handler: 'faults', kind: 'trap' }), 1);
    assert.equal(sample(samples, 'iohost_handler_loads_total', { handler: 'echo', result: 'loaded' }), 1);
    assert.ok(sample(samples, 'iohost_handler_call_seconds_count', { handler: 'echo' }) >= 1);
    assert.ok(samples.some((s) => s.name === 'iohost_handler_call_seconds_bucket' && s.labels.le === '0.0001'));
    assert.ok(samples.some((s) => s.name === 'iohost_events_per_second'));

    b.close();
    await sleep(200);
    const after = parse(await (await fetch(`${server.url}/metrics`)).text());
    assert.equal(sample(after, 'iohost_connections', { namespace: '/', role: 'public' }), 1);
  });

  it('counts events per second over a sliding window in /api/v1/stats too', async () => {
    const key = 'metrics-key-0123456789abcdef0123456789abcdef';
    const other = await startServer({ config: `[api]\nkeys = ["${key}"]\n` });
    try {
      const s = await connect(other.url);
      for (let i = 0; i < 30; i++) await ask(s, 'get-rooms');
      await sleep(1100);
      const stats = await (await fetch(`${other.url}/api/v1/stats`, { headers: { Authorization: `Bearer ${key}` } })).json();
      assert.equal(stats.totalEvents, 30);
      assert.ok(stats.eventsPerSecond > 0 && stats.eventsPerSecond <= 3, `eventsPerSecond ${stats.eventsPerSecond}`);
    } finally {
      closeAll();
      await other.stop();
    }
  });
});

describe('metrics.require_key', () => {
  it('asks for one of the API keys; with it, the same text', async () => {
    const key = 'metrics-key-0123456789abcdef0123456789abcdef';
    const guarded = await startServer({ config: `[api]\nkeys = ["${key}"]\n[metrics]\nrequire_key = true\n` });
    try {
      const bare = await fetch(`${guarded.url}/metrics`);
      assert.equal(bare.status, 401);
      assert.match(await bare.text(), /metrics need `Authorization: Bearer <key>`/);
      assert.equal((await fetch(`${guarded.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
      const keyed = await fetch(`${guarded.url}/metrics`, { headers: { Authorization: `Bearer ${key}` } });
      assert.equal(keyed.status, 200);
      assert.match(await keyed.text(), /^iohost_events_per_second \d/m);
    } finally {
      await guarded.stop();
    }
  });
});
