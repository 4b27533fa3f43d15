// Per-handler failure policy ([handlers.failure]): after `disable_after` consecutive faults a
// handler is switched off (not run any more): under fail_closed its events are refused, under
// fail_open they pass on down the chain. The switch-off is a run-time setting
// (faultedHandlers): it survives a restart, reaches every node of a cluster, and ends when
// the handler is enabled by hand or a new version of its file is installed. A normal answer
// in between starts the count again; `busy` refusals are not faults.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { ask, closeAll, connect, until } from '../lib/client.mjs';
import { startRedis } from '../lib/redis.mjs';
import { installHandler, startServer } from '../lib/server.mjs';

const KEY = 'failure-policy-key-0123456789abcdef0123456789';
const servers = [];
let redis;
after(async () => {
  closeAll();
  await Promise.all(servers.map((s) => s.stop()));
  await redis?.stop();
});

async function start(options) {
  const server = await startServer({ handlers: ['faults'], ...options });
  servers.push(server);
  return server;
}

function api(server) {
  return async (path, method = 'GET', body) => {
    const res = await fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${KEY}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return [res.status, await res.json()];
  };
}

const faultsHandler = async (server) => (await api(server)('/handlers'))[1].handlers.find((h) => h.name === 'faults');
const PANIC = /^handler `faults` failed: .*(unreachable|panic)/;
const OFF = 'handler `faults` is switched off after 3 consecutive faults';

describe('handler failure policy', () => {
  it('fail_closed: the third consecutive fault switches the handler off; its events are refused without running it, until it is enabled by hand', async () => {
    const config = `[api]\nkeys = ["${KEY}"]\n[handlers.failure.handlers.faults]\ndisable_after = 3\n`;
    const server = await start({ config });
    const s = await connect(server.url);
    // A normal answer in between starts the count again.
    for (const event of ['trap', 'trap', 'fine', 'trap', 'trap']) await ask(s, event);
    let h = await faultsHandler(server);
    assert.equal(h.consecutiveFaults, 2);
    assert.equal(h.switchedOff, null);
    assert.deepEqual(h.failure, { disableAfter: 3, onFault: 'fail_closed' });

    const third = await ask(s, 'trap');
    assert.equal(third.success, false);
    assert.match(third.error, PANIC, 'the third fault is still a real call');
    await server.waitForLog(/handler switched off after 3 consecutive faults/);
    h = await faultsHandler(server);
    assert.equal(h.switchedOff.faults, 3);
    assert.match(h.switchedOff.error, PANIC);
    const calls = h.calls;
    // Every event of the handler is refused now, even one it would have answered.
    assert.deepEqual(await ask(s, 'fine'), { success: false, error: OFF });
    assert.deepEqual(await ask(s, 'trap'), { success: false, error: OFF });
    assert.equal((await faultsHandler(server)).calls, calls, 'the handler was not run');
    // Other events and other clients are not affected.
    assert.equal((await ask(s, 'get-rooms')).success, true);

    // The setting records the version that faulted (written just after the switch-off); it
    // survives a restart.
    const recorded = async () => Object.keys((await api(server)('/settings'))[1].settings.faultedHandlers ?? {}).length === 1;
    assert.ok(await until(recorded, 5000), 'the switch-off is saved in the settings');
    // PUT /settings (the admin page sends back what it read) leaves iohost's record alone.
    assert.equal((await api(server)('/settings', 'PUT', {}))[0], 200);
    const [, settings] = await api(server)('/settings');
    assert.deepEqual(Object.keys(settings.settings.faultedHandlers), ['faults']);
    assert.equal(settings.settings.faultedHandlers.faults.version.slice(0, 12), h.version);
    await server.stop();
    const again = await start({ config, settingsFile: server.settingsFile });
    const s2 = await connect(again.url);
    assert.deepEqual(await ask(s2, 'fine'), { success: false, error: OFF }, 'still off after a restart');

    // Enabled by hand: it runs again, with a clean count.
    const [status, enabled] = await api(again)('/handlers/faults/enabled', 'PUT', { enabled: true });
    assert.equal(status, 200);
    assert.equal(enabled.settings.faultedHandlers, undefined, 'no switch-off left (an empty record is not written)');
    assert.equal(await ask(s2, 'fine'), 'fine');
    assert.match((await ask(s2, 'trap')).error, PANIC);
    h = await faultsHandler(again);
    assert.equal(h.switchedOff, null);
    assert.equal(h.consecutiveFaults, 1, 'the count started over when it was switched on');
  });

  it('a new version of the file switches it on again (the old version\'s faults no longer count)', async () => {
    const config = `[api]\nkeys = ["${KEY}"]\n[handlers.failure]\ndisable_after = 3\n`;
    const server = await start({ config, handlers: ['faults', 'echo'] });
    const s = await connect(server.url);
    for (let i = 0; i < 3; i++) await ask(s, 'spin');
    assert.deepEqual(await ask(s, 'trap'), { success: false, error: OFF });
    const old = (await faultsHandler(server)).version;
    // The echo handler's file installed as `faults`: another version.
    installHandler(server.handlersDir, 'echo', 'faults');
    assert.ok(await until(async () => (await faultsHandler(server))?.version !== old, 60000), 'the new version loads');
    assert.equal((await faultsHandler(server)).switchedOff, null);
    assert.ok(await until(async () => Object.keys((await api(server)('/settings'))[1].settings.faultedHandlers ?? {}).length === 0, 5000), 'the setting is cleared');
    assert.equal(await ask(s, 'message-with-ack', 'new'), 'new', 'the new version serves');
  });

  it('fail_open: a fault lets the event go on down the chain, and so does a switched-off handler', async () => {
    const config = `[api]\nkeys = ["${KEY}"]\n[handlers.failure]\ndisable_after = 2\non_fault = "fail_open"\n`;
    const server = await start({ config });
    const s = await connect(server.url);
    // Nothing after the faults handler takes `trap`: the built-ins say so.
    const passed = { success: false, error: 'no handler for event `trap`' };
    assert.deepEqual(await ask(s, 'trap'), passed);
    assert.deepEqual(await ask(s, 'trap'), passed);
    await server.waitForLog(/handler switched off after 2 consecutive faults/);
    const h = await faultsHandler(server);
    assert.deepEqual(h.failure, { disableAfter: 2, onFault: 'fail_open' });
    assert.equal(h.switchedOff.faults, 2);
    // Switched off: `fine` is not answered by it any more, it passes on as well.
    assert.deepEqual(await ask(s, 'fine'), { success: false, error: 'no handler for event `fine`' });
    assert.equal((await faultsHandler(server)).calls, h.calls);
  });

  it('disable_after = 0: never switched off', async () => {
    const config = `[api]\nkeys = ["${KEY}"]\n[handlers.failure]\ndisable_after = 0\n`;
    const server = await start({ config });
    const s = await connect(server.url);
    for (let i = 0; i < 25; i++) assert.match((await ask(s, 'trap')).error, PANIC);
    const h = await faultsHandler(server);
    assert.equal(h.consecutiveFaults, 25);
    assert.equal(h.switchedOff, null);
  });

  it('in a cluster, a handler switched off on one node is off on every node, and enabled on all from one', async () => {
    redis = await startRedis();
    const config = `[api]\nkeys = ["${KEY}"]\n[cluster]\nredis_url = "redis://127.0.0.1:${redis.port}"\nprefix = "failure-${process.pid}"\n[handlers.failure.handlers.faults]\ndisable_after = 3\n`;
    const a = await start({ config });
    const b = await start({ config });
    const onA = await connect(a.url);
    const onB = await connect(b.url);
    assert.equal(await ask(onB, 'fine'), 'fine');
    for (let i = 0; i < 3; i++) await ask(onA, 'trap');
    assert.ok(await until(async () => (await faultsHandler(b)).switchedOff !== null, 5000), 'node B switched it off too');
    assert.deepEqual(await ask(onB, 'fine'), { success: false, error: OFF });
    // Enabled through node B's API: node A runs it again.
    assert.equal((await api(b)('/handlers/faults/enabled', 'PUT', { enabled: true }))[0], 200);
    assert.ok(await until(async () => (await faultsHandler(a)).switchedOff === null, 5000), 'node A switched it on');
    // Its count started over: one fault now is not the fourth in a row.
    assert.match((await ask(onA, 'trap')).error, PANIC);
    assert.equal(await ask(onA, 'fine'), 'fine');
  });
});
