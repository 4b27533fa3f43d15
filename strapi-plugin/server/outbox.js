'use strict';

// The outbox: content events written to Strapi's own database (table `iohost_outbox`) when the
// change is made, in the change's transaction when there is one, and sent to iohost one at a
// time in the order they were written. An event leaves the table only once iohost has answered
// it (delivered, or already delivered: iohost drops a repeat of an event id). While iohost is
// unreachable the head is tried again with backoff and the table grows, up to `maxEvents`;
// past it new events are dropped, each logged and counted.

const { randomUUID } = require('node:crypto');

const UID = 'plugin::io.outbox-event';

/** The plugin's content type: hidden from the admin panel's editors. */
const schema = {
  kind: 'collectionType',
  collectionName: 'iohost_outbox',
  info: { singularName: 'outbox-event', pluralName: 'outbox-events', displayName: 'iohost outbox event' },
  options: { draftAndPublish: false },
  pluginOptions: { 'content-manager': { visible: false }, 'content-type-builder': { visible: false } },
  attributes: {
    eventId: { type: 'string', required: true, unique: true },
    body: { type: 'json', required: true },
    attempts: { type: 'integer', default: 0 },
    lastError: { type: 'text' },
  },
};

/** iohost's answers that retrying cannot change: the event is dropped, logged and counted. */
const PERMANENT = new Set(['bad_request', 'unknown_event']);

function createOutbox({ strapi, client, log, maxEvents, retry = { minMs: 500, maxMs: 30000 } }) {
  const table = () => strapi.db.query(UID);
  const counts = { written: 0, sent: 0, dropped: 0, rejected: 0, retries: 0 };
  let running = false;
  let wake = null;
  let stopped = false;
  let lastError = null;

  /** Writes `event` (in the caller's transaction, if any) and wakes the sender after commit. */
  async function enqueue(event) {
    await strapi.db.transaction(async ({ onCommit }) => {
      if ((await table().count()) >= maxEvents) {
        counts.dropped++;
        log.error(`iohost: outbox full (${maxEvents} events): dropped ${event.model}:${event.event} of ${event.entry.documentId}`);
        return;
      }
      const eventId = randomUUID();
      await table().create({ data: { eventId, body: { id: eventId, ...event }, attempts: 0 } });
      counts.written++;
      onCommit(() => kick());
    });
  }

  function kick() {
    if (wake) wake();
  }

  /** Waits `ms`; a new event ends the wait only when `wakeable` (idle, not backing off). */
  const sleep = (ms, wakeable) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      timer.unref?.();
      wake = wakeable
        ? () => {
            wake = null;
            clearTimeout(timer);
            resolve();
          }
        : null;
    });

  /** Sends the oldest event; true when the table may hold more to send at once. */
  async function sendHead() {
    const [head] = await table().findMany({ orderBy: { id: 'asc' }, limit: 1 });
    if (!head) return false;
    try {
      await client.call('POST', '/content-events', head.body);
      await table().delete({ where: { id: head.id } });
      counts.sent++;
      lastError = null;
      return true;
    } catch (e) {
      if (e.status && e.status < 500 && PERMANENT.has(e.code)) {
        counts.rejected++;
        log.error(`iohost refused content event ${head.eventId} (${e.message}): dropped`);
        await table().delete({ where: { id: head.id } });
        return true;
      }
      counts.retries++;
      if (lastError !== e.message) log.warn(`iohost: content events wait (${e.message}); retrying`);
      lastError = e.message;
      await table().update({ where: { id: head.id }, data: { attempts: (head.attempts ?? 0) + 1, lastError: e.message } });
      throw e;
    }
  }

  async function run() {
    if (running) return;
    running = true;
    let delay = retry.minMs;
    while (!stopped) {
      let more = false;
      try {
        more = await sendHead();
        delay = retry.minMs;
      } catch {
        await sleep(delay, false);
        delay = Math.min(delay * 2, retry.maxMs);
        continue;
      }
      if (!more) await sleep(retry.maxMs, true);
    }
    running = false;
  }

  return {
    enqueue,
    start: () => run(),
    stop() {
      stopped = true;
      kick();
    },
    counts,
    /** `{length, oldest (ms since the epoch, or null), written, sent, dropped, rejected, retries, lastError}` */
    async status() {
      const length = await table().count();
      const [oldest] = await table().findMany({ orderBy: { id: 'asc' }, limit: 1 });
      return { length, oldest: oldest ? new Date(oldest.createdAt).getTime() : null, ...counts, lastError };
    },
  };
}

module.exports = { createOutbox, schema, UID };
