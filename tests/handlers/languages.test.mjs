// Handlers written in JavaScript (examples-wasm/moderation, componentize-js) and Python
// (examples-wasm/order-status, componentize-py) load, run in the same chain as Rust ones, keep
// state in KV, and hot-reload like them.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { installHandler, startServer } from '../lib/server.mjs';

after(closeAll);

describe('a JavaScript handler (moderation)', () => {
  it('drops banned messages before the Rust chat handler, warns, and disconnects repeat offenders', async () => {
    const server = await startServer({
      handlers: ['moderation', 'chat-messages'],
      sidecars: { moderation: '[config]\nbanned = ["spam", "Scam"]\nmax_strikes = 2\n' },
    });
    try {
      const alice = await connect(server.url);
      const bob = await connect(server.url);
      await ask(alice, 'join-room', 'chat-room-1');
      await ask(bob, 'join-room', 'chat-room-1');
      const atBob = collect(bob, 'chat:message');
      const warnings = collect(alice, 'moderation:warning');

      const clean = await ask(alice, 'chat:message', { roomId: 1, text: 'hello' });
      assert.equal(clean.success, true, JSON.stringify(clean));
      assert.ok(await until(() => atBob.length === 1), 'a clean message reaches the Rust handler and the room');

      assert.deepEqual(await ask(alice, 'chat:message', { roomId: 1, text: 'cheap SCAM here' }), {
        success: false,
        error: 'message dropped: it contains a banned word (scam)',
      });
      assert.ok(await until(() => warnings.length === 1));
      assert.deepEqual(warnings[0], { reason: 'banned word: scam', strikes: 1, maxStrikes: 2 });
      assert.equal(atBob.length, 1, 'the dropped message never reached the room');

      const gone = new Promise((r) => alice.once('disconnect', r));
      await ask(alice, 'chat:message', { roomId: 1, text: 'more spam' }).catch(() => {});
      assert.equal(await gone, 'io server disconnect', 'the second strike disconnects');
      assert.ok(bob.connected);
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('a bad config keeps it from loading, with init\'s reason in the log', async () => {
    const server = await startServer({ handlers: ['moderation'], sidecars: { moderation: '[config]\nbanned = "spam"\n' } });
    try {
      await server.waitForLog(/config.banned must be a list of non-empty strings/, 60000);
      const s = await connect(server.url);
      assert.match((await ask(s, 'chat:message', { text: 'spam' })).error, /no handler for event/);
    } finally {
      closeAll();
      await server.stop();
    }
  });
});

describe('a Python handler (order-status)', () => {
  it('turns an order update into a friendly message, refuses other senders, and hot-reloads', async () => {
    const server = await startServer({
      handlers: ['order-status'],
      sidecars: { 'order-status': '[config]\nsenders = ["public"]\n' },
    });
    try {
      const shop = await connect(server.url);
      assert.deepEqual(await ask(shop, 'order:update', { orderId: 'A-7', customerId: 7, status: 'shipped' }), {
        success: true,
        room: 'user-7',
        message: 'Good news: order A-7 is on its way.',
      });
      assert.deepEqual(await ask(shop, 'order:update', { orderId: 'A-7', customerId: '7', status: 'shipped' }), {
        success: false,
        error: '`customerId` must be a Strapi user id (a positive integer)',
      });

      // Version 2 (other messages) renamed over it: new events get the new behaviour.
      installHandler(server.handlersDir, 'order-status-v2', 'order-status');
      assert.ok(
        await until(async () => (await ask(shop, 'order:update', { orderId: 'A-8', customerId: 7, status: 'shipped' })).message === 'Order A-8 has left our warehouse (v2).', 60000),
        'the new version answers',
      );
      // A sidecar that no longer lists Public as a sender: the update is refused with why.
      writeFileSync(join(server.handlersDir, 'order-status.toml'), '[config]\nsenders = ["admin"]\n');
      assert.ok(
        await until(async () => (await ask(shop, 'order:update', { orderId: 'A-9', customerId: 7, status: 'shipped' })).error === 'role `public` may not send order updates', 60000),
        'other senders are refused',
      );
    } finally {
      closeAll();
      await server.stop();
    }
  });
});
