// The content-event oracle: against a real Strapi 5.54, every payload a socket of a role
// receives is a subset (same keys, same values, at every depth) of what Strapi's own REST API
// returns that role for the same document, deep-populated; nothing of a draft reaches a role
// that may not read drafts; and a client keeping a live list from the events ends with exactly
// what `GET /api/articles` returns it.
//
// Strapi is set up as a site would be: Public may read articles, categories and media; the
// Authenticated role articles, orders and users; a custom Editor role articles, categories,
// users and media, and reads drafts through iohost's [strapi.drafts]; three API tokens (read
// only, custom on articles only, full access). iohost is configured by `iohost strapi setup`
// and follows Strapi's own permissions: no [strapi.permissions] at all. The documents and the
// actions on them (create as draft or published, edit the draft, publish, edit-and-publish,
// unpublish, discard the draft, delete) are generated from a seed (ORACLE_SEED to replay).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { closeAll, connect, until } from '../lib/client.mjs';
import { WEBHOOK_EVENTS, runOracle, subset } from '../lib/oracle.mjs';
import { binary, freePort, sleep, startServer } from '../lib/server.mjs';
import { startStrapi } from '../lib/strapi.mjs';

let strapi;
let iohost;
let fullToken;
let webhookSecret;
const execFileAsync = promisify(execFile);

before(async () => {
  strapi = await startStrapi();
  const read = ['find', 'findOne'];
  const on = (uid, verbs = read) => verbs.map((v) => `${uid}.${v}`);
  const upload = on('plugin::upload.content-api');
  await strapi.permit('public', [...on('api::article.article'), ...on('api::category.category'), ...upload]);
  await strapi.permit('authenticated', [...on('api::article.article'), ...on('api::order.order'), ...on('plugin::users-permissions.user')]);
  const editorRole = await strapi.role('Editor', [...on('api::article.article'), ...on('api::category.category'), ...on('plugin::users-permissions.user'), ...upload]);

  // iohost configured the way a user would: `iohost strapi setup`, then JWT_SECRET and the
  // two choices this test makes (flat payloads, who reads drafts), nothing about permissions.
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iohost-oracle-'));
  const configFile = join(dir, 'iohost.toml');
  writeFileSync(configFile, '');
  await execFileAsync(binary, ['--config', configFile, 'strapi', 'setup', '--strapi-url', strapi.url, '--public-url', `http://127.0.0.1:${port}`], {
    env: { ...process.env, STRAPI_ADMIN_EMAIL: strapi.admin.email, STRAPI_ADMIN_PASSWORD: strapi.admin.password },
  });
  const written = readFileSync(configFile, 'utf8');
  // setup regenerated the `iohost` token: it is the full-access key from now on.
  fullToken = /api_token = "([0-9a-f]+)"/.exec(written)[1];
  webhookSecret = /webhook_secret = "([0-9a-f]+)"/.exec(written)[1];
  writeFileSync(
    configFile,
    written.replace(
      '[strapi]',
      `[strapi]\njwt_secret = "${strapi.jwtSecret}"\npayload = "flat"\nidentity_cache_ms = 60000\nlookup_timeout_ms = 15000\nrefresh_ms = 1000\n`,
    ) +
      `
[strapi.drafts]
roles = ["editor", "token:oracle-full"]

[strapi.fields.article]
deny = ["internalNotes"]

[strapi.fields.user]
deny = ["email"]

[api]
keys = ["oracle-api-key-0123456789abcdef0123456789"]
`,
  );
  iohost = await startServer({ port, profile: configFile });
  iohost.editorRole = editorRole;
});

after(async () => {
  closeAll();
  await iohost?.stop();
  await strapi?.stop();
});

/** Webhooks iohost has received so far (every result). */
async function webhooksSeen() {
  const text = await (await fetch(`${iohost.url}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^iohost_webhooks_total\{[^}]*\} (\d+)$/gm)) total += Number(m[1]);
  return total;
}

describe('content events against Strapi\'s REST API (oracle)', () => {
  it('every payload is a subset of what REST shows that role; no draft leaks; live lists end equal', async () => {
    await runOracle({
      name: 'webhook',
      strapi,
      iohostUrl: iohost.url,
      fullToken,
      editorRole: iohost.editorRole,
      counts: WEBHOOK_EVENTS,
      seen: webhooksSeen,
      compare: subset,
      denied: ['internalNotes'],
    });
  });
});

describe('kept current with Strapi', () => {
  it('a permission changed in Strapi applies within refresh_ms', async () => {
    const reader = await connect(iohost.url);
    const got = [];
    reader.on('category:create', (p) => got.push(p.data.name));
    // A full-access token hears of every category: when it has, the reader would have too.
    const witness = await connect(iohost.url, { auth: { strategy: 'api-token', token: fullToken } });
    const witnessed = [];
    witness.on('category:create', (p) => witnessed.push(p.data.name));
    const create = (name) => strapi.call('/api/categories', { method: 'POST', token: fullToken, body: { data: { name } } });
    await create('seen');
    assert.ok(await until(() => got.includes('seen'), 5000), 'Public may find categories');
    await strapi.permit('public', ['api::category.category.find'], false);
    await sleep(2500); // past refresh_ms (1000)
    await create('unseen');
    assert.ok(await until(() => witnessed.includes('unseen'), 5000));
    await sleep(200);
    assert.ok(!got.includes('unseen'), 'no longer once Strapi says so');
    await strapi.permit('public', ['api::category.category.find']);
    await sleep(2500);
    await create('seen again');
    assert.ok(await until(() => got.includes('seen again'), 5000));
    reader.close();
    witness.close();
  });

  it('what does not fit the schema is removed, named in the answer, and never delivered unfiltered', async () => {
    const reader = await connect(iohost.url);
    const got = [];
    reader.on('article:publish', (p) => got.push(p));
    const body = {
      event: 'entry.publish',
      createdAt: new Date().toISOString(),
      model: 'article',
      uid: 'api::article.article',
      entry: {
        id: 9999, documentId: 'handmade0000000000000000', title: 'Hand made', subtitle: 'not in the schema',
        description: { html: '<b>not text</b>' }, publishedAt: new Date().toISOString(),
        author: { id: 1, documentId: 'u', username: 'x', password: 'p' },
        seo: { id: 1, metaTitle: 'M', metaSecret: 'hidden', extra: 'unknown' },
        blocks: [{ __component: 'shared.nope', text: 'x' }, 'not an object'],
      },
    };
    const res = await fetch(`${iohost.url}/strapi/webhook`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${webhookSecret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200);
    const answer = await res.json();
    assert.deepEqual(
      [...answer.removed].sort(),
      [
        'article.blocks: an item without a known `__component`',
        'article.blocks: expected components',
        'article.description: expected a single value',
        'article.seo.extra: not in Strapi\'s schema',
        'article.subtitle: not in Strapi\'s schema',
      ],
    );
    assert.ok(await until(() => got.length === 1, 5000));
    assert.deepEqual(got[0].data, {
      id: 9999, documentId: 'handmade0000000000000000', title: 'Hand made', publishedAt: body.entry.publishedAt,
      seo: { id: 1, metaTitle: 'M' }, blocks: [],
    }, 'Public may not find users: no author; private and unknown keys gone');
    reader.close();
  });
});
