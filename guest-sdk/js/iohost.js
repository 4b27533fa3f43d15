// Helpers for iohost handlers written in JavaScript (componentize-js).
//
// `handler({init, onEvent, ...})` fills in every export of the iohost:handler world you leave
// out (a handler that does nothing), so a handler module is only what it does:
//
//   import { handler, registration, ack, reject, pass, args } from './iohost.js';
//   export const { init, onConnect, onEvent, onDisconnect, onTick } = handler({
//     init: (configText) => registration(['ping']),
//     onEvent: (socket, event) => ack({ pong: args(event)[0] ?? null }),
//   });
//
// componentize-js follows relative imports: keep this file beside your handler's source
// (`iohost handlers new --lang js` does), or import it from where it is.

/** A payload: JSON text of the argument list, no binary attachments. */
export const payload = (...values) => ({ json: JSON.stringify(values), attachments: [] });

/** The event's arguments, decoded from JSON. */
export const args = (event) => JSON.parse(event.args.json);

/** What `init` returns: the events to receive, and the rest with defaults. */
export const registration = (events, { namespaces = [], priority = 0, onConnect = false, onDisconnect = false, tickMs = undefined } = {}) => ({
  events,
  namespaces,
  priority,
  onConnect,
  onDisconnect,
  tickMs,
});

/** Handled: the client's ack callback receives `values`. */
export const ack = (...values) => ({ tag: 'handled', val: payload(...values) });
/** Handled, nothing to ack. */
export const done = () => ({ tag: 'handled', val: undefined });
/** Refused: the client reads `{success: false, error: reason}`. */
export const reject = (reason) => ({ tag: 'reject', val: reason });
/** Not this handler's: the next handler (then the built-in events) get it. */
export const pass = () => ({ tag: 'pass' });

/** Every export of the world, `parts` over ones that do nothing. */
export function handler(parts) {
  return {
    init: () => registration([]),
    onEvent: () => pass(),
    onConnect: () => ({ tag: 'accept' }),
    onDisconnect: () => {},
    onTick: () => {},
    ...parts,
  };
}
