// Engine.IO v4 wire behaviour, as the official socket.io-protocol suite checks it
// (conformance profile: ping 300 ms / timeout 200 ms, max payload 1,000,000).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';

import { startConformanceServer } from '../lib/conformance.mjs';
import { decodePayload, engineUrl, openSession, openUpgrade, wsUrl } from '../lib/raw.mjs';
import { sleep } from '../lib/server.mjs';

let server;
before(async () => {
  server = await startConformanceServer();
});
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, 'graceful shutdown exits 0');
});

describe('handshake', () => {
  it('polling: 200 and an open packet with exactly sid, upgrades, pingInterval, pingTimeout, maxPayload', async () => {
    const res = await fetch(engineUrl(server.url));
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.equal(body[0], '0');
    const open = JSON.parse(body.slice(1));
    assert.deepEqual(Object.keys(open).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
    assert.equal(typeof open.sid, 'string');
    assert.deepEqual(open.upgrades, ['websocket']);
    assert.equal(open.pingInterval, 300);
    assert.equal(open.pingTimeout, 200);
    assert.equal(open.maxPayload, 1000000);
  });

  it('websocket: the first frame is an open packet with no upgrades', async () => {
    const ws = new WebSocket(wsUrl(server.url));
    const [frame] = await new Promise((res) => ws.once('message', (...a) => res(a)));
    ws.close();
    const text = frame.toString();
    assert.equal(text[0], '0');
    const open = JSON.parse(text.slice(1));
    assert.deepEqual(open.upgrades, []);
    assert.equal(open.pingInterval, 300);
  });

  for (const [name, query] of [
    ['no EIO', 'transport=polling'],
    ['an unknown EIO', 'EIO=abc&transport=polling'],
    ['no transport', 'EIO=4'],
    ['an unknown transport', 'EIO=4&transport=carrier-pigeon'],
  ]) {
    it(`answers 400 to ${name}`, async () => {
      const res = await fetch(engineUrl(server.url, query));
      assert.equal(res.status, 400);
    });
  }

  for (const method of ['POST', 'PUT']) {
    it(`answers 400 to ${method} without sid`, async () => {
      const res = await fetch(engineUrl(server.url), { method, body: '40' });
      assert.equal(res.status, 400);
    });
  }

  it('answers 400 to an unknown sid', async () => {
    const res = await fetch(engineUrl(server.url, 'EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAA'));
    assert.equal(res.status, 400);
  });
});

describe('heartbeat', () => {
  it('polling: sends ping 2, accepts pong 3 and keeps the session', async () => {
    const s = await openSession(server.url, 'polling', { autoPong: false });
    for (let i = 0; i < 3; i++) {
      assert.equal(await s.next(1000), '2');
      assert.equal(await s.send('3'), 200);
    }
  });

  it('polling: without a pong, the sid is refused with 400 after ping interval + timeout', async () => {
    const s = await openSession(server.url, 'polling', { autoPong: false });
    assert.equal(await s.next(1000), '2');
    await sleep(700);
    const res = await fetch(s.url());
    assert.equal(res.status, 400);
  });

  it('websocket: sends ping 2, accepts pong 3', async () => {
    const s = await openSession(server.url, 'websocket', { autoPong: false });
    for (let i = 0; i < 3; i++) {
      assert.equal(await s.next(1000), '2');
      await s.send('3');
    }
    s.close();
  });

  it('websocket: without a pong, the connection is closed', async () => {
    const s = await openSession(server.url, 'websocket', { autoPong: false });
    assert.equal(await s.next(1000), '2');
    assert.equal(await s.closed(2000), true);
  });
});

describe('close', () => {
  it('polling: a pending GET returns noop 6 when the client posts close 1; the next GET is 400', async () => {
    // socketioxide pings right after the handshake: answer that ping first, so that the pending
    // GET below is answered by the close and not by a ping.
    const s = await openSession(server.url, 'polling', { autoPong: false });
    assert.equal(await s.next(), '2');
    await s.send('3');
    const pending = fetch(s.url()).then((r) => r.text());
    await sleep(50);
    assert.equal(await s.send('1'), 200);
    assert.deepEqual(decodePayload(await pending), ['6']);
    const res = await fetch(s.url());
    assert.equal(res.status, 400);
  });

  it('websocket: close 1 closes the connection', async () => {
    const s = await openSession(server.url, 'websocket');
    await s.send('1');
    assert.equal(await s.closed(1000), true);
  });
});

describe('upgrade', () => {
  it('2probe -> 3probe, then 5; polling on that sid is refused and a second websocket is closed', async () => {
    const polling = await openSession(server.url, 'polling');
    const ws = await openUpgrade(server.url, polling.sid);
    await ws.send('2probe');
    assert.equal(await ws.next(1000), '3probe');
    await ws.send('5');
    await sleep(100);
    // The session now lives on the websocket: it answers pings there.
    assert.equal(await ws.next(1000), '2');
    await ws.send('3');
    const res = await fetch(polling.url());
    assert.equal(res.status, 400);

    const second = await openUpgrade(server.url, polling.sid);
    assert.equal(await second.closed(1000), true);
    ws.close();
  });
});
