'use strict';

// Socket listeners in Strapi, as strapi-plugin-io's apps write them:
//
//   strapi.$io.server.on('connection', (socket) => {
//     socket.use((packet, next) => ...);          // may refuse any event: next(new Error(...))
//     socket.on('user:online', async () => ...);  // may ack: (data, callback) => callback(...)
//     socket.on('disconnect', (reason) => ...);
//   });
//
// iohost holds the sockets, so the plugin reads iohost's relay stream (`GET /api/v1/relay`):
// each connection runs the connection listeners here with a socket object whose methods are
// API calls; the plugin then tells iohost which events this socket's listeners want (and whether
// it has `socket.use`), and iohost sends just those events, waiting for a verdict or an ack when
// one is needed (at most iohost's `relay.answer_timeout_ms`). A refusal reaches the client as
// its ack's `{success: false, error}` or an `error` event with the middleware's message.
//
// When the stream breaks (iohost restarting or unreachable), the sockets the plugin knew get
// their `disconnect` listeners (reason `relay closed`); when it is back, iohost announces its
// sockets again and the connection listeners run for them.
//
// Each iohost node relays its own sockets: in a cluster the plugin reads one stream per node
// (`relay.urls`, each node's own address), and answers each node on its own stream's URL.

const { createClient, serverSentEvents, keepReading } = require('./client');
const { remoteSocket } = require('./io');

/** Events that are the socket's own, not the client's. */
const LOCAL_EVENTS = new Set(['disconnect', 'disconnecting', 'error']);

/**
 * @param {object} deps
 * @param {ReturnType<import('./client').createClient>} deps.client strapi.$io's ordered client:
 *   a socket's listeners are registered after the calls its connection listeners made
 * @param {object} deps.clientOptions `{url, apiKey, timeoutMs}` of `client`
 * @param {string[]} deps.urls the iohost nodes to stream from (default: `client`'s URL)
 * @param {object} deps.io strapi.$io
 */
function createRelay({ client, clientOptions, urls = [], io, log }) {
  // Per node, a client of its own: answers and registrations never wait behind other calls.
  const nodes = (urls.length ? urls : [clientOptions.url]).map((url) => ({ url, client: createClient({ ...clientOptions, url }), controller: null }));
  /** namespace -> connection listeners */
  const connectionListeners = new Map();
  /** socket id -> the socket object listeners got */
  const sockets = new Map();
  let started = false;
  let running = false;
  let stopped = false;

  function answer(node, id, body) {
    node.client.call('POST', `/relay/answers/${id}`, body).catch((e) => {
      // 404: iohost stopped waiting (its relay.answer_timeout_ms passed).
      log.warn(`iohost: answering event ${id} failed: ${e.message}`);
    });
  }

  /** Calls each of `fns` with `args`; a throw or a rejection is logged as `what` failing. */
  function callEach(fns, args, what) {
    const failed = (e) => log.error(`iohost: ${what} failed: ${e?.message ?? e}`);
    for (const fn of fns) {
      try {
        Promise.resolve(fn(...args)).catch(failed);
      } catch (e) {
        failed(e);
      }
    }
  }

  function makeSocket(view, node) {
    const socket = remoteSocket(view, io);
    const listeners = new Map();
    const middlewares = [];
    let registered = null;
    const register = () => {
      const events = [...listeners.keys()].filter((e) => !LOCAL_EVENTS.has(e) && listeners.get(e).length);
      const body = { events, middleware: middlewares.length > 0 };
      const key = JSON.stringify(body);
      if (key === registered || !socket.connected) return;
      registered = key;
      // After the calls the listeners made (socket.join(...)), to the node that holds the socket.
      client
        .idle()
        .then(() => node.client.call('PUT', `/relay/sockets/${encodeURIComponent(view.id)}`, body))
        .catch((e) => log.warn(`iohost: registering socket ${view.id}'s listeners failed: ${e.message}`));
    };
    let pending = false;
    /** Listeners added later (after an await) are registered once the current task is done. */
    const changed = () => {
      if (!pending && registered !== null) {
        pending = true;
        queueMicrotask(() => {
          pending = false;
          register();
        });
      }
    };
    const broadcast = io.server.of(view.namespace).except(view.id);
    Object.assign(socket, {
      connected: true,
      nsp: { name: view.namespace },
      get broadcast() {
        return broadcast;
      },
      /** Everyone in `room` but this socket, as socket.io's `socket.to(room)`. */
      to: (room) => broadcast.to(room),
      in: (room) => broadcast.to(room),
      except: (room) => broadcast.except(room),
      on(event, fn) {
        listeners.set(event, [...(listeners.get(event) ?? []), fn]);
        changed();
        return socket;
      },
      once(event, fn) {
        const once = (...args) => {
          socket.off(event, once);
          return fn(...args);
        };
        return socket.on(event, once);
      },
      off(event, fn) {
        listeners.set(
          event,
          (listeners.get(event) ?? []).filter((f) => f !== fn),
        );
        changed();
        return socket;
      },
      removeAllListeners(event) {
        if (event === undefined) listeners.clear();
        else listeners.delete(event);
        changed();
        return socket;
      },
      listeners: (event) => [...(listeners.get(event) ?? [])],
      use(fn) {
        middlewares.push(fn);
        changed();
        return socket;
      },
    });
    const call = (event, args) => callEach(listeners.get(event) ?? [], args, `a '${event}' listener`);
    return { socket, node, middlewares, register, call };
  }

  /** socket.io's order: each middleware calls `next()` (or `next(error)`) to go on. */
  function runMiddlewares(middlewares, packet, done) {
    let at = 0;
    const next = (error) => {
      if (error) return done(error);
      const fn = middlewares[at++];
      if (!fn) return done(null);
      try {
        fn(packet, next);
      } catch (e) {
        done(e);
      }
    };
    next();
  }

  function onConnection(node, view) {
    // Announced again (a new stream): the old object is done with.
    const old = sockets.get(view.id);
    if (old) old.socket.connected = false;
    const made = makeSocket(view, node);
    sockets.set(view.id, made);
    callEach(connectionListeners.get(view.namespace) ?? [], [made.socket], 'a connection listener');
    made.register();
  }

  function onEvent(node, message) {
    const made = sockets.get(message.socket);
    if (!made) {
      if (message.answer) answer(node, message.id, {});
      return;
    }
    const packet = [message.event, ...(message.args ?? [])];
    runMiddlewares(made.middlewares, packet, (error) => {
      if (error) {
        const text = error instanceof Error ? error.message : String(error);
        if (message.answer) answer(node, message.id, { error: text });
        made.call('error', [error]);
        return;
      }
      const [event, ...args] = packet;
      let acked = false;
      const ack = (...values) => {
        if (acked) return;
        acked = true;
        answer(node, message.id, { ack: values });
      };
      made.call(event, message.ack ? [...args, ack] : args);
      if (message.answer && !message.ack) answer(node, message.id, {});
    });
  }

  function onDisconnect(id, reason) {
    const made = sockets.get(id);
    if (!made) return;
    sockets.delete(id);
    made.socket.connected = false;
    made.call('disconnecting', [reason]);
    made.call('disconnect', [reason]);
  }

  /** The node's stream ended: its sockets are gone for Strapi's listeners. */
  function forgetAll(node, reason) {
    for (const [id, made] of [...sockets]) if (made.node === node) onDisconnect(id, reason);
  }

  async function readOnce(node) {
    node.controller = new AbortController();
    const namespaces = [...connectionListeners.keys()].join(',');
    const res = await node.client.stream(`/relay?namespaces=${encodeURIComponent(namespaces)}`, node.controller.signal);
    if (!res.ok) throw new Error(`iohost answered /relay with ${res.status}`);
    try {
      for await (const { data } of serverSentEvents(res)) {
        const message = JSON.parse(data);
        if (message.type === 'hello') log.info(`iohost: socket listeners in Strapi get ${namespaces}'s connections from ${node.url} (node ${message.node})`);
        else if (message.type === 'connection') onConnection(node, message.socket);
        else if (message.type === 'event') onEvent(node, message);
        else if (message.type === 'disconnect') onDisconnect(message.socket, message.reason);
      }
    } finally {
      forgetAll(node, 'relay closed');
    }
  }

  function run() {
    running = true;
    for (const node of nodes) {
      keepReading({
        readOnce: () => readOnce(node),
        stopped: () => stopped,
        onLost: (e) => log.warn(`iohost: socket listeners in Strapi get no connections from ${node.url} (${e.message}); retrying`),
      });
    }
  }

  return {
    /** `server.of(namespace).on('connection', fn)`; streams from then on (once started). */
    onConnection(namespace, fn) {
      const known = connectionListeners.has(namespace);
      connectionListeners.set(namespace, [...(connectionListeners.get(namespace) ?? []), fn]);
      // A new namespace needs new streams; the old ones close (their sockets come again).
      if (running && !known) for (const node of nodes) node.controller?.abort();
      if (started && !running) run();
    },
    /** Starts streaming once there are connection listeners (Strapi's bootstrap). */
    start() {
      started = true;
      if (connectionListeners.size) run();
    },
    stop() {
      stopped = true;
      for (const node of nodes) node.controller?.abort();
    },
    /** The sockets whose listeners run here (for tests and the status page). */
    size: () => sockets.size,
  };
}

module.exports = { createRelay };
