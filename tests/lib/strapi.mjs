// A real Strapi 5.54 for end-to-end tests: tests/strapi/app, installed by scripts/test.sh
// (node_modules cached), started on a free port with a fresh SQLite file, then set up over
// HTTP (admin, API token, permissions) as reference/strapi.md describes. No mocks.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort, repoRoot, sleep } from './server.mjs';

const app = join(repoRoot, 'tests', 'strapi', 'app');
const secret = () => randomBytes(16).toString('hex');

/** `env`: more environment variables (e.g. the io plugin's IOHOST_URL and IOHOST_API_KEY). */
export async function startStrapi({ jwtManagement = 'legacy-support', env = {} } = {}) {
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'iohost-strapi-'));
  const jwtSecret = secret();
  const proc = spawn(process.execPath, [join(app, 'node_modules', '@strapi', 'strapi', 'bin', 'strapi.js'), 'start'], {
    cwd: app,
    env: {
      ...process.env,
      // In production Strapi refuses webhook URLs on loopback addresses (SSRF guard); the tests
      // run both on 127.0.0.1, so Strapi runs as in development (`strapi start` still).
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: String(port),
      APP_KEYS: [secret(), secret()].join(','),
      API_TOKEN_SALT: secret(),
      ADMIN_JWT_SECRET: secret(),
      TRANSFER_TOKEN_SALT: secret(),
      ENCRYPTION_KEY: secret(),
      JWT_SECRET: jwtSecret,
      JWT_MANAGEMENT: jwtManagement,
      DATABASE_FILENAME: join(data, 'data.db'),
      STRAPI_TELEMETRY_DISABLED: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  proc.stdout.on('data', (c) => (logs += c));
  proc.stderr.on('data', (c) => (logs += c));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`Strapi exited with ${proc.exitCode}:\n${logs}`);
    try {
      if ((await fetch(`${url}/_health`)).status === 204) break;
    } catch {}
    if (i > 600) throw new Error(`Strapi did not start in 60 s:\n${logs}`);
    await sleep(100);
  }

  const call = async (path, { method = 'GET', body, token } = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error(`${method} ${path} -> ${res.status}: ${text}`);
    return json;
  };

  const admin = { email: 'admin@example.com', password: 'Adm1nPassword' };
  await call('/admin/register-admin', { method: 'POST', body: { firstname: 'Ada', lastname: 'Admin', ...admin } });
  const adminToken = (await call('/admin/login', { method: 'POST', body: admin })).data.token;
  const apiToken = (await call('/admin/api-tokens', { method: 'POST', token: adminToken, body: { name: 'iohost', type: 'full-access', lifespan: null } })).data.accessKey;

  return {
    url,
    /**
     * iohost's `[strapi]` section for this Strapi (its URL, JWT secret, the full-access token,
     * the admin to read roles and tokens with, a patient lookup timeout), then `extra` lines.
     */
    iohostSection(extra = '') {
      return `[strapi]
url = "${url}"
jwt_secret = "${jwtSecret}"
api_token = "${apiToken}"
admin_email = "${admin.email}"
admin_password = "${admin.password}"
# A busy test machine (other suites compile handlers meanwhile) can slow Strapi down.
lookup_timeout_ms = 15000
${extra}`;
    },
    jwtSecret,
    apiToken,
    adminToken,
    admin,
    logs: () => logs,
    /**
     * Has the plugin's relay stream from `url` opened? Its hello line, not its warning "get no
     * connections from <url> (fetch failed)": a socket that connects before its node's stream
     * opens has its earlier events skip Strapi.
     */
    relaying: (url) => logs.includes(`get /'s connections from ${url} (node `),
    call,
    /** A new end user: `{jwt, user}`. */
    register(username) {
      return call('/api/auth/local/register', { method: 'POST', body: { username, email: `${username}@example.com`, password: 'Passw0rd!' } });
    },
    /**
     * Enables Strapi `actions` (`api::article.article.find`, `plugin::upload.content-api.find`)
     * (or disables them, `enabled = false`) for the users-permissions role of type `type`,
     * keeping the rest.
     */
    async permit(type, actions, enabled = true) {
      const { roles } = await call('/users-permissions/roles', { token: adminToken });
      const listed = roles.find((r) => r.type === type);
      if (!listed) throw new Error(`no role of type ${type}`);
      const { role } = await call(`/users-permissions/roles/${listed.id}`, { token: adminToken });
      for (const action of actions) {
        const [, api, controller, verb] = /^(.+::[^.]+)\.([^.]+)\.([^.]+)$/.exec(action) ?? [];
        const slot = role.permissions[api]?.controllers?.[controller]?.[verb];
        if (!slot) throw new Error(`Strapi has no action ${action}`);
        slot.enabled = enabled;
      }
      await call(`/users-permissions/roles/${listed.id}`, { method: 'PUT', token: adminToken, body: { name: role.name, description: role.description, permissions: role.permissions } });
      return listed.id;
    },
    /** Makes a users-permissions role `name` (type: its lower-case name) with `actions`. */
    async role(name, actions) {
      await call('/users-permissions/roles', { method: 'POST', token: adminToken, body: { name, description: name, permissions: {} } });
      return this.permit(name.toLowerCase(), actions);
    },
    /** Uploads a 1x1 PNG as `name`; resolves with Strapi's file object. */
    async upload(name, token = apiToken) {
      const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
      const form = new FormData();
      form.append('files', new Blob([png], { type: 'image/png' }), name);
      const res = await fetch(`${url}/api/upload`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
      if (!res.ok) throw new Error(`upload -> ${res.status}: ${await res.text()}`);
      return (await res.json())[0];
    },
    /** Points a webhook at `target` with `Authorization: Bearer <secret>`. */
    webhook(target, webhookSecret, name = 'iohost') {
      return call('/admin/webhooks', {
        method: 'POST',
        token: adminToken,
        body: {
          name,
          url: target,
          headers: { Authorization: `Bearer ${webhookSecret}` },
          events: ['entry.create', 'entry.update', 'entry.delete', 'entry.publish', 'entry.unpublish'],
        },
      });
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
    },
  };
}
