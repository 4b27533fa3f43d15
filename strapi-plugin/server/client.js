'use strict';

// iohost's HTTP API (/api/v1) as the plugin calls it: bearer key, a deadline per call, iohost's
// error message in the thrown error, and calls sent one after another in the order they were
// made, so that `joinRoom(id, room)` followed by `server.to(room).emit(...)` (neither awaited,
// as backend code does) reaches iohost in that order.

/** An error from iohost or from the way to it. `code` is iohost's (`no_socket`, `bad_request`,
 * ...) or the plugin's own: `not_configured`, `timeout`, `unreachable`, `bad_answer`. */
class IohostError extends Error {
  constructor(message, { code, status, method, path } = {}) {
    super(message);
    this.name = 'IohostError';
    this.code = code;
    this.status = status;
    this.method = method;
    this.path = path;
  }
}

/**
 * @param {object} options
 * @param {string} options.url iohost's base URL, e.g. `http://127.0.0.1:1338`
 * @param {string} options.apiKey one of iohost's `api.keys`
 * @param {number} options.timeoutMs deadline of one call, from when it is sent
 * @param {typeof fetch} [options.fetch] for the plugin's unit tests
 */
function createClient({ url, apiKey, timeoutMs, fetch = globalThis.fetch }) {
  const base = `${String(url || '').replace(/\/+$/, '')}/api/v1`;
  let tail = Promise.resolve();

  async function send(method, path, body, deadlineMs = timeoutMs) {
    if (!url || !apiKey) {
      throw new IohostError(
        'iohost is not configured: set the io plugin\'s `url` and `apiKey` in config/plugins.js (or IOHOST_URL and IOHOST_API_KEY)',
        { code: 'not_configured', method, path },
      );
    }
    let res;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${apiKey}`,
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(deadlineMs),
      });
    } catch (e) {
      if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
        throw new IohostError(`iohost did not answer ${method} ${path} within ${deadlineMs} ms`, { code: 'timeout', method, path });
      }
      const why = e?.cause?.code || e?.cause?.message || e?.message;
      throw new IohostError(`iohost is unreachable at ${url} (${why})`, { code: 'unreachable', method, path });
    }
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      throw new IohostError(`iohost answered ${method} ${path} with ${res.status} and a body that is not JSON`, {
        code: 'bad_answer',
        status: res.status,
        method,
        path,
      });
    }
    if (!res.ok) {
      const detail = json?.error;
      throw new IohostError(`iohost: ${detail?.message || `${method} ${path} answered ${res.status}`}`, {
        code: detail?.code || 'bad_answer',
        status: res.status,
        method,
        path,
      });
    }
    return { body: json, headers: res.headers };
  }

  return {
    base,
    /**
     * Sends after every call made before it has finished (failed or not). `extraMs` lengthens
     * this call's deadline; such a call (an emit waiting for clients' acks) does not hold up
     * the calls made after it: they wait for the ones before it only.
     */
    call(method, path, body, extraMs = 0) {
      if (extraMs > 0) return tail.then(() => send(method, path, body, timeoutMs + extraMs));
      const result = tail.then(() => send(method, path, body));
      tail = result.then(
        () => undefined,
        () => undefined,
      );
      return result;
    },
    /** Resolves once every call made so far has finished (failed or not). */
    idle: () => tail,
    /** Sends at once, beside the queue (the monitoring mirror's stream). */
    stream(path, signal) {
      if (!url || !apiKey) return Promise.reject(new IohostError('iohost is not configured', { code: 'not_configured' }));
      return fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${apiKey}` }, signal });
    },
  };
}

/** The messages of a server-sent event stream (`fetch` response): `{event, data}` each. */
async function* serverSentEvents(res) {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: ?(.*)$/m.exec(message)?.[1] ?? 'message';
      const data = message
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) yield { event, data };
    }
  }
}

/**
 * Runs `readOnce` (one stream) again and again until stopped, with backoff (0.5 s to 10 s)
 * after a failure; says once when it lost iohost (`onLost(error)`).
 */
async function keepReading({ readOnce, stopped, onLost }) {
  let delay = 500;
  let lost = false;
  while (!stopped()) {
    try {
      await readOnce();
      delay = 500;
      lost = false;
    } catch (e) {
      if (stopped()) return;
      if (!lost) onLost(e);
      lost = true;
    }
    if (stopped()) return;
    await new Promise((r) => setTimeout(r, delay).unref?.());
    delay = Math.min(delay * 2, 10000);
  }
}

module.exports = { createClient, IohostError, serverSentEvents, keepReading };
