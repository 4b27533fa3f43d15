// The io plugin's page in Strapi's own admin panel (Settings -> Real-time (iohost)), in real
// headless Chromium against a real Strapi 5.54 with the plugin and a real iohost: sign in as
// Strapi's admin, see iohost reachable with its connections and the outbox, tick a permission
// in the matrix and save it: iohost's run-time settings have it, and content events follow it.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';

import { closeAll, connect, until } from '../lib/client.mjs';
import { freePort, repoRoot, startServer } from '../lib/server.mjs';
import { startStrapi } from '../lib/strapi.mjs';

const artifacts = join(repoRoot, 'tests', 'artifacts');
const KEY = 'strapi-settings-api-key-0123456789abcdef01234';
let strapi;
let iohost;
let browser;
let page;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  const port = await freePort();
  strapi = await startStrapi({
    env: { IOHOST_URL: `http://127.0.0.1:${port}`, IOHOST_API_KEY: KEY, IOHOST_CONTENT_TYPES: JSON.stringify(['api::category.category']), SERVE_ADMIN_PANEL: 'true' },
  });
  await strapi.permit('public', ['api::category.category.find', 'api::category.category.findOne']);
  iohost = await startServer({
    port,
    config: `
[api]
keys = ["${KEY}"]

${strapi.iohostSection()}
delivery = "action"
`,
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
});

after(async () => {
  closeAll();
  await browser?.close();
  await iohost?.stop();
  await strapi?.stop();
});

describe('the io plugin\'s settings page in Strapi\'s admin panel', () => {
  it('shows iohost and the outbox, and saves the permission matrix to iohost', async () => {
    const listener = await connect(iohost.url);
    const created = [];
    listener.on('category:create', (p) => created.push(p.data.attributes.name));

    // With delivery = "action", Public gets category:create only once the matrix says so.
    const createCategory = (name) => strapi.call('/api/categories', { method: 'POST', token: strapi.apiToken, body: { data: { name } } });
    await createCategory('before');

    await page.goto(`${strapi.url}/admin/auth/login`);
    await page.fill('input[name="email"]', strapi.admin.email);
    await page.fill('input[name="password"]', strapi.admin.password);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/admin(\/)?$/, { timeout: 30000 });
    await page.goto(`${strapi.url}/admin/settings/iohost`);
    await page.waitForSelector('#iohost-reachable', { timeout: 30000 });
    await page.waitForFunction(() => document.querySelector('#iohost-reachable').textContent.startsWith('Reachable at'));
    await page.waitForFunction(() => /Connections: [1-9]/.test(document.querySelector('#iohost-connections')?.textContent ?? ''), null, { timeout: 10000 });
    assert.match(await page.textContent('#iohost-outbox-length'), /^Waiting: 0/);

    // A role the matrix names receives a type's events only where find is ticked too.
    for (const action of ['find', 'create']) {
      const box = `input[name="public.category.${action}"]`;
      await page.waitForSelector(box);
      assert.equal(await page.isChecked(box), false);
      await page.check(box);
    }
    await page.click('#iohost-save');
    await page.waitForFunction(() => document.querySelector('#iohost-message')?.textContent.startsWith('Saved'));
    await page.screenshot({ path: join(artifacts, 'strapi-settings.png'), fullPage: true });

    const settings = await (await fetch(`${iohost.url}/api/v1/settings`, { headers: { Authorization: `Bearer ${KEY}` } })).json();
    assert.deepEqual(settings.settings.permissions.public.category.sort(), ['create', 'find'], JSON.stringify(settings.settings.permissions));
    assert.deepEqual(settings.permissionsInForce.public.category.sort(), ['create', 'find']);

    await createCategory('after');
    assert.ok(await until(() => created.includes('after'), 10000), 'Public now gets category:create');
    assert.ok(!created.includes('before'), 'and did not before');
    assert.deepEqual(page.errors, []);
  });
});
