// Socket.IO v5 wire behaviour over both transports, as the official socket.io-protocol suite
// checks it, against the conformance profile (namespaces / and /custom, echo events).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startConformanceServer } from '../lib/conformance.mjs';
import { openSession } from '../lib/raw.mjs';

let server;
before(async () => {
  server = await startConformanceServer();
});
after(async () => {
  await server.stop();
});

/** Reads the CONNECT reply and returns its payload. */
async function connected(s, nsp = '') {
  const packet = await s.next();
  const prefix = nsp ? `40${nsp},` : '40';
  assert.ok(packet.startsWith(prefix), `expected a CONNECT for '${nsp || '/'}', got ${packet}`);
  return JSON.parse(packet.slice(prefix.length));
}

for (const transport of ['polling', 'websocket']) {
  describe(`socket.io over ${transport}`, () => {
    const open = () => openSession(server.url, transport);
    /** A session connected to `/`, past the echo handler's `auth` event. */
    const joined = async () => {
      const s = await open();
      await s.send('40');
      await connected(s);
      assert.equal(await s.next(), '42["auth",{}]');
      return s;
    };

    it('40 -> 40{sid} (only sid), then exactly 42["auth",{}]', async () => {
      const s = await open();
      await s.send('40');
      const reply = await connected(s);
      assert.deepEqual(Object.keys(reply), ['sid']);
      assert.equal(await s.next(), '42["auth",{}]');
      s.close();
    });

    it('40{"token":"123"} -> 42["auth",{"token":"123"}]', async () => {
      const s = await open();
      await s.send('40{"token":"123"}');
      await connected(s);
      assert.equal(await s.next(), '42["auth",{"token":"123"}]');
      s.close();
    });

    it('/custom works the same with its prefix', async () => {
      const s = await open();
      await s.send('40/custom,{"token":"abc"}');
      const reply = await connected(s, '/custom');
      assert.deepEqual(Object.keys(reply), ['sid']);
      assert.equal(await s.next(), '42/custom,["auth",{"token":"abc"}]');
      s.close();
    });

    it('40/random -> exactly 44/random,{"message":"Invalid namespace"}', async () => {
      const s = await open();
      await s.send('40/random');
      assert.equal(await s.next(), '44/random,{"message":"Invalid namespace"}');
      s.close();
    });

    it('after 41 the engine session stays open: the next frame is a ping', async () => {
      const s = await open();
      await s.send('40');
      await connected(s);
      assert.equal(await s.next(), '42["auth",{}]');
      s.autoPong = false;
      await s.send('41');
      assert.equal(await s.next(1000), '2');
      s.close();
    });

    it('echoes every argument: message -> message-back', async () => {
      const s = await joined();
      await s.send('42["message",1,"2",{"3":[true]}]');
      assert.equal(await s.next(), '42["message-back",1,"2",{"3":[true]}]');
      s.close();
    });

    it('echoes binary attachments in order', async () => {
      const s = await joined();
      await s.send(
        '452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        Buffer.from([1, 2, 3]),
        Buffer.from([4, 5, 6]),
      );
      assert.equal(await s.next(), '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      assert.deepEqual([...(await s.next())], [1, 2, 3]);
      assert.deepEqual([...(await s.next())], [4, 5, 6]);
      s.close();
    });

    // Far bigger than server.ws_read_buffer_bytes (512 by default): read in many pieces,
    // handled as one message.
    it('echoes a 300 KB text argument and a 300 KB attachment whole', async () => {
      const s = await joined();
      const text = Array.from({ length: 300_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
      await s.send(`42["message","${text}"]`);
      assert.equal(await s.next(), `42["message-back","${text}"]`);
      const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));
      await s.send('451-["message",{"_placeholder":true,"num":0}]', bytes);
      assert.equal(await s.next(), '451-["message-back",{"_placeholder":true,"num":0}]');
      assert.ok(Buffer.from(await s.next()).equals(bytes));
      s.close();
    });

    it('acks with the same arguments: 42456[...] -> 43456[...]', async () => {
      const s = await joined();
      await s.send('42456["message-with-ack",1,"2",{"3":[false]}]');
      assert.equal(await s.next(), '43456[1,"2",{"3":[false]}]');
      s.close();
    });

    it('binary ack: 452-789[...] -> 462-789[...] plus the two frames', async () => {
      const s = await joined();
      await s.send(
        '452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        Buffer.from([1, 2, 3]),
        Buffer.from([4, 5, 6]),
      );
      assert.equal(await s.next(), '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      assert.deepEqual([...(await s.next())], [1, 2, 3]);
      assert.deepEqual([...(await s.next())], [4, 5, 6]);
      s.close();
    });

    for (const [name, packet] of [
      ['an unknown packet type (4abc)', '4abc'],
      ['an event that is not an array (42{})', '42{}'],
      ['a bad ack id (42abc[...])', '42abc["message"]'],
    ]) {
      it(`closes the connection on ${name}`, async () => {
        const s = await open();
        await s.send('40');
        await connected(s);
        await s.next();
        await s.send(packet);
        assert.equal(await s.closed(2000), true);
      });
    }

    it('closes the connection on an event before any CONNECT', async () => {
      const s = await open();
      await s.send('42["message","too early"]');
      assert.equal(await s.closed(2000), true);
    });

    it('keeps serving other clients after a bad packet', async () => {
      const bad = await open();
      const good = await joined();
      await bad.send('4abc');
      await bad.closed(2000);
      await good.send('42["message","still here"]');
      assert.equal(await good.next(), '42["message-back","still here"]');
      good.close();
    });
  });
}
