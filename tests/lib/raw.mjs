// A raw Engine.IO v4 session over polling or websocket, for packet-level protocol tests.
// Packets are strings ("42[...]") or Buffers (binary attachments).

import WebSocket from 'ws';

const SEPARATOR = '\x1e';

export function engineUrl(base, query = 'EIO=4&transport=polling') {
  return `${base}/socket.io/?${query}`;
}

export function wsUrl(base, query = 'EIO=4&transport=websocket') {
  return engineUrl(base.replace(/^http/, 'ws'), query);
}

/** Splits a polling response body into packets; `b<base64>` is a binary packet. */
export function decodePayload(body) {
  return body.split(SEPARATOR).map((p) => (p.startsWith('b') ? Buffer.from(p.slice(1), 'base64') : p));
}

function encodePayload(packets) {
  return packets.map((p) => (Buffer.isBuffer(p) ? `b${p.toString('base64')}` : p)).join(SEPARATOR);
}

/**
 * Opens a session. `autoPong` answers pings and hides them, so that tests about other packets
 * need not care about heartbeats.
 */
export async function openSession(base, transport, { autoPong = true } = {}) {
  const session = transport === 'websocket' ? new WsSession(base, autoPong) : new PollingSession(base, autoPong);
  await session.open();
  return session;
}

class PollingSession {
  constructor(base, autoPong) {
    this.base = base;
    this.autoPong = autoPong;
    this.queue = [];
  }

  async open() {
    const res = await fetch(engineUrl(this.base));
    if (res.status !== 200) throw new Error(`handshake failed: ${res.status}`);
    const [open] = decodePayload(await res.text());
    this.handshake = JSON.parse(open.slice(1));
    this.sid = this.handshake.sid;
  }

  url() {
    return engineUrl(this.base, `EIO=4&transport=polling&sid=${this.sid}`);
  }

  async send(...packets) {
    const res = await fetch(this.url(), { method: 'POST', body: encodePayload(packets) });
    return res.status;
  }

  /** The next packet the server sends, or throws after `ms`. */
  async next(ms = 3000) {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${ms} ms`);
      const res = await fetch(this.url(), { signal: AbortSignal.timeout(left) });
      if (res.status !== 200) throw new Error(`GET returned ${res.status}`);
      for (const p of decodePayload(await res.text())) {
        if (this.autoPong && p === '2') await this.send('3');
        else this.queue.push(p);
      }
    }
    return this.queue.shift();
  }

  /** Resolves when the server has ended the session (a GET answers 400, or a close/noop packet). */
  async closed(ms = 3000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      let res;
      try {
        res = await fetch(this.url(), { signal: AbortSignal.timeout(deadline - Date.now()) });
      } catch {
        break;
      }
      if (res.status === 400) return true;
      const packets = decodePayload(await res.text());
      if (packets.includes('1')) return true;
      for (const p of packets) if (p === '2' && this.autoPong) await this.send('3');
    }
    throw new Error(`session still open after ${ms} ms`);
  }

  close() {}
}

class WsSession {
  constructor(base, autoPong, query) {
    this.base = base;
    this.autoPong = autoPong;
    this.query = query;
    this.queue = [];
    this.waiters = [];
    this.isClosed = false;
  }

  async open() {
    this.ws = new WebSocket(wsUrl(this.base, this.query));
    this.ws.on('message', (data, isBinary) => {
      const packet = isBinary ? Buffer.from(data) : data.toString();
      if (this.autoPong && packet === '2') return this.ws.send('3');
      this.queue.push(packet);
      this.wake();
    });
    this.ws.on('close', () => {
      this.isClosed = true;
      this.wake();
    });
    this.ws.on('error', () => {});
    await new Promise((res, rej) => {
      this.ws.once('open', res);
      this.ws.once('error', rej);
    });
    if (!this.query) {
      const open = await this.next();
      this.handshake = JSON.parse(open.slice(1));
      this.sid = this.handshake.sid;
    }
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  async wait(ms, what) {
    await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`no ${what} within ${ms} ms`)), ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        res();
      });
    });
  }

  async send(...packets) {
    for (const p of packets) this.ws.send(p);
  }

  async next(ms = 3000) {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      if (this.isClosed) throw new Error('websocket closed');
      await this.wait(Math.max(1, deadline - Date.now()), 'packet');
    }
    return this.queue.shift();
  }

  async closed(ms = 3000) {
    const deadline = Date.now() + ms;
    while (!this.isClosed) await this.wait(Math.max(1, deadline - Date.now()), 'close');
    return true;
  }

  close() {
    this.ws.close();
  }
}

/** A websocket that upgrades the polling session `sid`. */
export async function openUpgrade(base, sid) {
  const session = new WsSession(base, false, `EIO=4&transport=websocket&sid=${sid}`);
  await session.open();
  return session;
}
