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
import { emitToSocket, disconnect } from 'iohost:handler/sockets@0.1.0';
import { incr } from 'iohost:handler/kv@0.1.0';
import { log } from 'iohost:handler/log@0.1.0';

let banned = ['spam', 'scam'];
let maxStrikes = 3;
let strikeWindowMs = 600_000;

/** A payload: JSON text of the argument list, no binary attachments. */
const payload = (...args) => ({ json: JSON.stringify(args), attachments: [] });

export function init(configText) {
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
  return {
    events: ['chat:message'],
    namespaces: [],
    // Before the chat handlers, so a dropped message never reaches them.
    priority: 100,
    onConnect: false,
    onDisconnect: false,
    tickMs: undefined,
  };
}

/** The banned word in `args`, if any (every string in them, at any depth). */
export function bannedWordIn(args, words = banned) {
  const text = JSON.stringify(args).toLowerCase();
  return words.find((w) => text.includes(w));
}

export function onEvent(socket, event) {
  const word = bannedWordIn(JSON.parse(event.args.json));
  if (word === undefined) return { tag: 'pass' };
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
  return { tag: 'reject', val: `message dropped: it contains a banned word (${word})` };
}

export function onConnect(_socket) {
  return { tag: 'accept' };
}
export function onDisconnect(_socket, _reason) {}
export function onTick() {}
