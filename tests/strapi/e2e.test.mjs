// Against a real Strapi 5.54: users log in with their Strapi JWTs and land in their role and
// private rooms; content changes made through Strapi's REST API reach exactly the roles that
// may see them, once, in the plugin's shape, without private or denied fields. (The usage
// guide's "Real-Time Blog".)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect, until } from '../lib/client.mjs';
import { sleep, startServer } from '../lib/server.mjs';
import { startStrapi } from '../lib/strapi.mjs';
import { binary } from '../lib/server.mjs';

const execFileAsync = promisify(execFile);
const WEBHOOK_SECRET = 'e2e-webhook-secret-0123456789';
let strapi;
let iohost;

before(async () => {
  strapi = await startStrapi();
  iohost = await startServer({
    config: `
[strapi]
url = "${strapi.url}"
jwt_secret = "${strapi.jwtSecret}"
api_token = "${strapi.apiToken}"
identity_cache_ms = 200
# A busy test machine (other suites compile handlers meanwhile) can slow Strapi down.
lookup_timeout_ms = 15000
webhook_secret = "${WEBHOOK_SECRET}"

[strapi.permissions.public]
article = ["find"]

[strapi.fields.article]
deny = ["internalNotes"]

[server]
namespaces = ["/admin"]

[access.namespaces]
"/admin" = ["authenticated"]
`,
  });
  await strapi.webhook(`${iohost.url}/strapi/webhook`, WEBHOOK_SECRET);
  // A second webhook with a wrong secret: iohost must refuse it and emit nothing for it.
  await strapi.webhook(`${iohost.url}/strapi/webhook`, 'wrong-secret-0123456789', 'impostor');
});
after(async () => {
  closeAll();
  await iohost?.stop();
  await strapi?.stop();
});

/** Every event a socket receives, by name. */
function record(socket) {
  const events = [];
  socket.onAny((name, payload) => events.push({ name, payload }));
  return events;
}


describe('Strapi authentication on connect', () => {
  it('a user with a JWT lands in their role room and their private room', async () => {
    const { jwt, user } = await strapi.register('ada');
    const s = await connect(iohost.url, { auth: { token: jwt } });
    const { rooms } = await ask(s, 'get-rooms');
    assert.deepEqual(rooms.sort(), ['io-role-authenticated', `user-${user.id}`]);
    assert.equal((await ask(s, 'join-room', `user-${user.id}`)).success, true);
    assert.match((await ask(s, 'join-room', `user-${user.id + 1}`)).error, /another user's private room/);
  });

  it('the token may come as a query parameter too', async () => {
    const { jwt } = await strapi.register('bob');
    const s = await connect(iohost.url, { query: { token: jwt } });
    assert.ok((await ask(s, 'get-rooms')).rooms.includes('io-role-authenticated'));
  });

  it('no token: the Public role; a bad token: connect_error "Invalid token."', async () => {
    const s = await connect(iohost.url);
    assert.deepEqual((await ask(s, 'get-rooms')).rooms, ['io-role-public']);
    await assert.rejects(connect(iohost.url, { auth: { token: 'not-a-jwt' } }), { message: 'Invalid token.' });
    const { jwt } = await strapi.register('carol');
    const forged = `${jwt.slice(0, -4)}AAAA`;
    await assert.rejects(connect(iohost.url, { auth: { token: forged } }), { message: 'Invalid token.' });
  });

  it('namespaces check who connects, the token included (not only in /)', async () => {
    await assert.rejects(connect(`${iohost.url}/admin`), { message: 'Role `public` may not connect to /admin' });
    const { jwt } = await strapi.register('frank');
    const s = await connect(`${iohost.url}/admin`, { auth: { token: jwt } });
    assert.ok((await ask(s, 'get-rooms')).rooms.includes('io-role-authenticated'));
  });

  it('require_auth refuses sockets without a user; roles limits who connects at all', async () => {
    const strict = await startServer({
      config: `[strapi]\nurl = "${strapi.url}"\njwt_secret = "${strapi.jwtSecret}"\napi_token = "${strapi.apiToken}"\n[access]\nrequire_auth = true\n`,
    });
    const publicOnly = await startServer({
      config: `[strapi]\nurl = "${strapi.url}"\njwt_secret = "${strapi.jwtSecret}"\napi_token = "${strapi.apiToken}"\n[access]\nroles = ["public"]\n`,
    });
    try {
      const { jwt } = await strapi.register('gina');
      await assert.rejects(connect(strict.url), { message: 'Authentication required' });
      assert.ok((await connect(strict.url, { auth: { token: jwt } })).connected);
      assert.ok((await connect(publicOnly.url)).connected);
      await assert.rejects(connect(publicOnly.url, { auth: { token: jwt } }), { message: 'Role `authenticated` may not connect' });
    } finally {
      closeAll();
      await Promise.all([strict.stop(), publicOnly.stop()]);
    }
  });

  it('a blocked user is refused', async () => {
    const { jwt, user } = await strapi.register('dave');
    assert.ok((await connect(iohost.url, { auth: { token: jwt } })).connected);
    await strapi.call(`/api/users/${user.id}`, { method: 'PUT', token: strapi.apiToken, body: { blocked: true } });
    await sleep(300); // past identity_cache_ms
    await assert.rejects(connect(iohost.url, { auth: { token: jwt } }), { message: 'Your account has been blocked' });
  });
});

describe('the real-time blog', () => {
  it('each role gets exactly the events it may, once, without private or denied fields', async () => {
    const reader = await connect(iohost.url);
    const { jwt } = await strapi.register('erin');
    const member = await connect(iohost.url, { auth: { token: jwt } });
    const atReader = record(reader);
    const atMember = record(member);
    const body = { data: { title: 'Hello', description: 'first', internalNotes: 'secret plans', reviewerEmail: 'r@example.com' } };

    const created = await strapi.call('/api/articles', { method: 'POST', token: strapi.apiToken, body });
    const documentId = created.data.documentId;
    assert.ok(await until(() => atReader.some((e) => e.name === 'article:publish'), 10000), 'publish arrives');
    // Strapi sends webhooks in parallel: their order is not guaranteed, only their count. The
    // draft row's article:create reaches nobody: Public may not read drafts.
    const names = () => atReader.map((e) => e.name).sort();
    assert.deepEqual(names(), ['article:publish']);
    for (const { payload } of atReader) {
      assert.equal(payload.data.attributes.documentId, documentId);
      assert.equal(payload.data.attributes.title, 'Hello');
      assert.deepEqual(payload.meta, {});
      assert.ok(!('internalNotes' in payload.data.attributes), 'denied by iohost config');
      assert.ok(!('reviewerEmail' in payload.data.attributes), 'private in Strapi');
    }

    await strapi.call(`/api/articles/${documentId}`, { method: 'PUT', token: strapi.apiToken, body: { data: { title: 'Hello again' } } });
    assert.ok(await until(() => atReader.filter((e) => e.name === 'article:publish').length === 2, 10000));
    const republished = atReader.filter((e) => e.name === 'article:publish')[1];
    assert.equal(republished.payload.data.attributes.title, 'Hello again');

    await strapi.call(`/api/articles/${documentId}`, { method: 'DELETE', token: strapi.apiToken });
    assert.ok(await until(() => atReader.some((e) => e.name === 'article:delete'), 10000));
    await sleep(500);
    const deletes = atReader.filter((e) => e.name === 'article:delete');
    assert.equal(deletes.length, 1, 'one delete per document, though Strapi sends one per row');
    assert.equal(deletes[0].payload.data.documentId, documentId);
    assert.deepEqual(Object.keys(deletes[0].payload.data).sort(), ['documentId', 'id']);

    assert.deepEqual(names(), ['article:delete', 'article:publish', 'article:publish']);
    assert.ok(atReader.every((e) => e.payload.data.attributes?.publishedAt !== null), 'never a draft');
    assert.deepEqual(atMember, [], 'the authenticated role has no permission on articles');
    await iohost.waitForLog(/refused a webhook: missing or wrong secret/);
  });
});

describe('iohost strapi setup', () => {
  it('creates the webhook and an API token, writes them to the config, and is safe to run again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iohost-setup-'));
    const configFile = join(dir, 'iohost.toml');
    writeFileSync(configFile, '# my settings\n[server]\nnamespaces = ["/admin"]\n');
    const target = await startServer();
    const publicUrl = target.url;
    await target.stop();
    // The Strapi project's folder: setup reads JWT_SECRET from its .env.
    const project = mkdtempSync(join(tmpdir(), 'strapi-project-'));
    writeFileSync(join(project, '.env'), `HOST=0.0.0.0\nPORT=1337\n# JWT_SECRET=not-this-one\nJWT_SECRET=${strapi.jwtSecret}\n`);
    const { JWT_SECRET, ...environment } = process.env;
    const run = (...extra) =>
      execFileAsync(binary, ['--config', configFile, 'strapi', 'setup', '--strapi-url', strapi.url, '--public-url', publicUrl, ...extra], {
        env: { ...environment, STRAPI_ADMIN_EMAIL: 'admin@example.com', STRAPI_ADMIN_PASSWORD: 'Adm1nPassword' },
      });
    const first = await run('--strapi-dir', project);
    assert.match(first.stdout, /webhook `iohost` (created|updated)/);
    assert.match(first.stdout, /admin user `iohost-token-reader@iohost.invalid` \(role `iohost token reader`: may only read API tokens and role permissions\) (created|updated)/);
    assert.match(first.stdout, /: set strapi\.url, strapi\.api_token, strapi\.admin_email, strapi\.admin_password, strapi\.webhook_secret, strapi\.jwt_secret\n/);
    assert.match(first.stdout, new RegExp(`strapi\\.jwt_secret from JWT_SECRET in ${project}/\\.env`));
    assert.doesNotMatch(first.stdout, /still to do/);
    assert.ok(!first.stdout.includes(strapi.jwtSecret), 'the secret is not printed');
    const afterFirst = readFileSync(configFile, 'utf8');
    // Run again: the token, the reader's password and the webhook's secret still work, so
    // they are kept (anything else using that token keeps working, webhooks on their way
    // still arrive).
    const second = await run();
    assert.match(second.stdout, /webhook `iohost` updated/);
    assert.match(second.stdout, /API token `iohost` kept \(the key in the config file still works; --rotate-token makes a new one\)/);
    assert.match(second.stdout, /admin user `iohost-token-reader@iohost.invalid` .* kept \(its password in the config file still works\)/);
    assert.match(second.stdout, /: nothing changed\n.*: unchanged strapi\.url, strapi\.api_token, strapi\.admin_email, strapi\.admin_password, strapi\.webhook_secret\n/s);
    assert.doesNotMatch(second.stdout, /still to do/, 'the jwt_secret from the first run is there');
    const key = (text, name) => new RegExp(`${name} = "([^"]+)"`).exec(text)?.[1];
    const afterSecond = readFileSync(configFile, 'utf8');
    for (const name of ['api_token', 'admin_password', 'jwt_secret']) assert.equal(key(afterSecond, name), key(afterFirst, name), `${name} kept`);
    // An iohost running with the file takes what setup writes next, without a restart.
    const configured = await startServer({ port: Number(publicUrl.split(':').pop()), env: { IOHOST_CONFIG: configFile }, profile: configFile });
    // --rotate-token makes a new one, and the old key stops working in Strapi.
    const third = await run('--rotate-token');
    assert.match(third.stdout, /an iohost running with .* applies the \[strapi\] keys at once \(no restart\)/);
    await configured.waitForLog(/applied strapi\.api_token from the config file, no restart needed/, 5000);
    assert.match(third.stdout, /API token `iohost` regenerated \(its old key no longer works\)/);
    const written = readFileSync(configFile, 'utf8');
    assert.notEqual(key(written, 'api_token'), key(afterSecond, 'api_token'));
    const old = await fetch(`${strapi.url}/api/users?pagination[pageSize]=1`, { headers: { Authorization: `Bearer ${key(afterSecond, 'api_token')}` } });
    assert.equal(old.status, 401);
    // A JWT_SECRET in setup's environment that differs from the project's: an error.
    const conflicting = execFileAsync(binary, ['--config', configFile, 'strapi', 'setup', '--strapi-url', strapi.url, '--public-url', publicUrl, '--strapi-dir', project], {
      env: { ...environment, JWT_SECRET: 'another-secret', STRAPI_ADMIN_EMAIL: 'admin@example.com', STRAPI_ADMIN_PASSWORD: 'Adm1nPassword' },
    });
    await assert.rejects(conflicting, (err) => err.stderr.includes('it differs from the JWT_SECRET given to setup (its environment): unset one'));
    assert.equal(readFileSync(configFile, 'utf8'), written);
    // A project folder without JWT_SECRET: a clear error, nothing written.
    const empty = mkdtempSync(join(tmpdir(), 'strapi-project-'));
    writeFileSync(join(empty, '.env'), 'HOST=0.0.0.0\n');
    await assert.rejects(run('--strapi-dir', empty), (err) => err.stderr.includes(`no JWT_SECRET in ${empty}/.env: the file does not set it`));
    assert.equal(readFileSync(configFile, 'utf8'), written);
    assert.ok(written.startsWith('# my settings'), 'the rest of the file is kept');
    const secret = /webhook_secret = "([0-9a-f]{48})"/.exec(written)?.[1];
    assert.ok(secret, written);
    const hooks = (await strapi.call('/admin/webhooks', { token: strapi.adminToken })).data.filter((w) => w.name === 'iohost');
    assert.equal(hooks.length, 1, 'running it twice leaves one webhook');
    assert.equal(hooks[0].url, `${publicUrl}/strapi/webhook`);

    // The written config works in the iohost that was running: Strapi's test trigger reaches it.
    try {
      await strapi.call(`/admin/webhooks/${hooks[0].id}/trigger`, { method: 'POST', token: strapi.adminToken });
      const metrics = await (await fetch(`${configured.url}/metrics`)).text();
      assert.match(metrics, /iohost_webhooks_total\{event="trigger-test",result="test"\} 1/);
      // ... and its token reader lets clients connect with an API token.
      const kiosk = await strapi.call('/admin/api-tokens', { method: 'POST', token: strapi.adminToken, body: { name: 'Kiosk', type: 'read-only', lifespan: null } });
      const s = await connect(configured.url, { auth: { strategy: 'api-token', token: kiosk.data.accessKey } });
      assert.deepEqual((await ask(s, 'get-rooms')).rooms, ['io-token-kiosk']);
      // ... and users connect with their Strapi JWT (jwt_secret from the project's .env),
      // looked up with the regenerated token (the old one is refused by Strapi by now).
      const { jwt, user } = await strapi.register(`setup-${process.pid}`);
      const member = await connect(configured.url, { auth: { token: jwt } });
      assert.deepEqual((await ask(member, 'get-rooms')).rooms.sort(), ['io-role-authenticated', `user-${user.id}`].sort());
      member.close();
      // The reader may do nothing else in Strapi.
      const login = await strapi.call('/admin/login', { method: 'POST', body: { email: 'iohost-token-reader@iohost.invalid', password: /admin_password = "([^"]+)"/.exec(written)[1] } });
      const res = await fetch(`${strapi.url}/admin/webhooks`, { headers: { Authorization: `Bearer ${login.data.token}` } });
      assert.equal(res.status, 403);
      s.close();
    } finally {
      await configured.stop();
    }
    await assert.rejects(
      execFileAsync(binary, ['--config', configFile, 'strapi', 'setup', '--strapi-url', strapi.url, '--public-url', publicUrl], {
        env: { ...process.env, STRAPI_ADMIN_EMAIL: 'admin@example.com', STRAPI_ADMIN_PASSWORD: 'wrong' },
      }),
      (err) => /Strapi refused the admin login/.test(err.stderr),
    );
  });
});

describe('Strapi down', () => {
  it('cached identities keep connecting within the cache time; others get a clear connect_error', async () => {
    const own = await startStrapi();
    const server = await startServer({
      config: `[strapi]\nurl = "${own.url}"\njwt_secret = "${own.jwtSecret}"\napi_token = "${own.apiToken}"\nidentity_cache_ms = 60000\nlookup_timeout_ms = 500\n`,
    });
    try {
      const known = await own.register('hank');
      const stranger = await own.register('iris');
      assert.ok((await connect(server.url, { auth: { token: known.jwt } })).connected, 'looked up while Strapi is up');
      await own.stop();
      const again = await connect(server.url, { auth: { token: known.jwt } });
      assert.ok((await ask(again, 'get-rooms')).rooms.includes(`user-${known.user.id}`), 'served from the cache');
      await assert.rejects(connect(server.url, { auth: { token: stranger.jwt } }), {
        message: 'Authentication is unavailable right now, try again',
      });
      assert.ok((await connect(server.url)).connected, 'sockets without a token are not affected');
      await server.waitForLog(/cannot reach Strapi to look a user up/);
    } finally {
      closeAll();
      await server.stop();
      await own.stop();
    }
  });
});
