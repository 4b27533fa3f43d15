// The example handlers do what the usage guide's patterns describe, driven by socket.io-client.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { installHandler, once, sleep, startServer } from '../lib/server.mjs';

let server;
before(async () => {
  server = await startServer({
    handlers: ['presence', 'chat-typing', 'rate-limit'],
    sidecars: {
      'rate-limit': '[config]\nevents_per_minute = 60\nburst = 20\n',
      'chat-typing': '[config]\nthrottle_ms = 500\n',
    },
  });
});
after(async () => {
  closeAll();
  await server.stop();
});

const as = (name, extra = {}) => connect(server.url, { auth: { name }, ...extra });



describe('rate-limit', () => {
  it('rejects events over the bucket with a clear error, per socket', async () => {
    const [greedy, polite] = await Promise.all([as('greedy'), as('polite')]);
    const replies = [];
    for (let i = 0; i < 25; i++) replies.push(await ask(greedy, 'get-rooms'));
    const rejected = replies.filter((r) => r.success === false);
    assert.ok(rejected.length >= 4 && rejected.length <= 5, `rejected ${rejected.length} of 25 (burst 20, 1/s refill)`);
    assert.deepEqual(rejected[0], { success: false, error: 'Rate limit exceeded: at most 60 events per minute' });
    assert.equal((await ask(polite, 'get-rooms')).success, true, 'another socket has its own bucket');
    await sleep(1100);
    assert.equal((await ask(greedy, 'get-rooms')).success, true, 'the bucket refills at 1 per second');
  });

  it('also limits events other handlers would take (it runs first)', async () => {
    const s = await as('spammer');
    await ask(s, 'join-room', 'chat-room-9');
    const replies = [];
    for (let i = 0; i < 25; i++) replies.push(await ask(s, 'chat:typing', { roomId: 9 }));
    assert.ok(replies.some((r) => r.error === 'Rate limit exceeded: at most 60 events per minute'));
  });
});

describe('chat-typing', () => {
  it('tells the other members of the room, not the sender nor outsiders', async () => {
    const [alice, bob, carol] = await Promise.all([as('alice'), as('bob'), as('carol')]);
    await ask(alice, 'join-room', 'chat-room-1');
    await ask(bob, 'join-room', 'chat-room-1');
    const atAlice = collect(alice, 'chat:typing');
    const atCarol = collect(carol, 'chat:typing');
    const atBob = once(bob, 'chat:typing');
    assert.deepEqual(await ask(alice, 'chat:typing', { roomId: 1 }), { success: true });
    assert.deepEqual(await atBob, { username: 'alice', roomId: '1' });
    await ask(bob, 'get-rooms');
    assert.deepEqual(atAlice, []);
    assert.deepEqual(atCarol, []);
  });

  it('refuses sockets that are not in the room, and bad arguments', async () => {
    const carol = await as('carol2');
    assert.deepEqual(await ask(carol, 'chat:typing', { roomId: 1 }), {
      success: false,
      error: 'join chat-room-1 before typing in it',
    });
    assert.deepEqual(await ask(carol, 'chat:typing', 'lobby'), { success: false, error: 'chat:typing needs {roomId}' });
  });

  it('throttles: one indicator per throttle window', async () => {
    const [dan, erin] = await Promise.all([as('dan'), as('erin')]);
    await ask(dan, 'join-room', 'chat-room-2');
    await ask(erin, 'join-room', 'chat-room-2');
    const atErin = collect(erin, 'chat:typing');
    assert.deepEqual(await ask(dan, 'chat:typing', { roomId: '2' }), { success: true });
    assert.deepEqual(await ask(dan, 'chat:typing', { roomId: '2' }), { success: true, throttled: true });
    await sleep(600);
    assert.deepEqual(await ask(dan, 'chat:typing', { roomId: '2' }), { success: true });
    await ask(erin, 'get-rooms');
    assert.equal(atErin.length, 2);
  });
});

describe('presence', () => {
  it('announces a user once however many sockets they open, and leaves when the last closes', async () => {
    const watcher = await as('watcher');
    const online = collect(watcher, 'friend:online');
    const offline = collect(watcher, 'friend:offline');
    const tab1 = await as('frank');
    const tab2 = await as('frank');
    await ask(watcher, 'get-rooms');
    assert.deepEqual(online.filter((u) => u.username === 'frank'), [{ userId: 'guest:frank', username: 'frank' }]);

    const list = await ask(watcher, 'user:online');
    assert.equal(list.success, true);
    assert.ok(list.online.some((u) => u.username === 'frank'));
    assert.ok(list.online.some((u) => u.username === 'watcher'));
    assert.equal(list.online.filter((u) => u.username === 'frank').length, 1);

    tab1.close();
    await sleep(300);
    assert.deepEqual(offline.filter((u) => u.username === 'frank'), [], 'frank still has a tab open');
    const gone = once(watcher, 'friend:offline');
    tab2.close();
    assert.deepEqual(await gone, { userId: 'guest:frank', username: 'frank' });
    assert.ok(!(await ask(watcher, 'user:online')).online.some((u) => u.username === 'frank'));
  });

  it('keeps a member list per room, deduplicated per user', async () => {
    const [gina1, gina2, hal] = await Promise.all([as('gina'), as('gina'), as('hal')]);
    await ask(gina1, 'presence:join', 'chat-room-lobby');
    await ask(gina2, 'presence:join', 'chat-room-lobby');
    const updates = collect(gina1, 'presence:list');
    const joined = await ask(hal, 'presence:join', 'chat-room-lobby');
    assert.deepEqual(joined.users.map((u) => u.username), ['gina', 'hal']);
    assert.ok(await until(() => updates.some((u) => u.users.length === 2)));
    assert.deepEqual(updates.at(-1).users.map((u) => u.username), ['gina', 'hal']);

    const afterLeave = once(gina1, 'presence:list');
    hal.close();
    assert.deepEqual((await afterLeave).users.map((u) => u.username), ['gina']);
    assert.deepEqual((await ask(gina2, 'presence:list', 'chat-room-lobby')).users.map((u) => u.username), ['gina']);
    assert.match((await ask(gina2, 'presence:join', 'io-role-admin')).error, /presence rooms are named chat-room-/);
  });

  it('updates the member list every time a member disconnects (socketioxide may drop its rooms early)', async () => {
    for (let i = 0; i < 20; i++) {
      const room = `chat-room-race${i}`;
      const [stay, go] = await Promise.all([as('stay'), as(`go${i}`)]);
      const lists = collect(stay, 'presence:list');
      await ask(stay, 'presence:join', room);
      await ask(go, 'presence:join', room);
      assert.ok(await until(() => lists.some((l) => l.users.length === 2)), `round ${i}: join seen`);
      const seen = lists.length;
      go.close();
      assert.ok(await until(() => lists.length > seen), `round ${i}: no update after the disconnect`);
      assert.deepEqual(lists.at(-1).users.map((u) => u.username), ['stay'], `round ${i}`);
      stay.close();
    }
  });

  it('keeps its state across a reload: it lives in KV, not in the instance', async () => {
    const ivy = await as('ivy');
    assert.ok((await ask(ivy, 'user:online')).online.some((u) => u.username === 'ivy'));
    // A sidecar change reloads the handler: a new version with fresh instances.
    writeFileSync(join(server.handlersDir, 'presence.toml'), '[config]\nroom_prefix = "chat-room-"\n');
    await server.waitForLog(/handler replaced handler="presence"/);
    assert.ok((await ask(ivy, 'user:online')).online.some((u) => u.username === 'ivy'));
    // So does a new copy of the file itself (same bytes: nothing to reload; the state is kept).
    installHandler(server.handlersDir, 'presence');
    const gone = once(await as('ivy-watcher'), 'friend:offline');
    ivy.close();
    assert.deepEqual(await gone, { userId: 'guest:ivy', username: 'ivy' }, 'the count from before the reload is used');
  });
});
