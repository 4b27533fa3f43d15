'use strict';

// The outbox: content events written to Strapi's own database (table `iohost_outbox`) when the
// change is made, in the change's own transaction (content.js opens it), and sent to iohost one at a
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

/** Events read, sent and deleted together at most. */
const BATCH = 100;

/** iohost's answers that retrying cannot change: the event is dropped, logged and counted. */
const PERMANENT = new Set(['bad_request', 'unknown_event']);

function createOutbox({ strapi, client, log, maxEvents, retry = { minMs: 500, maxMs: 30000 } }) {
  const table = () => strapi.db.query(UID);
  const counts = { written: 0, sent: 0, dropped: 0, rejected: 0, retries: 0 };
  let running = false;
  let wake = null;
  let stopped = false;
  let lastError = null;
  /** Rows in the table as far as this process knows (counted again near the limit). */
  let rows = null;

  /** Writes `event` (in the caller's transaction, if any) and wakes the sender after commit. */
  async function enqueue(event) {
    await strapi.db.transaction(async ({ onCommit }) => {
      if (rows === null || rows >= maxEvents - 1) rows = await table().count();
      if (rows >= maxEvents) {
        counts.dropped++;
        log.error(`iohost: outbox full (${maxEvents} events): dropped ${event.model}:${event.event} of ${event.entry.documentId}`);
        return;
      }
      const eventId = randomUUID();
      await table().create({ data: { eventId, body: { id: eventId, ...event }, attempts: 0 } });
      rows++;
      counts.written++;
      onCommit(() => kick());
    });
  }

  /** Set by a new event, so one written while a batch was on its way is not left waiting. */
  let dirty = false;
  function kick() {
    dirty = true;
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

  /** Rows sent (or refused for good) but not deleted yet: deleted together, BATCH at most. */
  const done = [];
  async function forget() {
    if (!done.length) return;
    const ids = done.splice(0);
    await table().deleteMany({ where: { id: { $in: ids } } });
    if (rows !== null) rows = Math.max(0, rows - ids.length);
  }

  /**
   * Sends the oldest events, one at a time and in order, BATCH at most, then deletes those
   * iohost took in one statement (a crash in between sends them again: iohost drops repeats).
   * True when the table may hold more.
   */
  async function sendHead() {
    dirty = false;
    const heads = await table().findMany({ orderBy: { id: 'asc' }, limit: BATCH });
    if (!heads.length) return false;
    try {
      for (const head of heads) {
        try {
          await client.call('POST', '/content-events', head.body);
          counts.sent++;
          lastError = null;
        } catch (e) {
          if (!(e.status && e.status < 500 && PERMANENT.has(e.code))) {
            counts.retries++;
            if (lastError !== e.message) log.warn(`iohost: content events wait (${e.message}); retrying`);
            lastError = e.message;
            await table().update({ where: { id: head.id }, data: { attempts: (head.attempts ?? 0) + 1, lastError: e.message } });
            throw e;
          }
          counts.rejected++;
          log.error(`iohost refused content event ${head.eventId} (${e.message}): dropped`);
        }
        done.push(head.id);
      }
    } finally {
      await forget();
    }
    return heads.length === BATCH;
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
      if (!more && !dirty) await sleep(retry.maxMs, true);
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
    /** `{length, oldest (ms since the epoch, or null), written, sent, dropped, rejected, retries, lastError}` */
    async status() {
      const length = await table().count();
      const [oldest] = await table().findMany({ orderBy: { id: 'asc' }, limit: 1 });
      return { length, oldest: oldest ? new Date(oldest.createdAt).getTime() : null, ...counts, lastError };
    },
  };
}

module.exports = { createOutbox, schema, UID };
