'use strict';

// The outbox: content events written to Strapi's own database (table `iohost_outbox`) when the
// change is made, in the change's own transaction (content.js opens it), and sent to iohost in the
// order they were written, up to 50 in one request. An event leaves the table only once iohost has answered
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
/** Events in one request to iohost at most (iohost takes 100), and about this many bytes. */
const SEND_AT_ONCE = 50;
const SEND_BYTES = 512 * 1024;

/** `heads` cut, in order, into requests of SEND_AT_ONCE events and about SEND_BYTES each. */
function requests(heads) {
  const out = [];
  let bytes = 0;
  for (const head of heads) {
    const size = JSON.stringify(head.body).length;
    const last = out.at(-1);
    if (last && last.length < SEND_AT_ONCE && bytes + size <= SEND_BYTES) {
      last.push(head);
      bytes += size;
    } else {
      out.push([head]);
      bytes = size;
    }
  }
  return out;
}

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

  /** Marks `head` as tried once more and throws: the sender backs off and tries again. */
  async function retryLater(head, message) {
    counts.retries++;
    if (lastError !== message) log.warn(`iohost: content events wait (${message}); retrying`);
    lastError = message;
    await table().update({ where: { id: head.id }, data: { attempts: (head.attempts ?? 0) + 1, lastError: message } });
    throw new Error(message);
  }

  /**
   * Sends the oldest events in order, BATCH at most, in requests of SEND_AT_ONCE events (and
   * about SEND_BYTES) each; iohost takes each request's events in order and answers each.
   * Those iohost took (or refused for good) are deleted in one statement (a crash in between
   * sends them again: iohost drops repeats). True when the table may hold more.
   */
  async function sendHead() {
    dirty = false;
    const heads = await table().findMany({ orderBy: { id: 'asc' }, limit: BATCH });
    if (!heads.length) return false;
    try {
      for (const group of requests(heads)) {
        let results;
        try {
          ({
            body: { results },
          } = await client.call('POST', '/content-events', group.map((head) => head.body)));
        } catch (e) {
          // One event too big for iohost's body limit never fits: dropped, as a refused one.
          if (e.status === 413 && group.length === 1) {
            counts.rejected++;
            log.error(`iohost refused content event ${group[0].eventId} (too large: ${e.message}): dropped`);
            done.push(group[0].id);
            continue;
          }
          await retryLater(group[0], e.message);
        }
        for (const [i, head] of group.entries()) {
          const result = results?.[i];
          // No answer past the first that may succeed later: sent again after it.
          if (!result) await retryLater(head, results?.at(-1)?.error?.message ?? 'iohost answered fewer events than it was sent');
          if (!result.success && !PERMANENT.has(result.error?.code)) await retryLater(head, result.error?.message ?? 'refused');
          if (result.success) {
            counts.sent++;
            lastError = null;
          } else {
            counts.rejected++;
            log.error(`iohost refused content event ${head.eventId} (${result.error.message}): dropped`);
          }
          done.push(head.id);
        }
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

module.exports = { createOutbox, schema, UID, requests };
