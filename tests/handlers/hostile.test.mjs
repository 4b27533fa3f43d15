// A handler is untrusted code. The `hostile` fixture tries what a hostile author would, and each
// attempt is contained with a clear error, counted, and leaves every other handler and client
// served: iohost's reserved rooms, other sockets' credentials, limits raised from its own
// sidecar, events piled up behind a busy handler, memory kept in idle instances, a full KV
// store, native code planted in the compile cache, files in the handlers folder that are not
// files (FIFOs, devices, folders) and a component that takes too long to load. (Tables and
// extra memories of hand-made components: host/src/handlers/limits.rs runs them on wasmtime.)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { builtHandlers, installHandler, sleep, startServer } from '../lib/server.mjs';

const KEY = 'hostile-api-key-0123456789abcdef0123456789';
const api = (server, path, init = {}) =>
  fetch(`${server.url}/api/v1${path}`, { ...init, headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', ...init.headers } });
const handlerStats = async (server, name) => (await (await api(server, '/handlers')).json()).handlers.find((h) => h.name === name);
/** The sum of a counter's series in /metrics whose labels match `labels` (a regex source). */
const counter = async (server, name, labels = '') => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\d+)$`, 'gm');
  return [...text.matchAll(line)].filter((m) => new RegExp(labels).test(m[1] ?? '')).reduce((n, m) => n + Number(m[2]), 0);
};
const refusedCount = (server, action = '') => counter(server, 'iohost_handler_actions_refused_total', `handler="hostile".*${action}`);
/** Resident memory of a process, in MiB. */
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

let server;
before(async () => {
  server = await startServer({
    config: `[api]\nkeys = ["${KEY}"]\n[handlers.limits]\nmax_instances = 1\nmax_waiting = 2\n`,
    handlers: ['hostile', 'echo'],
    // The handler's own sidecar asks for more than the operator allows.
    sidecars: { hostile: '[limits]\nmemory_mb = 4096\nmax_instances = 64\ncall_timeout_ms = 1500\n' },
  });
});
after(async () => {
  closeAll();
  await server.stop();
});

/** The echo handler and the built-ins still answer, for an old client and a new one. */
async function stillServing(socket) {
  assert.deepEqual(await ask(socket, 'message-with-ack', 'still', 'here'), 'still');
  const fresh = await connect(server.url);
  assert.equal((await ask(fresh, 'get-rooms')).success, true);
}

describe('a hostile handler', () => {
  it('cannot put sockets in iohost\'s rooms or emit into them; its other actions still happen', async () => {
    const victim = await connect(server.url);
    const fakes = collect(victim, 'article:update');
    const s = await connect(server.url);
    const before = await refusedCount(server);
    for (const room of ['io-role-admin', 'io-token-dashboard', 'user-1', 'api::article.article:doc1', 'io-entity-public-api::article.article:doc1']) {
      assert.deepEqual(await ask(s, 'hostile:join', room), { asked: room });
    }
    assert.deepEqual((await ask(s, 'get-rooms')).rooms, ['io-role-public'], 'in none of them');
    assert.deepEqual(await ask(s, 'hostile:join', 'chat-room-1'), { asked: 'chat-room-1' });
    assert.deepEqual((await ask(s, 'get-rooms')).rooms.sort(), ['chat-room-1', 'io-role-public'], 'an ordinary room is fine');
    await ask(s, 'hostile:emit', { room: 'io-role-public', event: 'article:update' });
    await ask(victim, 'get-rooms');
    await sleep(100);
    assert.deepEqual(fakes, [], 'no forged content event reaches a role room');
    assert.equal((await refusedCount(server)) - before, 6, 'every refusal counted');
    await server.waitForLog(/refused a handler's join in room `io-role-admin`: reserved for iohost/);
    await stillServing(s);
  });

  it('cannot make iohost copy one attachment into many places: the emit is refused as a bad payload', async () => {
    // 8 MiB referred to from 100000 places would be 800 GB once expanded.
    const s = await connect(server.url);
    const got = collect(s, 'hostile:fanout');
    assert.deepEqual(await ask(s, 'hostile:fanout', 8), { asked: 8 });
    await server.waitForLog(/handler emitted a bad payload, dropped: payload refers to attachment 0 more than once/);
    assert.deepEqual(got, [], 'nothing was sent (its actions are carried out before its ack)');
    await stillServing(s);
  });

  it('an operator can grant reserved rooms', async () => {
    const granted = await startServer({ config: '[handlers.reserved_rooms]\nhostile = ["io-role-*"]\n', handlers: ['hostile'] });
    try {
      const victim = await connect(granted.url);
      const got = collect(victim, 'notice');
      const s = await connect(granted.url);
      await ask(s, 'hostile:emit', { room: 'io-role-public', event: 'notice' });
      assert.ok(await until(() => got.length === 1), 'granted: delivered');
      await ask(s, 'hostile:join', 'io-role-admin');
      assert.ok((await ask(s, 'get-rooms')).rooms.includes('io-role-admin'));
      await ask(s, 'hostile:join', 'user-5');
      assert.ok(!(await ask(s, 'get-rooms')).rooms.includes('user-5'), 'only what was granted');
    } finally {
      closeAll();
      await granted.stop();
    }
  });

  it('never sees other sockets\' auth objects', async () => {
    const other = await connect(server.url, { auth: { token: 'someone-elses-secret', name: 'other' } });
    const s = await connect(server.url, { auth: { name: 'me' } });
    const { auth } = await ask(s, 'hostile:peek', 'io-role-public');
    assert.ok(auth.length >= 2, JSON.stringify(auth));
    assert.ok(auth.every((a) => JSON.stringify(a) === '{}'), JSON.stringify(auth));
    other.close();
  });

  it('cannot raise its own limits from its sidecar', async () => {
    const stats = await handlerStats(server, 'hostile');
    assert.equal(stats.limits.memory_mb, 32, 'the operator\'s ceiling, not the 4096 asked');
    assert.equal(stats.limits.max_instances, 1);
    assert.equal(stats.limits.call_timeout_ms, 1500, 'lowering is fine');
    await server.waitForLog(/the sidecar asks for more than \[handlers.limits\] allows \(memory_mb, max_instances\)/);
  });

  it('events piling up behind a busy handler are refused as busy, not queued without end', async () => {
    const s = await connect(server.url);
    // One instance (max_instances = 1): one holds it, two wait (max_waiting = 2), the rest are
    // refused. Each holds it for 1 s (a third under its 1.5 s call limit, so a slow machine
    // does not turn a hold into a timeout), so all six have arrived before the first is done.
    const answers = await Promise.all(Array.from({ length: 6 }, () => s.timeout(15000).emitWithAck('hostile:hold', 1000)));
    const held = answers.filter((a) => a.held === true).length;
    const busy = answers.filter((a) => /^handler `hostile` is busy: 2 events are waiting for it already/.test(a.error ?? ''));
    assert.equal(held, 3, JSON.stringify(answers));
    assert.equal(busy.length, 3, JSON.stringify(answers));
    assert.equal((await handlerStats(server, 'hostile')).busy, 3);
    await stillServing(s);
  });

});

describe('memory and KV a hostile handler makes iohost hold', () => {
  it('stay within the limits: instances over the idle budget are dropped, KV writes past the quota fail', async () => {
    const greedy = await startServer({
      config: `[api]\nkeys = ["${KEY}"]\n[handlers.limits]\nmax_instances = 4\nidle_memory_mb = 30\nkv_keys = 1000\nkv_mb = 4\n`,
      handlers: ['hostile', 'echo'],
    });
    try {
      const sockets = await Promise.all(Array.from({ length: 4 }, () => connect(greedy.url)));
      await ask(sockets[0], 'hostile:hold', 0);
      const before = rssMiB(greedy.pid);
      // Every instance grows by 28 MiB (4 at once: 112 MiB if all were kept); a second grow
      // of the same instance passes its 32 MB cap.
      const answers = await Promise.all(sockets.flatMap((s) => [ask(s, 'hostile:grow', 28), ask(s, 'hostile:grow', 28)]));
      for (const a of answers) {
        assert.ok(a.grown === 28 || /^handler `hostile` failed: it used more than its 32 MB memory limit$/.test(a.error), JSON.stringify(a));
      }
      assert.ok(answers.some((a) => a.grown === 28), JSON.stringify(answers));
      assert.match((await ask(sockets[0], 'hostile:grow', 40)).error, /used more than its 32 MB memory limit/);
      const stats = await handlerStats(greedy, 'hostile');
      assert.ok(stats.idleMemoryBytes <= 30 * 1024 * 1024, JSON.stringify(stats));
      assert.ok(stats.idleInstances <= 1, JSON.stringify(stats));

      // 1,000 keys of 8 KiB would be 8 MiB: the 4 MiB quota stops it, nothing else does.
      const filled = await ask(sockets[1], 'hostile:kv', { count: 1000, bytes: 8192 });
      assert.ok(filled.stored > 400 && filled.stored < 520, JSON.stringify(filled));
      assert.match(filled.error, /over quota: this write would make \d+ keys of \d+ bytes, at most 1000 keys of 4194304 bytes are allowed/);
      assert.equal(await refusedCount(greedy, 'action="kv"'), 1);
      // Small values: the 1,000-key quota stops it (the keys already there are overwritten).
      const keys = await ask(sockets[1], 'hostile:kv', { count: 2000, bytes: 1 });
      assert.equal(keys.stored, 1000, JSON.stringify(keys));
      assert.match(keys.error, /would make 1001 keys/);

      const after = rssMiB(greedy.pid);
      const budget = 30 + 4 + 32; // idle instances + KV + one running instance
      console.log(`hostile: RSS ${before.toFixed(1)} -> ${after.toFixed(1)} MiB (+${(after - before).toFixed(1)}; idle budget 30 MiB, KV 4 MiB, one 32 MB instance) after ${answers.length} grows of 28 MiB and a KV flood; ${stats.idleInstances} idle instance(s) hold ${(stats.idleMemoryBytes / 1048576).toFixed(1)} MiB`);
      assert.ok(after - before < budget + 24, `RSS grew by ${(after - before).toFixed(1)} MiB`);
      assert.deepEqual(await ask(sockets[2], 'message-with-ack', 'still', 'here'), 'still');
    } finally {
      closeAll();
      await greedy.stop();
    }
  });
});

describe('the compile cache', () => {
  it('runs no native code it did not write for that handler: an entry copied to another name is refused and compiled again', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'iohost-cache-'));
    const env = { IOHOST_HANDLERS__CACHE_DIR: cache };
    const first = await startServer({ handlers: ['echo', 'hostile'], env });
    await first.stop();
    assert.equal(statSync(join(cache, 'cache.key')).mode & 0o777, 0o600, 'a private key');
    const entry = (name) => {
      const sha = createHash('sha256').update(readFileSync(join(builtHandlers, `${name}.wasm`))).digest('hex');
      const file = readdirSync(cache).find((f) => f.startsWith(sha) && f.endsWith('.cwasm'));
      assert.ok(file, `${name} was cached: ${readdirSync(cache)}`);
      return join(cache, file);
    };
    // The hostile handler's native code, under the echo handler's name.
    copyFileSync(entry('hostile'), entry('echo'));
    const second = await startServer({ handlers: ['echo', 'hostile'], env });
    try {
      await second.waitForLog(/ignoring a compile cache entry, compiling again: its authentication tag does not match/);
      assert.equal(await counter(second, 'iohost_handler_cache_rejected_total'), 1);
      const s = await connect(second.url);
      assert.deepEqual(await ask(s, 'message-with-ack', 'echo', 'runs'), 'echo', 'the echo handler runs its own code');
    } finally {
      closeAll();
      await second.stop();
    }
  });
});

describe('a component that takes too long to load', () => {
  it('fails after load_timeout_ms; start, other handlers and settings changes do not wait for it', async () => {
    // The 12 MB JavaScript example as new content (an extra custom section: nothing cached),
    // which takes tens of seconds to compile in this debug build, far past 3 s; echo comes
    // from the tests' compile cache at once.
    const dir = mkdtempSync(join(tmpdir(), 'iohost-slow-'));
    const moderation = readFileSync(join(builtHandlers, 'moderation.wasm'));
    const name = Buffer.from(`iohost-test-${process.pid}-${Date.now()}`);
    writeFileSync(join(dir, 'slow.wasm'), Buffer.concat([moderation, Buffer.from([0, name.length + 1, name.length]), name]));
    installHandler(dir, 'echo');
    const slow = await startServer({
      config: `[api]\nkeys = ["${KEY}"]\n`,
      env: { IOHOST_HANDLERS__DIR: dir, IOHOST_HANDLERS__LOAD_TIMEOUT_MS: '3000' },
    });
    try {
      const { loadErrors, handlers } = await (await api(slow, '/handlers')).json();
      assert.match(loadErrors.slow, /^loading took longer than handlers.load_timeout_ms \(3000 ms\)$/);
      assert.deepEqual(handlers.map((h) => h.name), ['echo']);
      // While the abandoned compile still runs, another handler's settings apply.
      const put = await api(slow, '/settings', { method: 'PUT', body: JSON.stringify({ handlerConfig: { echo: { note: 1 } } }) });
      assert.equal(put.status, 200, await put.text());
      const s = await connect(slow.url);
      assert.deepEqual(await ask(s, 'message-with-ack', 'served'), 'served');
      const after = await (await api(slow, '/handlers')).json();
      assert.deepEqual(after.handlers.map((h) => h.name), ['echo'], 'slow has not loaded meanwhile');
    } finally {
      closeAll();
      await slow.stop();
    }
  });
});

describe('files that are not files', () => {
  it('a FIFO, a device and a folder named *.wasm are refused at once; start, the API and settings are not held up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iohost-special-'));
    const handlers = join(dir, 'handlers');
    mkdirSync(handlers);
    execFileSync('mkfifo', [join(handlers, 'stuck.wasm')]);
    symlinkSync('/dev/zero', join(handlers, 'zero.wasm'));
    mkdirSync(join(handlers, 'folder.wasm'));
    installHandler(handlers, 'echo');
    execFileSync('mkfifo', [join(handlers, 'echo.toml')]);
    const special = await startServer({ config: `[api]\nkeys = ["${KEY}"]\n`, env: { IOHOST_HANDLERS__DIR: handlers } });
    try {
      const { loadErrors } = await (await api(special, '/handlers')).json();
      assert.match(loadErrors.stuck, /stuck.wasm is a FIFO, not a file/);
      assert.match(loadErrors.zero, /zero.wasm is a device, not a file/);
      assert.match(loadErrors.folder, /folder.wasm is a folder, not a file/);
      assert.match(loadErrors.echo, /echo.toml is a FIFO, not a file/, 'sidecars too');
      // A FIFO appearing later is refused as fast, and settings changes go through meanwhile.
      execFileSync('mkfifo', [join(handlers, 'late.wasm')]);
      assert.ok(await until(async () => /a FIFO/.test((await (await api(special, '/handlers')).json()).loadErrors.late ?? ''), 5000));
      const put = await api(special, '/settings', { method: 'PUT', body: JSON.stringify({ disabledHandlers: ['late'] }) });
      assert.equal(put.status, 200);
      assert.ok((await connect(special.url)).connected);
    } finally {
      closeAll();
      await special.stop();
    }
  });
});
