// The demo page in real headless Chromium: two people in the lobby see each other online,
// see each other typing and exchange messages, through the WASM handlers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';

import { until } from '../lib/client.mjs';
import { binary, freePort, installHandler, repoRoot, startServer } from '../lib/server.mjs';

const artifacts = join(repoRoot, 'tests', 'artifacts');
const demoHandlers = ['rate-limit', 'moderation', 'presence', 'chat-typing', 'chat-messages'];
const sidecars = Object.fromEntries(
  demoHandlers.map((h) => [h, readFileSync(join(repoRoot, 'handlers', `${h}.toml`), 'utf8')]),
);

let server;
let browser;
before(async () => {
  mkdirSync(artifacts, { recursive: true });
  server = await startServer({
    config: `[server]\nstatic_dir = "${join(repoRoot, 'demo', 'public')}"\n`,
    handlers: demoHandlers,
    sidecars,
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function joinAs(name) {
  const page = await (await browser.newContext()).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(server.url);
  await page.fill('#name', name);
  await page.click('#join');
  await page.waitForSelector('#chat:not([hidden])');
  page.errors = errors;
  return page;
}

const onlineNames = (page) => page.$$eval('#online li', (items) => items.map((li) => li.textContent));

describe('demo chat in Chromium', () => {
  let alice;
  let bob;

  it('shows each person the other online', async () => {
    alice = await joinAs('alice');
    assert.deepEqual(await onlineNames(alice), ['alice']);
    bob = await joinAs('bob');
    await alice.waitForFunction(() => document.querySelectorAll('#online li').length === 2);
    assert.deepEqual(await onlineNames(alice), ['alice', 'bob']);
    assert.deepEqual(await onlineNames(bob), ['alice', 'bob']);
    assert.match(await alice.textContent('#status'), /Connected as alice/);
  });

  it('shows one person typing to the other', async () => {
    await bob.type('#text', 'hi al', { delay: 30 });
    await alice.waitForFunction(() => document.querySelector('#typing').textContent.includes('bob is typing'));
    assert.equal(await bob.textContent('#typing'), '', 'nobody sees their own typing indicator');
    await alice.screenshot({ path: join(artifacts, 'demo-typing.png'), fullPage: true });
  });

  it('delivers messages to both', async () => {
    await alice.fill('#text', 'hello bob');
    await alice.click('#send');
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => document.querySelector('#messages').textContent.includes('hello bob'));
      assert.match(await page.textContent('#messages li:last-child'), /^alicehello bob$/);
    }
    await alice.screenshot({ path: join(artifacts, 'demo-alice.png'), fullPage: true });
    await bob.screenshot({ path: join(artifacts, 'demo-bob.png'), fullPage: true });
  });

  it('drops a message with a banned word (the JavaScript moderation handler) and says why', async () => {
    await alice.fill('#text', 'cheap spam here');
    await alice.click('#send');
    await alice.waitForFunction(() => document.body.textContent.includes('message dropped: it contains a banned word (spam)'));
    await alice.fill('#text', 'sorry bob');
    await alice.click('#send');
    await bob.waitForFunction(() => document.querySelector('#messages').textContent.includes('sorry bob'));
    assert.doesNotMatch(await bob.textContent('#messages'), /spam/);
  });

  it('updates the online list when someone leaves', async () => {
    await bob.context().close();
    await alice.waitForFunction(() => document.querySelectorAll('#online li').length === 1);
    assert.deepEqual(await onlineNames(alice), ['alice']);
    assert.deepEqual(alice.errors, []);
  });
});

describe('the demo\'s admin page (scripts/demo-serve.sh, as scripts/demo.sh runs it)', () => {
  it('prints the admin URL and a key made for this run, and the admin page shows the demo\'s handlers', async () => {
    // The demo's handlers folder, as install_demo_handlers fills ./handlers.
    const dir = mkdtempSync(join(tmpdir(), 'iohost-demo-'));
    for (const name of demoHandlers) {
      installHandler(dir, name);
      writeFileSync(join(dir, `${name}.toml`), sidecars[name]);
    }
    const port = await freePort();
    const proc = spawn(join(repoRoot, 'scripts', 'demo-serve.sh'), [binary], {
      env: { ...process.env, IOHOST_SERVER__LISTEN: `127.0.0.1:${port}`, IOHOST_HANDLERS__DIR: dir, IOHOST_HANDLERS__BASELINE_FIRST: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (c) => (out += c));
    proc.stderr.on('data', (c) => (out += c));
    try {
      const url = `http://127.0.0.1:${port}`;
      await until(() => /listening on/.test(out), 60000);
      assert.match(out, new RegExp(`admin page: ${url.replace(/\./g, '\\.')}/admin`));
      const key = /API key for this run: ([0-9a-f]{48})/.exec(out)?.[1];
      assert.ok(key, out);
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${url}/admin`);
      await page.fill('#key', key);
      await page.click('#sign-in button');
      await page.waitForSelector('#app:not([hidden])');
      // The handlers load in the background: the live page lists them all once they have.
      for (const name of demoHandlers) await page.waitForSelector(`tr[data-handler="${name}"]`, { timeout: 60000 });
      await page.screenshot({ path: join(artifacts, 'demo-admin.png'), fullPage: true });
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  });
});
