// The admin page in real headless Chromium: sign in, watch a client connect live, read the
// event log, disconnect a client, switch a handler off and on (and see delivery change), see a
// handler switched off after its faults and switch it on, send
// a test event and change a setting.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { once, repoRoot, startServer } from '../lib/server.mjs';

const artifacts = join(repoRoot, 'tests', 'artifacts');
const KEY = 'admin-key-0123456789abcdef0123456789abcdef';
const WEBHOOK_SECRET = 'admin-webhook-secret-0123';
let sent = 0;

/** Posts Strapi's entry.create webhook for a published article (a new notification each time). */
function articleCreated() {
  return fetch(`${server.url}/strapi/webhook`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${WEBHOOK_SECRET}` },
    body: JSON.stringify({
      event: 'entry.create',
      createdAt: new Date(Date.now() + sent++).toISOString(),
      model: 'article',
      uid: 'api::article.article',
      entry: { id: sent, documentId: `doc${sent}`, title: 'Hi', publishedAt: '2026-11-25T19:00:02.927Z' },
    }),
  });
}

let server;
let browser;
let page;
before(async () => {
  mkdirSync(artifacts, { recursive: true });
  server = await startServer({
    config: `[api]\nkeys = ["${KEY}"]\n[strapi]\nwebhook_secret = "${WEBHOOK_SECRET}"\n[handlers.failure.handlers.faults]\ndisable_after = 2\n`,
    handlers: ['echo', 'faults'],
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await (await browser.newContext()).newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
});
after(async () => {
  closeAll();
  await browser?.close();
  await server?.stop();
});

const rowOf = (attr, value) => `tr[data-${attr}="${value}"]`;

describe('admin page in Chromium', () => {
  it('refuses a wrong key and signs in with the right one; the key never enters the URL', async () => {
    await page.goto(`${server.url}/admin`);
    await page.fill('#key', 'wrong-key');
    await page.click('#sign-in button');
    await page.waitForFunction(() => document.querySelector('#sign-in-error').textContent.includes('wrong API key'));
    await page.fill('#key', KEY);
    await page.click('#sign-in button');
    await page.waitForSelector('#app:not([hidden])');
    await page.waitForFunction(() => document.querySelector('#live-status').textContent === 'Live');
    assert.ok(!page.url().includes(KEY));
  });

  it('shows a client connect live and its events in the log', async () => {
    const client = await connect(server.url, { auth: { name: 'watched' } });
    await page.waitForSelector(rowOf('socket', client.id));
    await page.waitForFunction(() => document.querySelector('#connections').textContent === '1');
    await ask(client, 'message-with-ack', 'hello');
    await ask(client, 'join-room', 'lobby');
    await page.waitForFunction(() => document.querySelector('#log').textContent.includes('message-with-ack → handled'));
    await page.waitForFunction(() => document.querySelector('#log').textContent.includes('join-room → built-in'));
    await page.fill('#log-filter', 'join-room');
    assert.ok(!(await page.textContent('#log')).includes('message-with-ack'));
    await page.fill('#log-filter', '');
    await page.waitForFunction(() => [...document.querySelectorAll('#rooms tr')].some((tr) => tr.textContent.includes('lobby')));
    await page.screenshot({ path: join(artifacts, 'admin.png'), fullPage: true });
  });

  it('disconnects a client from its row', async () => {
    const client = await connect(server.url);
    await page.waitForSelector(rowOf('socket', client.id));
    const gone = once(client, 'disconnect');
    await page.click(`${rowOf('socket', client.id)} button`);
    const [reason] = await gone;
    assert.equal(reason, 'io server disconnect');
    await page.waitForSelector(rowOf('socket', client.id), { state: 'detached' });
  });

  it('switches a handler off and on, and delivery follows', async () => {
    const client = await connect(server.url);
    await page.click(`${rowOf('handler', 'echo')} button`);
    await page.waitForFunction(() => document.querySelector('tr[data-handler="echo"]').textContent.includes('disabled'));
    assert.deepEqual(await ask(client, 'message-with-ack', 'x'), { success: false, error: 'no handler for event `message-with-ack`' });
    await page.click(`${rowOf('handler', 'echo')} button`);
    await page.waitForFunction(() => document.querySelector('tr[data-handler="echo"]').textContent.includes('loaded'));
    assert.equal(await ask(client, 'message-with-ack', 'back'), 'back');
  });

  it('shows a handler switched off after its faults, and switches it on again', async () => {
    const client = await connect(server.url);
    await ask(client, 'trap');
    await ask(client, 'trap');
    await page.waitForFunction(() => document.querySelector('tr[data-handler="faults"]').textContent.includes('switched off after 2 consecutive faults (its events are refused)'));
    assert.deepEqual(await ask(client, 'fine'), { success: false, error: 'handler `faults` is switched off after 2 consecutive faults' });
    await page.click(`${rowOf('handler', 'faults')} button`);
    await page.waitForFunction(() => !document.querySelector('tr[data-handler="faults"]').textContent.includes('switched off'));
    assert.equal(await ask(client, 'fine'), 'fine');
  });

  it('sends a test event', async () => {
    const client = await connect(server.url);
    await ask(client, 'join-room', 'testers');
    const got = once(client, 'announcement');
    await page.fill('#send-event', 'announcement');
    await page.fill('#send-room', 'testers');
    await page.fill('#send-data', '{"text": "from the admin page"}');
    await page.click('#send button');
    assert.deepEqual(await got, { text: 'from the admin page' });
    await page.waitForFunction(() => document.querySelector('#send-result').textContent.includes('Sent'));
  });

  it('changes a content permission, and delivery follows at once', async () => {
    const client = await connect(server.url);
    const got = collect(client, 'article:create');
    assert.equal((await articleCreated()).status, 200);
    await ask(client, 'get-rooms');
    assert.deepEqual(got, [], 'no role may receive articles yet');

    await page.fill('#perm-role', 'public');
    await page.fill('#perm-type', 'article');
    await page.click('#permission-add button');
    await page.check('tr[data-permission-row="public/article"] input[data-permission="find"]');
    await page.click('#permissions-save');
    await page.waitForFunction(() => document.querySelector('#permissions-result').textContent.includes('Saved and applied'));
    assert.equal((await articleCreated()).status, 200);
    assert.ok(await until(() => got.length === 1), 'the next event is delivered');
    assert.equal(got[0].data.attributes.title, 'Hi');
    await page.waitForFunction(() => document.querySelector('#webhooks').textContent.startsWith('2 /'));
    await page.screenshot({ path: join(artifacts, 'admin-permissions.png'), fullPage: true });
  });

  it('changes a setting, applied without a restart', async () => {
    const polling = `${server.url}/socket.io/?EIO=4&transport=polling`;
    assert.equal((await fetch(polling, { headers: { Origin: 'http://allowed.example' } })).status, 403);
    await page.fill('#cors', 'http://allowed.example');
    await page.click('#settings button');
    await page.waitForFunction(() => document.querySelector('#settings-result').textContent.includes('Saved and applied'));
    assert.equal((await fetch(polling, { headers: { Origin: 'http://allowed.example' } })).status, 200);

    // Access rules: from now on sockets without a user are refused; then back to the file's.
    await page.fill('#access', '{"require_auth": true}');
    await page.evaluate(() => (document.querySelector('#settings-result').textContent = ''));
    await page.click('#settings button');
    await page.waitForFunction(() => document.querySelector('#settings-result').textContent.includes('Saved and applied'));
    await assert.rejects(connect(server.url), { message: 'Authentication required' });
    await page.fill('#access', '{"roles": ["Admin"]}');
    await page.click('#settings button');
    await page.waitForFunction(() => document.querySelector('#settings-result').textContent.includes('Refused'));
    assert.match(await page.textContent('#settings-result'), /access\.roles/);
    await page.fill('#access', '');
    await page.click('#settings button');
    await page.waitForFunction(() => document.querySelector('#settings-result').textContent.includes('Saved and applied'));
    assert.ok((await connect(server.url)).connected);
    await page.screenshot({ path: join(artifacts, 'admin-after.png'), fullPage: true });
    assert.deepEqual(page.errors, []);
  });
});
