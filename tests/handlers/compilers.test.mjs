// Two compilers: a handler that is not in the compile cache serves on baseline code (Winch,
// quick to compile) while its optimised code (Cranelift) is compiled in the background; then
// the optimised code takes over: same version, same counters, same behaviour, no event lost.
// With `handlers.baseline_first = false` only optimised code ever serves. (The other suites run
// with `false`: see tests/lib/server.mjs.)
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { startServer } from '../lib/server.mjs';

after(closeAll);

const KEY = 'compilers-test-key-0123456789abcdef0123';

/** Handler `name` as `GET /api/v1/handlers` lists it. */
async function handler(server, name) {
  const res = await fetch(`${server.url}/api/v1/handlers`, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 200);
  return (await res.json()).handlers.find((h) => h.name === name);
}

/** A server with the API on, `baseline_first` as given, and a compile cache (an empty one of its own by default). */
function start({ baselineFirst, cache = mkdtempSync(join(tmpdir(), 'iohost-compile-cache-')), ...options }) {
  return startServer({
    config: `[api]\nkeys = ["${KEY}"]\n[handlers]\nbaseline_first = ${baselineFirst}\n`,
    env: { IOHOST_HANDLERS__CACHE_DIR: cache },
    ...options,
  });
}

describe('baseline code first, optimised code when ready', () => {
  it('a JavaScript handler serves at once on baseline code, then on optimised code with the same version and counters', async () => {
    // Its own, empty cache: the 12 MB component must be compiled (Cranelift takes many
    // seconds for it, Winch a fraction).
    const cache = mkdtempSync(join(tmpdir(), 'iohost-compile-cache-'));
    const server = await start({
      baselineFirst: true,
      cache,
      handlers: ['moderation', 'chat-messages'],
      sidecars: { moderation: '[config]\nbanned = ["spam"]\nmax_strikes = 10\n' },
    });
    try {
      assert.match(server.logs(), /handler loaded handler="moderation".*code=Baseline/);
      const first = await handler(server, 'moderation');
      assert.equal(first.code, 'baseline', 'serving before its optimised code exists');

      const alice = await connect(server.url);
      await ask(alice, 'join-room', 'chat-room-1');
      const warnings = collect(alice, 'moderation:warning');
      const check = async (round) => {
        assert.equal((await ask(alice, 'chat:message', { roomId: 1, text: `hello ${round}` })).success, true);
        assert.deepEqual(await ask(alice, 'chat:message', { roomId: 1, text: 'spam!' }), {
          success: false,
          error: 'message dropped: it contains a banned word (spam)',
        });
        assert.ok(await until(() => warnings.length === round), `warning ${round} arrived`);
      };
      await check(1);
      const onBaseline = await handler(server, 'moderation');
      assert.equal(onBaseline.code, 'baseline', 'the first events ran on baseline code');
      assert.equal(onBaseline.calls, 2);

      await server.waitForLog(/handler runs optimised code handler="moderation"/, 240000);
      await check(2);
      const optimised = await handler(server, 'moderation');
      assert.equal(optimised.code, 'optimized');
      assert.equal(optimised.version, first.version);
      assert.equal(optimised.loadedAt, first.loadedAt, 'the same version, not a new load');
      assert.equal(optimised.calls, 4, 'counters carry over to the optimised code');
      assert.equal(warnings[1].strikes, 2, 'KV state is the handler\'s, not the code\'s');
      assert.ok(readdirSync(cache).some((f) => f.endsWith('.cwasm')), 'the optimised code is cached');
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('a stop does not wait for an optimised compile in progress', async () => {
    const server = await start({ baselineFirst: true, handlers: ['moderation'] });
    assert.equal((await handler(server, 'moderation')).code, 'baseline');
    const t0 = Date.now();
    const { code } = await server.stop('SIGTERM');
    assert.equal(code, 0);
    // The compile takes tens of seconds here; the stop gives blocking work 2 s.
    assert.ok(Date.now() - t0 < 10000, `stopping took ${Date.now() - t0} ms`);
  });

  it('with baseline_first = false, only optimised code serves', async () => {
    const server = await start({ baselineFirst: false, handlers: ['echo'] });
    try {
      assert.match(server.logs(), /handler loaded handler="echo".*code=Optimized/);
      assert.equal((await handler(server, 'echo')).code, 'optimized');
      const s = await connect(server.url);
      assert.deepEqual(await ask(s, 'message-with-ack', { n: 1 }), { n: 1 });
      assert.doesNotMatch(server.logs(), /code=Baseline|runs optimised code/);
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('a handler already in the cache starts on optimised code', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'iohost-compile-cache-'));
    const cold = await start({ baselineFirst: true, cache, handlers: ['echo'] });
    try {
      assert.match(cold.logs(), /handler loaded handler="echo".*code=Baseline/);
      await cold.waitForLog(/handler runs optimised code handler="echo"/, 120000);
    } finally {
      await cold.stop();
    }
    const warm = await start({ baselineFirst: true, cache, handlers: ['echo'] });
    try {
      assert.match(warm.logs(), /handler loaded handler="echo".*code=Optimized/);
      assert.equal((await handler(warm, 'echo')).code, 'optimized');
    } finally {
      await warm.stop();
    }
  });
});
