// Moderation, an iohost handler in JavaScript (built with componentize-js; see README.md).
//
// - `chat:message` (any arguments) containing a banned word is dropped: the sender gets
//   `moderation:warning {reason, strikes, maxStrikes}` and, if it asked for an ack,
//   `{success: false, error: "message dropped: ..."}`. Other handlers never see it.
// - A clean message is passed on to the next handler (e.g. chat-messages).
// - After `max_strikes` drops within `strike_window_ms`, the sender is disconnected.
//
// Sidecar moderation.toml:
//   [config]
//   banned = ["spam", "scam"]
//   max_strikes = 3
//   strike_window_ms = 600000
import { emitToSocket, disconnect } from 'iohost:handler/sockets@0.1.2';
import { incr } from 'iohost:handler/kv@0.1.2';
import { log } from 'iohost:handler/log@0.1.2';

// The guest SDK's helpers (build.mjs copies guest-sdk/js/iohost.js here: componentize-js only
// follows imports inside the source's folder).
import { args, handler, pass, payload, registration, reject } from './iohost.js';

let banned = ['spam', 'scam'];
let maxStrikes = 3;
let strikeWindowMs = 600_000;

function init(configText) {
  const config = JSON.parse(configText);
  if (config.banned !== undefined) {
    if (!Array.isArray(config.banned) || config.banned.some((w) => typeof w !== 'string' || !w)) {
      // A thrown string is init's error: iohost does not load this version.
      throw 'config.banned must be a list of non-empty strings';
    }
    banned = config.banned.map((w) => w.toLowerCase());
  }
  if (config.max_strikes !== undefined) maxStrikes = Number(config.max_strikes);
  if (config.strike_window_ms !== undefined) strikeWindowMs = Number(config.strike_window_ms);
  // Before the chat handlers, so a dropped message never reaches them.
  return registration(['chat:message'], { priority: 100 });
}

/** The banned word in `args`, if any (every string in them, at any depth). */
export function bannedWordIn(args, words = banned) {
  const text = JSON.stringify(args).toLowerCase();
  return words.find((w) => text.includes(w));
}

function onEvent(socket, event) {
  const word = bannedWordIn(args(event));
  if (word === undefined) return pass();
  let strikes = maxStrikes;
  try {
    // Counted per socket in KV (shared by every instance), forgotten after the window.
    strikes = Number(incr(`strikes:${socket.namespace}:${socket.id}`, 1n, BigInt(strikeWindowMs)));
  } catch (e) {
    log('warn', `strike count unavailable: ${JSON.stringify(e.payload ?? String(e))}`);
  }
  log('info', `dropped a message from ${socket.id} (banned word, strike ${strikes} of ${maxStrikes})`);
  emitToSocket(socket.namespace, socket.id, 'moderation:warning', payload({ reason: `banned word: ${word}`, strikes, maxStrikes }));
  if (strikes >= maxStrikes) disconnect(socket.namespace, socket.id);
  return reject(`message dropped: it contains a banned word (${word})`);
}

export const { onConnect, onDisconnect, onTick } = handler({});
export { init, onEvent };
