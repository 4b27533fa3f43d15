// Hot reload under load: while 50 clients keep sending events, a handler is dropped in,
// replaced by rename, replaced by an in-place write, broken (corrupt bytes, wrong world) and
// deleted. Behaviour follows the folder within a second, no client is disconnected and every
// event gets its answer; a broken file never replaces the working version.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { closeAll, connect } from '../lib/client.mjs';
import { builtHandlers, installHandler, sleep, startServer } from '../lib/server.mjs';

const CLIENTS = 50;
let server;
let clients;
let running = true;
let sent = 0;
let answered = 0;
let unanswered = 0;
let disconnects = 0;
const latest = new Map(); // client index -> last answer's version

function versionOf(answer) {
  if (answer?.version) return answer.version;
  if (answer?.error === 'no handler for event `probe`') return 'none';
  return `unexpected: ${JSON.stringify(answer)}`;
}

/** Each client sends `probe` with an ack, again and again, until the test ends. */
async function pump(socket, index) {
  while (running) {
    sent++;
    try {
      const answer = await socket.timeout(5000).emitWithAck('probe', index);
      answered++;
      latest.set(index, versionOf(answer));
    } catch {
      unanswered++; // no ack within 5 s: counted, and fails the last test
    }
    await sleep(5);
  }
}

/** Waits until every client's latest answer is `version`; returns how long that took. */
async function allSee(version, ms = 5000) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    const seen = [...latest.values()];
    if (seen.length === CLIENTS && seen.every((v) => v === version)) return Date.now() - start;
    await sleep(10);
  }
  assert.fail(`not every client sees "${version}" after ${ms} ms: ${JSON.stringify(Object.fromEntries(latest))}`);
}

/** For `ms`, every answer stays `version`. */
async function stays(version, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const v of latest.values()) assert.equal(v, version);
    await sleep(20);
  }
}

let pumps;
before(async () => {
  // Baseline code first (the default), and a cache of its own: every version is compiled and
  // then also switches to its optimised code under load.
  server = await startServer({
    config: '[handlers]\ndebounce_ms = 100\nbaseline_first = true\n',
    env: { IOHOST_HANDLERS__CACHE_DIR: mkdtempSync(join(tmpdir(), 'iohost-reload-cache-')) },
  });
  clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(server.url, { transports: ['websocket'] })));
  for (const c of clients) c.on('disconnect', () => disconnects++);
  pumps = clients.map((c, i) => pump(c, i));
});
after(async () => {
  running = false;
  await Promise.allSettled(pumps);
  closeAll();
  await server.stop();
});

describe('hot reload with 50 clients sending', () => {
  const file = () => join(server.handlersDir, 'probe.wasm');
  const timings = {};

  it('starts with no handler: the event is answered "no handler"', async () => {
    await allSee('none');
  });

  it('picks up a dropped-in handler', async () => {
    installHandler(server.handlersDir, 'probe-a', 'probe');
    timings.drop = await allSee('a');
  });

  it('moves it from baseline to optimised code while events flow', async () => {
    await server.waitForLog(/handler runs optimised code handler="probe"/, 60000);
    await stays('a', 300);
  });

  it('replaces it when a new version is renamed over it', async () => {
    installHandler(server.handlersDir, 'probe-b', 'probe');
    timings.rename = await allSee('b');
  });

  it('replaces it when the file is rewritten in place (partial writes included)', async () => {
    const bytes = readFileSync(join(builtHandlers, 'probe-a.wasm'));
    const half = Math.floor(bytes.length / 2);
    writeFileSync(file(), bytes.subarray(0, half)); // a half-written file first ...
    await sleep(300);
    assert.ok([...latest.values()].every((v) => v === 'b'), 'a partial file does not replace the working version');
    writeFileSync(file(), bytes); // ... then the whole of it
    timings.inPlace = await allSee('a');
  });

  it('keeps the working version when the file is corrupt', async () => {
    const tmp = join(server.handlersDir, '.corrupt');
    writeFileSync(tmp, Buffer.from('this is not webassembly'));
    renameSync(tmp, file());
    await server.waitForLog(/cannot load handler: not a WebAssembly component.*keeps serving/);
    await stays('a', 500);
  });

  it('reads the folder once per change: no reload loop after a load or a failed load', async () => {
    // Reading a file is a folder event too; reacting to it would reload, read, and go round.
    const count = (pattern) => (server.logs().match(pattern) ?? []).length;
    const failed = /cannot load handler: not a WebAssembly component/g;
    const unchanged = /handler files unchanged/g;
    const before = [count(failed), count(unchanged)];
    await sleep(1000);
    assert.deepEqual([count(failed), count(unchanged)], before, 'the corrupt file was loaded again without a change');
  });

  it('keeps the working version when the component is built against another world', async () => {
    installHandler(server.handlersDir, 'probe-b', 'probe');
    await allSee('b');
    installHandler(server.handlersDir, 'wrong-world', 'probe');
    await server.waitForLog(/cannot load handler: does not fit the iohost:handler world.*keeps serving/);
    await stays('b', 500);
  });

  it('unloads the handler when its file is deleted', async () => {
    rmSync(file());
    timings.delete = await allSee('none');
  });

  it('lost no event and disconnected no client', async () => {
    running = false;
    await Promise.all(pumps);
    assert.equal(disconnects, 0);
    assert.equal(unanswered, 0, `${unanswered} events got no answer within 5 s`);
    assert.equal(answered, sent, `${sent - answered} events without an answer`);
    assert.ok(sent > CLIENTS * 20, `only ${sent} events were sent`);
    // Diagnostics, not assertions: how long each change took to reach every client.
    console.log(`reload timings (ms, until all ${CLIENTS} clients saw it): ${JSON.stringify(timings)}; events: ${sent}`);
  });
});
