// The `strapi` import's limits, with a stand-in HTTP server in Strapi's place that answers as
// slowly as a test needs (the real Strapi cannot be made slow on purpose; the bridge suite
// calls the real one). The wait does not count against the handler's call time limit; past
// [handlers.strapi] timeout_ms the handler gets `unavailable`; bad paths never leave iohost.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect } from '../lib/client.mjs';
import { startServer } from '../lib/server.mjs';

let slow;
let slowUrl;
const seen = [];

before(async () => {
  slow = createServer((req, res) => {
    seen.push({ url: req.url, auth: req.headers.authorization });
    const delay = Number(new URL(req.url, 'http://x').searchParams.get('delay') ?? 0);
    setTimeout(() => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ data: 'big'.repeat(Number(new URL(req.url, 'http://x').searchParams.get('size') ?? 1)) }));
    }, delay);
  });
  await new Promise((r) => slow.listen(0, '127.0.0.1', r));
  slowUrl = `http://127.0.0.1:${slow.address().port}`;
});
after(() => {
  closeAll();
  slow.close();
});

async function probeServer(grant = true) {
  return startServer({
    config: `
[strapi]
url = "${slowUrl}"
api_token = "probe-api-token"

[handlers.strapi]
allow = [${grant ? '"strapi-probe"' : ''}]
timeout_ms = 1500
max_response_bytes = 4096
`,
    handlers: ['strapi-probe'],
    // A short call limit: waiting for Strapi must not count against it.
    // 400 ms, not less: on a loaded 2-core CI machine a guest's few microseconds can be
    // descheduled for a while, and that counts as running time.
    sidecars: { 'strapi-probe': '[limits]\ncall_timeout_ms = 400\n' },
  });
}

describe('the strapi import', () => {
  it('waits past the call time limit for a slow answer, with iohost\'s API token', async () => {
    const server = await probeServer();
    try {
      const s = await connect(server.url);
      // A first quick call makes the instance, so the slow one measures the wait alone.
      assert.deepEqual(await ask(s, 'strapi:get', '/api/articles'), { status: 200, body: '{"data":"big"}' });
      // Three times the call limit, within timeout_ms (1500).
      const answer = await ask(s, 'strapi:get', '/api/articles?delay=1200');
      assert.deepEqual(answer, { status: 200, body: '{"data":"big"}' });
      assert.equal(seen.at(-1).auth, 'Bearer probe-api-token');
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('answers unavailable past timeout_ms or past max_response_bytes, and refuses bad paths before sending', async () => {
    const server = await probeServer();
    try {
      const s = await connect(server.url);
      assert.match((await ask(s, 'strapi:get', '/api/articles?delay=3000')).error, /^unavailable: Strapi did not answer within 1500 ms/);
      assert.match((await ask(s, 'strapi:get', '/api/articles?size=5000')).error, /^unavailable: Strapi's answer is larger than 4096 bytes/);
      const before = seen.length;
      // Every way out of /api/ is refused, with the reason, before anything is sent.
      const tricks = {
        '/admin/users': 'it must start with /api/',
        'http://elsewhere/api/x': 'it must start with /api/',
        '/api/../admin/users': 'no `.` or `..` segments, encoded or not',
        '/api/./x': 'no `.` or `..` segments, encoded or not',
        '/api/%2e%2e/admin/leak': 'no `.` or `..` segments, encoded or not',
        '/api/x/%2E%2E/%2e%2e/admin': 'no `.` or `..` segments, encoded or not',
        '/api/.%2e/admin': 'no `.` or `..` segments, encoded or not',
        '/api/x%2f..%2f..%2fadmin': 'no encoded `/`, `\\`, `%` or control characters in a segment',
        '/api/x%5c..%5cadmin': 'no encoded `/`, `\\`, `%` or control characters in a segment',
        '/api/%252e%252e/admin': 'no encoded `/`, `\\`, `%` or control characters in a segment',
        '/api/x\\..\\admin': 'no spaces, control characters, backslashes or fragments',
        '/api/x#/../../admin': 'no spaces, control characters, backslashes or fragments',
        '/api//admin': 'no empty segments (`//`)',
        '/api/%zz': 'a `%` not followed by two hex digits',
      };
      for (const [path, why] of Object.entries(tricks)) {
        assert.equal((await ask(s, 'strapi:get', path)).error, `bad-request: path \`${path}\` is refused: ${why}`, path);
      }
      assert.equal(seen.length, before, 'nothing was sent');
      assert.deepEqual(await ask(s, 'strapi:send', '/api/ping'), { sent: true });
    } finally {
      closeAll();
      await server.stop();
    }
  });

  it('a handler without the grant gets not-allowed', async () => {
    const server = await probeServer(false);
    try {
      const s = await connect(server.url);
      assert.equal(
        (await ask(s, 'strapi:get', '/api/articles')).error,
        'not-allowed: handler `strapi-probe` may not call Strapi (grant it with [handlers.strapi] allow in iohost.toml)',
      );
    } finally {
      closeAll();
      await server.stop();
    }
  });
});
