'use strict';

// `strapi.$io`: strapi-plugin-io's helpers and the parts of its Socket.IO server that backend
// code uses, each turned into a call to iohost's HTTP API. Every method returns a promise, also
// those the plugin answered synchronously; the promise never goes unhandled (a failure is
// logged), so backend code that does not await them, as the usage guide's does not, neither
// crashes Node nor loses the error, and code that awaits them gets the thrown IohostError.

const { IohostError } = require('./client');

/** strapi-plugin-io names namespaces without the slash (`'admin'` for `/admin`). */
function namespaceOf(name) {
  if (name === undefined || name === null || name === '') return '/';
  const text = String(name);
  return text.startsWith('/') ? text : `/${text}`;
}

const list = (value) => (Array.isArray(value) ? value : [value]).filter((v) => v !== undefined && v !== null).map(String);

/** `uid:id`, the plugin's entity room. */
const entityRoom = (uid, id) => `${uid}:${id}`;
const ENTITY_UID = /^(api|plugin)::[a-z0-9-]+\.[a-z0-9-]+$/;

/** A socket as socket.io's `fetchSockets()` describes it, from iohost's socket view. */
function remoteSocket(view, io) {
  const socket = {
    id: view.id,
    nsp: view.namespace,
    rooms: new Set(view.rooms),
    user: view.user ?? null,
    data: { user: view.user ?? null, role: view.role },
    handshake: {
      address: addressOnly(view.address),
      time: new Date(view.connectedAt || Date.now()).toString(),
      query: view.query ?? {},
    },
    role: view.role,
    node: view.node,
    transport: view.transport,
    join: (room) => Promise.all(list(room).map((r) => io.joinRoom(view.id, r, view.namespace))),
    leave: (room) => io.leaveRoom(view.id, room, view.namespace),
    emit: (event, ...args) => io.server.of(view.namespace).to(view.id).emit(event, ...args),
    disconnect: () => io.disconnectSocket(view.id, undefined, view.namespace),
  };
  return socket;
}

/** socket.io's `handshake.address` is the address without the port. */
function addressOnly(address = '') {
  const v6 = /^\[(.*)\]:\d+$/.exec(address);
  if (v6) return v6[1];
  const v4 = /^([^:]+):\d+$/.exec(address);
  return v4 ? v4[1] : address;
}

/**
 * @param {object} deps
 * @param {ReturnType<import('./client').createClient>} deps.client
 * @param {{warn: Function, error: Function, debug: Function}} deps.log
 * @param {(namespace: string, listener: Function) => void} [deps.onConnection] where
 *   `server.on('connection', listener)` goes (the relay)
 */
/** How long `emitWithAck` waits without `timeout(ms)`, ms. */
const ACK_TIMEOUT_MS = 10000;
/** The longest ack wait iohost allows (its `POST /emit` `ack.timeoutMs`). */
const MAX_ACK_TIMEOUT_MS = 60000;

function createIo({ client, log, onConnection = () => {} }) {
  /** Logs a failure nobody may be waiting for; the caller can still await it. */
  function watched(promise, what) {
    promise.catch((e) => log.error(`iohost: ${what} failed: ${e.message}`));
    return promise;
  }

  const emitTo = ({ namespace = '/', rooms = [], except = [], sockets = [], event, args, volatile = false, ackMs }) => {
    if (typeof args.at(-1) === 'function') {
      throw new IohostError('an acknowledgement callback needs a timeout: server.timeout(ms).emit(event, ..., (err, responses) => ...), or await server.timeout(ms).emitWithAck(event, ...)', { code: 'bad_request' });
    }
    const body = { event, args, namespace };
    if (rooms.length) body.rooms = rooms;
    if (sockets.length) body.sockets = sockets;
    if (except.length) body.except = except;
    if (volatile) body.volatile = true;
    if (ackMs !== undefined) body.ack = { timeoutMs: ackMs };
    return client.call('POST', '/emit', body, ackMs ?? 0).then(({ body: answer }) => answer);
  };

  /**
   * socket.io's `timeout(ms).emitWithAck(...)`: resolves with each client's ack (its first
   * argument), or rejects with `operation has timed out` when a client gave none in time (the
   * error carries `responses`, those that came, and `timedOut`, the silent sockets).
   */
  async function emitWithAck(target, ackMs, event, args) {
    const answer = await emitTo({ ...target, event, args, ackMs });
    const responses = (answer.acks ?? []).map((a) => a.args[0]);
    if (answer.timedOut?.length) {
      const error = new IohostError('operation has timed out', { code: 'timeout' });
      Object.assign(error, { responses, timedOut: answer.timedOut });
      throw error;
    }
    return responses;
  }

  /** True when done, false when no node holds the socket (as the plugin's `false`). */
  const onSocket = (promise) =>
    promise.then(
      () => true,
      (e) => {
        if (e.code === 'no_socket') return false;
        throw e;
      },
    );

  async function socketsIn({ namespace, rooms, except }) {
    const wanted = rooms.length ? rooms : [undefined];
    const seen = new Map();
    for (const room of wanted) {
      const query = new URLSearchParams({ namespace });
      if (room !== undefined) query.set('room', room);
      const { body } = await client.call('GET', `/sockets?${query}`);
      for (const view of body) seen.set(view.id, view);
    }
    const left = new Set(except);
    return [...seen.values()].filter((v) => !left.has(v.id) && !v.rooms.some((r) => left.has(r)));
  }

  /**
   * socket.io's broadcast operator: `to`, `in`, `except`, `volatile`, `timeout(ms)`, `emit`,
   * `emitWithAck`, `fetchSockets`, ...
   */
  function operator(namespace, rooms = [], except = [], flags = {}) {
    const target = { namespace, rooms, except, volatile: flags.volatile };
    const ackMs = flags.timeoutMs ?? ACK_TIMEOUT_MS;
    return {
      to: (room) => operator(namespace, [...rooms, ...list(room)], except, flags),
      in: (room) => operator(namespace, [...rooms, ...list(room)], except, flags),
      except: (room) => operator(namespace, rooms, [...except, ...list(room)], flags),
      /** Dropped for clients that cannot take it now. */
      get volatile() {
        return operator(namespace, rooms, except, { ...flags, volatile: true });
      },
      /** How long `emitWithAck` (or an emit with a callback) waits for acks: 1 to 60000 ms. */
      timeout: (ms) => {
        if (!Number.isInteger(ms) || ms < 1 || ms > MAX_ACK_TIMEOUT_MS) {
          throw new IohostError(`timeout(ms) takes a whole number of milliseconds from 1 to ${MAX_ACK_TIMEOUT_MS}, not ${ms}`, { code: 'bad_request' });
        }
        return operator(namespace, rooms, except, { ...flags, timeoutMs: ms });
      },
      /** `local` and `compress(...)` read as no change. */
      get local() {
        return operator(namespace, rooms, except, flags);
      },
      compress: () => operator(namespace, rooms, except, flags),
      emit: (event, ...args) => {
        // socket.io's `timeout(ms).emit(event, ..., (err, responses) => ...)`.
        if (typeof args.at(-1) === 'function' && flags.timeoutMs !== undefined) {
          const callback = args.pop();
          const done = emitWithAck(target, ackMs, event, args);
          // A callback that throws is logged, not an unhandled rejection.
          const call = (...results) => {
            try {
              callback(...results);
            } catch (e) {
              log.error(`iohost: the acknowledgement callback of emit('${event}') threw: ${e?.message ?? e}`);
            }
          };
          done.then((responses) => call(null, responses), (e) => call(e, e.responses ?? []));
          return done.then(() => true, () => false);
        }
        return watched(emitTo({ ...target, event, args }), `emit('${event}')`);
      },
      emitWithAck: (event, ...args) => emitWithAck(target, ackMs, event, args),
      fetchSockets: async () => (await socketsIn({ namespace, rooms, except })).map((v) => remoteSocket(v, io)),
      socketsJoin: (room) =>
        watched(
          socketsIn({ namespace, rooms, except }).then((views) =>
            Promise.all(views.flatMap((v) => list(room).map((r) => io.joinRoom(v.id, r, namespace)))),
          ),
          'socketsJoin',
        ),
      socketsLeave: (room) =>
        watched(
          socketsIn({ namespace, rooms, except }).then((views) =>
            Promise.all(views.flatMap((v) => list(room).map((r) => io.leaveRoom(v.id, r, namespace)))),
          ),
          'socketsLeave',
        ),
      disconnectSockets: () =>
        watched(
          socketsIn({ namespace, rooms, except }).then((views) => Promise.all(views.map((v) => io.disconnectSocket(v.id, undefined, namespace)))),
          'disconnectSockets',
        ),
    };
  }

  const warnedOn = new Set();
  /** `on('connection', listener)` of namespace `namespace`; other server events are not relayed. */
  function listen(namespace, target, name, listener) {
    if (name === 'connection' || name === 'connect') {
      onConnection(namespace, listener);
    } else if (!warnedOn.has(name)) {
      warnedOn.add(name);
      log.warn(`iohost: strapi.$io.server.on('${name}') is not supported: only 'connection' listeners run in Strapi`);
    }
    return target;
  }

  function server() {
    const root = operator('/');
    const namespace = (name) => {
      const ns = { ...operator(name), name };
      ns.on = (event, listener) => listen(name, ns, event, listener);
      ns.use = () => {
        log.warn(`iohost: strapi.$io.server.of('${name}').use() is not supported: admission runs in iohost (handlers' on-connect)`);
        return ns;
      };
      return ns;
    };
    const main = namespace('/');
    return {
      ...main,
      of: (name) => namespace(namespaceOf(name)),
      get sockets() {
        return main;
      },
      /** `io.on('connection', socket => ...)`: runs in Strapi for every socket (see relay.js). */
      on(name, listener) {
        listen('/', this, name, listener);
        return this;
      },
      use() {
        log.warn('iohost: strapi.$io.server.use() is not supported: admission runs in iohost (handlers\' on-connect)');
        return this;
      },
    };
  }

  const io = {
    /** `{event, data, rooms}` -> the rooms (everyone when none) get `event` with `{data}`. */
    raw({ event, data, rooms } = {}) {
      return watched(emitTo({ rooms: list(rooms ?? []), event, args: [{ data }] }), `raw('${event}')`);
    },
    joinRoom(socketId, room, namespace = '/') {
      const body = { room: String(room), namespace };
      return watched(onSocket(client.call('POST', `/sockets/${encodeURIComponent(socketId)}/rooms`, body)), `joinRoom('${socketId}')`);
    },
    leaveRoom(socketId, room, namespace = '/') {
      const path = `/sockets/${encodeURIComponent(socketId)}/rooms/${encodeURIComponent(room)}?namespace=${encodeURIComponent(namespace)}`;
      return watched(onSocket(client.call('DELETE', path)), `leaveRoom('${socketId}')`);
    },
    /** `[{id, user}]` of every node's sockets in `room` (main namespace). */
    getSocketsInRoom(room) {
      return watched(
        socketsIn({ namespace: '/', rooms: [String(room)], except: [] }).then((views) => views.map((v) => ({ id: v.id, user: v.user ?? null }))),
        `getSocketsInRoom('${room}')`,
      );
    },
    sendPrivateMessage(socketId, event, data) {
      return watched(emitTo({ sockets: [String(socketId)], event, args: [data] }), `sendPrivateMessage('${socketId}')`);
    },
    /** Everyone in the main namespace but `socketId`. */
    broadcast(socketId, event, data) {
      return watched(emitTo({ except: [String(socketId)], event, args: [data] }), `broadcast('${event}')`);
    },
    emitToNamespace(namespace, event, data) {
      return watched(emitTo({ namespace: namespaceOf(namespace), event, args: [data] }), `emitToNamespace('${namespace}')`);
    },
    disconnectSocket(socketId, _reason, namespace = '/') {
      const path = `/sockets/${encodeURIComponent(socketId)}?namespace=${encodeURIComponent(namespace)}`;
      return watched(onSocket(client.call('DELETE', path)), `disconnectSocket('${socketId}')`);
    },
    subscribeToEntity(socketId, uid, id) {
      if (!ENTITY_UID.test(String(uid))) return Promise.resolve({ success: false, error: 'Content type not found' });
      const room = entityRoom(uid, id);
      return watched(
        io.joinRoom(socketId, room).then((done) => (done ? { success: true, room, uid, id } : { success: false, error: 'Socket not found' })),
        'subscribeToEntity',
      );
    },
    unsubscribeFromEntity(socketId, uid, id) {
      const room = entityRoom(uid, id);
      return watched(
        io.leaveRoom(socketId, room).then((done) => (done ? { success: true, room, uid, id } : { success: false, error: 'Socket not found' })),
        'unsubscribeFromEntity',
      );
    },
    emitToEntity(uid, id, event, data) {
      return watched(emitTo({ rooms: [entityRoom(uid, id)], event, args: [data] }), `emitToEntity('${event}')`);
    },
    getEntityRoomSockets(uid, id) {
      return io.getSocketsInRoom(entityRoom(uid, id));
    },
  };
  io.server = server();
  return io;
}

/** The entity subscriptions among a socket's rooms, as the plugin reports them. */
function entitySubscriptions(rooms) {
  return rooms
    .filter((room) => /^(api|plugin)::/.test(room) && room.includes(':', room.indexOf('::') + 2))
    .map((room) => {
      const cut = room.lastIndexOf(':');
      return { uid: room.slice(0, cut), id: room.slice(cut + 1), room };
    });
}

module.exports = { createIo, namespaceOf, addressOnly, entitySubscriptions, remoteSocket };
