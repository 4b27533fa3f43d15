'use strict';

// strapi-plugin-io's `monitoring` service. Its getConnectionStats() answered synchronously from
// the Socket.IO server in Strapi's process, and the usage guide uses it so
// (`const stats = ...getConnectionStats(); stats.sockets.find(...)`). iohost holds the sockets,
// so the plugin keeps a mirror: iohost's `/api/v1/live` stream sends a snapshot of every node's
// sockets each `mirror.intervalMs`. getConnectionStats() returns the latest snapshot at once,
// and the same object is also a promise-like: `await getConnectionStats()` asks iohost now.

const { addressOnly, entitySubscriptions } = require('./io');
const { serverSentEvents, keepReading } = require('./client');

/** Makes `value` awaitable: `await value` resolves with `fresh()` instead. */
function withFresh(value, fresh) {
  Object.defineProperty(value, 'then', {
    enumerable: false,
    value: (resolve, reject) => fresh().then(resolve, reject),
  });
  return value;
}

/** The plugin's ConnectionStats from iohost's sockets (main namespace) and room counts. */
function connectionStats(sockets, namespaces) {
  const main = sockets.filter((s) => s.namespace === '/');
  const rooms = (namespaces.find((n) => n.name === '/')?.rooms ?? []).filter((r) => !r.name.startsWith('io-entity-'));
  const entityRooms = rooms.map((r) => r.name).filter((name) => entitySubscriptions([name]).length > 0);
  const byContentType = {};
  for (const room of entityRooms) {
    const { uid } = entitySubscriptions([room])[0];
    byContentType[uid] = (byContentType[uid] || 0) + 1;
  }
  return {
    connected: main.length,
    rooms: rooms.map((r) => ({ name: r.name, members: r.members, isEntityRoom: entityRooms.includes(r.name) })),
    sockets: main.map((s) => ({
      id: s.id,
      connected: true,
      rooms: s.rooms.filter((r) => !r.startsWith('io-entity-')),
      entitySubscriptions: entitySubscriptions(s.rooms),
      handshake: { address: addressOnly(s.address), time: new Date(s.connectedAt || 0).toString(), query: s.query ?? {} },
      user: s.user ?? null,
      role: s.role,
      node: s.node,
      transport: s.transport,
    })),
    entitySubscriptions: { total: entityRooms.length, byContentType, rooms: entityRooms },
  };
}

/**
 * Reads iohost's server-sent event stream and keeps its latest snapshot; reconnects with
 * backoff (0.5 s to 10 s) and says once when it lost or found iohost again.
 */
function createMirror({ client, intervalMs, log }) {
  let latest = null;
  let receivedAt = 0;
  let stopped = false;
  let controller = null;
  let healthy = null;

  async function readOnce() {
    controller = new AbortController();
    const res = await client.stream(`/live?events=false&interval_ms=${intervalMs}`, controller.signal);
    if (!res.ok) throw new Error(`iohost answered /live with ${res.status}`);
    for await (const { event, data } of serverSentEvents(res)) {
      if (event !== 'snapshot') continue;
      latest = JSON.parse(data);
      receivedAt = Date.now();
      if (healthy !== true) log.info(healthy === false ? 'iohost: reachable again, mirroring its sockets' : 'iohost: mirroring its sockets');
      healthy = true;
    }
  }

  function run() {
    return keepReading({
      readOnce,
      stopped: () => stopped,
      onLost: (e) => {
        log.warn(`iohost: cannot mirror its sockets (${e.message}); retrying`);
        healthy = false;
      },
    });
  }

  return {
    start() {
      run();
    },
    stop() {
      stopped = true;
      controller?.abort();
    },
    /** The latest snapshot (`{stats, sockets, ...}`) or null before the first. */
    latest: () => latest,
    /** Milliseconds since the latest snapshot arrived (Infinity before the first). */
    age: () => (receivedAt ? Date.now() - receivedAt : Infinity),
  };
}

/** The `monitoring` service, over iohost's API and the mirror. */
function createMonitoring({ client, io, mirror, eventLogSize = 100 }) {
  let eventLog = [];
  let eventStats = { totalEvents: 0, eventsByType: {}, lastReset: Date.now() };

  const freshStats = async () => {
    const [{ body: sockets }, { body: stats }] = await Promise.all([client.call('GET', '/sockets'), client.call('GET', '/stats')]);
    return connectionStats(sockets, stats.namespaces ?? []);
  };

  const service = {
    /** The latest mirrored snapshot at once; `await` it for iohost's answer now. */
    getConnectionStats() {
      const snapshot = mirror.latest();
      const now = snapshot ? connectionStats(snapshot.sockets ?? [], snapshot.stats?.namespaces ?? []) : connectionStats([], []);
      return withFresh(now, freshStats);
    },
    /** What logEvent() recorded since the last reset, as the plugin counted it. */
    getEventStats() {
      const elapsed = (Date.now() - eventStats.lastReset) / 1000;
      return { ...eventStats, eventsByType: { ...eventStats.eventsByType }, eventsPerSecond: elapsed > 0 ? (eventStats.totalEvents / elapsed).toFixed(2) : 0 };
    },
    getEventLog(limit = 50) {
      return eventLog.slice(-limit);
    },
    logEvent(type, data = {}) {
      eventLog.push({ timestamp: Date.now(), type, data });
      if (eventLog.length > eventLogSize) eventLog = eventLog.slice(-eventLogSize);
      eventStats.totalEvents++;
      eventStats.eventsByType[type] = (eventStats.eventsByType[type] || 0) + 1;
    },
    resetStats() {
      eventLog = [];
      eventStats = { totalEvents: 0, eventsByType: {}, lastReset: Date.now() };
    },
    /** Emits a test event to everyone; resolves with `{success, eventName, data, recipients}`. */
    async sendTestEvent(eventName = 'test', data = {}) {
      const payload = { ...data, timestamp: Date.now(), test: true };
      await io.server.emit(eventName, payload);
      const recipients = mirror.latest()?.sockets?.filter((s) => s.namespace === '/').length ?? 0;
      return { success: true, eventName, data: payload, recipients };
    },
  };
  return service;
}

module.exports = { createMirror, createMonitoring, connectionStats, withFresh };
