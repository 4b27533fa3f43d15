// What a handler may ask of clients through the 0.1.1 `sockets` import: `emit-with-ack` (each
// receiving socket's ack, or its id among those that timed out) and `emit-volatile`, under the
// same rules as its other emits (iohost's reserved rooms refused) and bounded waits (1-10000 ms
// a wait, `ack_wait_ms` for all of one call's waits, not counted in its time limit).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect } from '../lib/client.mjs';
import { sleep, startServer } from '../lib/server.mjs';

let server;
before(async () => {
  server = await startServer({
    handlers: ['hostile', 'echo'],
    // call_timeout_ms stays short: waiting for acks is not the guest's running time.
    sidecars: { hostile: '[limits]\nack_wait_ms = 600\ncall_timeout_ms = 200\n' },
  });
});
after(async () => {
  closeAll();
  await server.stop();
});

/** A socket in `room` that answers `hostile:question` with `answer` (none: it stays silent). */
async function member(room, answer) {
  const s = await connect(server.url);
  assert.equal((await ask(s, 'join-room', room)).success, true);
  if (answer !== undefined) s.on('hostile:question', (question, ack) => ack({ answer, question }));
  return s;
}

describe('emit-with-ack from a handler', () => {
  it('gathers every answering socket\'s ack and names the ones that timed out', async () => {
    const ann = await member('quiz', 'A');
    const bob = await member('quiz', 'B');
    const silent = await member('quiz');
    const reply = await ask(ann, 'hostile:ask', { room: 'quiz', timeoutMs: 300 });
    assert.equal(reply.error, undefined, reply.error);
    const [round] = reply.rounds;
    const byId = Object.fromEntries(round.answered.map((a) => [a.socket, a.args]));
    assert.deepEqual(byId, {
      [ann.id]: [{ answer: 'A', question: 'question?' }],
      [bob.id]: [{ answer: 'B', question: 'question?' }],
    });
    assert.deepEqual(round.timedOut, [silent.id]);
    assert.equal(round.leftOut, 0);
  });

  it('asks one socket by id', async () => {
    const ann = await member('solo', 'only-me');
    const other = await member('solo', 'not-me');
    const asked = collect(other, 'hostile:question');
    const reply = await ask(other, 'hostile:ask', { to: ann.id, timeoutMs: 1000 });
    assert.deepEqual(reply.rounds, [{ answered: [{ socket: ann.id, args: [{ answer: 'only-me', question: 'question?' }] }], timedOut: [], leftOut: 0 }]);
    assert.deepEqual(asked, [], 'only the socket named was asked');
  });

  it('refuses iohost\'s reserved rooms and timeouts out of 1-10000 ms, asking nobody', async () => {
    const s = await member('refusals', 'x');
    const asked = collect(s, 'hostile:question');
    assert.deepEqual(await ask(s, 'hostile:ask', { room: 'io-role-public' }), {
      rounds: [],
      error: 'room `io-role-public` is reserved for iohost (grant it with [handlers.reserved_rooms])',
    });
    for (const timeoutMs of [0, 10001]) {
      assert.deepEqual(await ask(s, 'hostile:ask', { room: 'refusals', timeoutMs }), {
        rounds: [],
        error: `timeout-ms must be 1 to 10000, not ${timeoutMs}`,
      });
    }
    await ask(s, 'get-rooms');
    assert.deepEqual(asked, []);
  });

  it('bounds all of one call\'s waits by ack_wait_ms, beyond its time limit', async () => {
    // Each wait for the silent socket lasts its whole 300 ms; the call's budget is 600 ms, so
    // the third wait is refused. The call ran longer than call_timeout_ms (200) and still
    // returned normally: waiting is not running.
    const silent = await member('budget');
    const reply = await ask(silent, 'hostile:ask', { room: 'budget', timeoutMs: 300, times: 5 });
    assert.equal(reply.rounds.length, 2, JSON.stringify(reply));
    for (const round of reply.rounds) assert.deepEqual(round, { answered: [], timedOut: [silent.id], leftOut: 0 });
    assert.equal(reply.error, 'this call waited 600 ms for acks already, the most [handlers.limits] ack_wait_ms allows');
    assert.deepEqual(await ask(silent, 'message-with-ack', 'still'), 'still');
  });
});

describe('what clients answer is bounded', () => {
  it('at most 1 MiB of acks comes back to the handler; the rest is counted in leftOut', async () => {
    // Three sockets answer 400 KiB each: two fit in 1 MiB, the third is left out.
    const big = 'x'.repeat(400 * 1024);
    const sockets = [];
    for (let i = 0; i < 3; i++) sockets.push(await member('big-answers', big));
    const reply = await ask(sockets[0], 'hostile:ask', { room: 'big-answers', timeoutMs: 2000 });
    const [round] = reply.rounds;
    assert.equal(round.answered.length, 2, 'two fit');
    assert.equal(round.leftOut, 1);
    assert.deepEqual(round.timedOut, []);
  });
});

describe('volatile emits from a handler', () => {
  it('reach ready clients in a room; iohost\'s reserved rooms are refused', async () => {
    const ann = await member('fast');
    const outsider = await connect(server.url);
    const atAnn = collect(ann, 'hostile:fast');
    const atOutsider = collect(outsider, 'hostile:fast');
    assert.deepEqual(await ask(ann, 'hostile:volatile', { room: 'fast' }), { asked: 'fast' });
    await ask(ann, 'hostile:volatile', { room: 'io-role-public' });
    // A barrier: the handler's actions are carried out before its ack is sent.
    await ask(outsider, 'get-rooms');
    await sleep(50);
    assert.deepEqual(atAnn, [{ from: ann.id }]);
    assert.deepEqual(atOutsider, [], 'not through the reserved role room');
    await server.waitForLog(/refused a handler's emit in room `io-role-public`/);
  });
});
