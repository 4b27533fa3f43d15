// The Grafana dashboard (docs/grafana/iohost.json) against what iohost really exports: every
// metric it charts is one README documents and /metrics serves, every documented metric is
// charted, and each label a panel groups by is a label the real exporter puts on that metric.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { repoRoot, startServer } from '../lib/server.mjs';

const dashboard = JSON.parse(readFileSync(join(repoRoot, 'docs', 'grafana', 'iohost.json'), 'utf8'));
const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const documented = new Set([...readme.matchAll(/^\| `(iohost_[a-z_]+)` \|/gm)].map((m) => m[1]));
const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
/** A series name as exported (`_bucket` of a histogram) -> the metric's name. */
const metricOf = (name) => name.replace(/_(bucket|sum|count)$/, '');
const chartedIn = (expr) => [...new Set([...expr.matchAll(/\b(iohost_[a-z_]+)\b/g)].map((m) => m[1]))];

let server;
before(async () => {
  server = await startServer({ handlers: ['echo'], config: '[api]\nkeys = ["dashboard-test-key-0123456789abcdef01234567"]\n' });
});
after(async () => {
  closeAll();
  await server?.stop();
});

describe('the Grafana dashboard', () => {
  it('is a dashboard Grafana can import: panels with ids, places and queries, a datasource input', () => {
    assert.equal(dashboard.__inputs[0].pluginId, 'prometheus');
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of dashboard.panels) {
      assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the 24 columns`);
      if (p.type !== 'row') assert.ok(p.targets.length > 0 && p.targets.every((t) => t.expr && t.refId), `${p.title} has queries`);
    }
  });

  it('charts every documented metric, and only documented ones', () => {
    const charted = new Set(targets.flatMap((t) => chartedIn(t.expr).map(metricOf)));
    assert.deepEqual([...charted].filter((m) => !documented.has(m)), [], 'charted but not in README');
    assert.deepEqual([...documented].filter((m) => !charted.has(m)), [], 'in README but not charted');
  });

  it('groups each metric by labels the running server really puts on it', async () => {
    // Some traffic, so that the usual series exist: a socket, a handled event, an unknown one.
    const socket = await connect(server.url);
    assert.deepEqual(await ask(socket, 'message-with-ack', 1), 1);
    assert.equal((await ask(socket, 'no-such-event')).success, false);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const labelsOf = new Map();
    for (const [, name, labels = ''] of text.matchAll(/^(iohost_[a-z_]+)(?:\{([^}]*)\})? /gm)) {
      const metric = metricOf(name);
      const seen = labelsOf.get(metric) ?? new Set();
      for (const [, label] of labels.matchAll(/([a-z_]+)="/g)) seen.add(label);
      labelsOf.set(metric, seen);
    }
    // The traffic above must have made these: an empty check proves nothing.
    for (const m of ['iohost_connections', 'iohost_events_total', 'iohost_events_refused_total', 'iohost_handler_call_seconds', 'iohost_handler_loads_total']) {
      assert.ok(labelsOf.has(m), `/metrics serves ${m}`);
    }
    let checked = 0;
    for (const { panel, expr } of targets) {
      for (const [, by] of expr.matchAll(/by \(([^)]*)\)/g)) {
        const wanted = by.split(',').map((l) => l.trim()).filter((l) => l !== 'le');
        for (const name of chartedIn(expr)) {
          const exported = labelsOf.get(metricOf(name));
          if (!exported) continue; // not recorded by this traffic
          for (const label of wanted) assert.ok(exported.has(label), `${panel}: ${name} has no label ${label} (it has ${[...exported]})`);
          checked += 1;
        }
      }
    }
    assert.ok(checked >= 5, `${checked} grouped queries checked against /metrics`);
  });
});
