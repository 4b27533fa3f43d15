// socket.io-client helpers: connect and wait, emit with an ack and wait.
import { io } from 'socket.io-client';

const opened = new Set();

/** Connects and resolves once connected; rejects with the connect_error. No auto-reconnect. */
export function connect(url, options = {}) {
  const socket = io(url, { reconnection: false, forceNew: true, timeout: 5000, ...options });
  opened.add(socket);
  return new Promise((res, rej) => {
    socket.once('connect', () => res(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      rej(err);
    });
  });
}

/** Emits and resolves with the ack's first argument. */
export function ask(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

/** Closes every socket opened through `connect`. */
export function closeAll() {
  for (const s of opened) s.close();
  opened.clear();
}

/** Collects the payload of every `event` a socket receives, in order. */
export function collect(socket, event) {
  const got = [];
  socket.on(event, (payload) => got.push(payload));
  return got;
}

/** Resolves true once `check()` (which may be async) holds, or false after `ms` (polling every 50 ms). */
export async function until(check, ms = 3000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
