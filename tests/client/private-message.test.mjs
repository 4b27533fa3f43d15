// `private-message`: off by default; when on, socket to socket within a namespace.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { once, startServer } from '../lib/server.mjs';

let on;
let off;
before(async () => {
  [on, off] = await Promise.all([
    startServer({ config: '[private_messages]\nenabled = true\nmax_length = 20\n' }),
    startServer({ config: '' }),
  ]);
});
after(async () => {
  closeAll();
  await Promise.all([on.stop(), off.stop()]);
});

describe('private-message', () => {
  it('is refused while disabled (the default)', async () => {
    const [a, b] = await Promise.all([connect(off.url), connect(off.url)]);
    const reply = await ask(a, 'private-message', { to: b.id, message: 'hi' });
    assert.equal(reply.success, false);
    assert.match(reply.error, /disabled/);
  });

  it('delivers {from, fromUser, message, timestamp} to the target only', async () => {
    const [a, b, c] = await Promise.all([connect(on.url), connect(on.url), connect(on.url)]);
    let cGotOne = false;
    c.on('private-message', () => (cGotOne = true));
    const received = once(b, 'private-message');
    assert.deepEqual(await ask(a, 'private-message', { to: b.id, message: 'hello b' }), { success: true });
    const msg = await received;
    assert.equal(msg.from, a.id);
    assert.equal(msg.fromUser, null);
    assert.equal(msg.message, 'hello b');
    assert.ok(Math.abs(msg.timestamp - Date.now()) < 60000);
    await ask(c, 'get-rooms');
    assert.equal(cGotOne, false);
  });

  it('checks the target and the message', async () => {
    const a = await connect(on.url);
    assert.match((await ask(a, 'private-message', { to: 'nobody', message: 'x' })).error, /no socket `nobody`/);
    assert.match((await ask(a, 'private-message', { to: a.id, message: '' })).error, /1 to 20 characters/);
    assert.match((await ask(a, 'private-message', { to: a.id, message: 'x'.repeat(21) })).error, /1 to 20/);
    assert.match((await ask(a, 'private-message', { message: 'x' })).error, /`to`/);
    assert.match((await ask(a, 'private-message', 'just a string')).error, /`to`/);
  });
});
