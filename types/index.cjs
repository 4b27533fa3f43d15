'use strict';
// A client for iohost's HTTP API, for ESM (index.mjs re-exports it) and CommonJS (Strapi's
// server code). Its types come from the OpenAPI document (index.d.ts).
const createClient = require('openapi-fetch').default ?? require('openapi-fetch');

function createIohostClient({ url, apiKey, timeoutMs = 10000, fetch }) {
  if (!url || !apiKey) throw new TypeError('createIohostClient needs `url` and `apiKey`');
  return createClient({
    baseUrl: `${String(url).replace(/\/+$/, '')}/api/v1`,
    headers: { Authorization: `Bearer ${apiKey}` },
    // Each call gets its own deadline (a signal made once would expire for all).
    fetch: async (request) => {
      // An emit that waits for clients' acks gets that long on top.
      const waits = request.method === 'POST' && request.url.endsWith('/emit') ? ackWait(await request.clone().text()) : 0;
      return (fetch ?? globalThis.fetch)(new Request(request, { signal: AbortSignal.timeout(timeoutMs + waits) }));
    },
  });
}

module.exports = { createIohostClient };

/** `ack.timeoutMs` of an emit's body, 0 without one. */
function ackWait(text) {
  try {
    return Number(JSON.parse(text)?.ack?.timeoutMs) || 0;
  } catch {
    return 0;
  }
}
