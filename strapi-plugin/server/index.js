'use strict';

// The io plugin for iohost: Strapi loads it as `io` (strapi.plugin('io')), so backend code
// written for strapi-plugin-io keeps calling `strapi.$io.*` and the `monitoring` service.

const { createClient } = require('./client');
const { createIo, entitySubscriptions } = require('./io');
const { createMirror, createMonitoring, withFresh } = require('./monitoring');
const { createContentEvents, tokenAudience, watchAudiences } = require('./content');
const { createOutbox, schema: outboxSchema } = require('./outbox');
const { createRelay } = require('./relay');

const DEFAULTS = {
  /** iohost's base URL, e.g. `http://127.0.0.1:1338`. */
  url: process.env.IOHOST_URL || '',
  /** One of iohost's `api.keys`. */
  apiKey: process.env.IOHOST_API_KEY || '',
  /** Longest wait for one call to iohost, in ms. */
  timeoutMs: 5000,
  /** The socket mirror behind the synchronous getConnectionStats(). */
  mirror: { enabled: true, intervalMs: 1000 },
  /** Entries logEvent() keeps. */
  eventLogSize: 100,
  /**
   * Content types whose document changes become content events: '*' (every `api::` type) or a
   * list of uids or `{uid, populate}`; `false` for none. `populate` (default '*': one level of
   * relations, media, components) is the REST API's populate each role's payload is read with.
   */
  contentTypes: '*',
  /**
   * Events waiting for iohost at most (past it new ones are dropped, logged and counted), and
   * the longest wait between two tries while iohost does not answer (from 250 ms, doubling).
   */
  outbox: { maxEvents: 10000, retryMaxMs: 5000 },
  /**
   * `strapi.$io.server.on('connection', ...)` listeners get each iohost node's sockets from
   * that node: in a cluster list every node's own URL here (not a load balancer's); empty:
   * `url` alone (IOHOST_RELAY_URLS, comma-separated, when unset here).
   */
  relay: { urls: (process.env.IOHOST_RELAY_URLS || '').split(',').map((u) => u.trim()).filter(Boolean) },
};

function validate(config) {
  const problems = [];
  if (typeof config.url !== 'string') problems.push('`url` must be a string');
  else if (config.url && !/^https?:\/\/[^/]+/.test(config.url)) problems.push(`\`url\` must be http(s)://host:port, not ${config.url}`);
  if (typeof config.apiKey !== 'string') problems.push('`apiKey` must be a string');
  if (!Number.isInteger(config.timeoutMs) || config.timeoutMs < 1) problems.push('`timeoutMs` must be a positive integer');
  const mirror = config.mirror ?? {};
  if (typeof mirror !== 'object') problems.push('`mirror` must be an object');
  else if (mirror.intervalMs !== undefined && (!Number.isInteger(mirror.intervalMs) || mirror.intervalMs < 250 || mirror.intervalMs > 60000)) {
    problems.push('`mirror.intervalMs` must be an integer from 250 to 60000');
  }
  if (!Number.isInteger(config.eventLogSize) || config.eventLogSize < 0) problems.push('`eventLogSize` must be a non-negative integer');
  const types = config.contentTypes;
  if (!(types === '*' || types === false || (Array.isArray(types) && types.every((t) => typeof t === 'string' || (t && typeof t.uid === 'string'))))) {
    problems.push("`contentTypes` must be '*', false, or a list of uids or {uid, populate}");
  }
  const max = config.outbox?.maxEvents;
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) problems.push('`outbox.maxEvents` must be a positive integer');
  const wait = config.outbox?.retryMaxMs;
  if (wait !== undefined && (!Number.isInteger(wait) || wait < 250)) problems.push('`outbox.retryMaxMs` must be an integer of at least 250');
  const urls = config.relay?.urls;
  if (urls !== undefined && !(Array.isArray(urls) && urls.every((u) => typeof u === 'string' && /^https?:\/\/[^/]+/.test(u)))) {
    problems.push('`relay.urls` must be a list of http(s)://host:port URLs');
  }
  if (problems.length) throw new Error(`io plugin (iohost) config: ${problems.join('; ')}`);
}

/** One set of parts per Strapi instance. */
const parts = new WeakMap();

function partsOf(strapi) {
  let made = parts.get(strapi);
  if (made) return made;
  const config = { ...DEFAULTS, ...(strapi.config.get('plugin::io') ?? {}) };
  config.mirror = { ...DEFAULTS.mirror, ...(config.mirror ?? {}) };
  config.relay = { ...DEFAULTS.relay, ...(config.relay ?? {}) };
  const log = strapi.log;
  const clientOptions = { url: config.url, apiKey: config.apiKey, timeoutMs: config.timeoutMs };
  const client = createClient(clientOptions);
  let relay = null;
  const io = createIo({ client, log, onConnection: (namespace, listener) => relay.onConnection(namespace, listener) });
  relay = createRelay({ client, clientOptions, urls: config.relay?.urls ?? [], io, log });
  const mirror = createMirror({ client, intervalMs: config.mirror.intervalMs, log });
  const monitoring = createMonitoring({ client, io, mirror, eventLogSize: config.eventLogSize });
  /** Sync in the plugin: from the mirror at once, or `await` it for iohost's answer now. */
  io.getEntitySubscriptions = (socketId) => {
    const fromView = (view) => (view ? { success: true, subscriptions: entitySubscriptions(view.rooms) } : { success: false, error: 'Socket not found' });
    const fresh = async () => fromView((await client.call('GET', '/sockets')).body.find((s) => s.id === socketId));
    return withFresh(fromView(mirror.latest()?.sockets?.find((s) => s.id === socketId)), fresh);
  };
  // The outbox and the status page each have their own client (an order of their own), so
  // neither waits behind strapi.$io calls, nor those behind them.
  const outbox = createOutbox({
    strapi,
    client: createClient(clientOptions),
    log,
    maxEvents: config.outbox?.maxEvents ?? DEFAULTS.outbox.maxEvents,
    retry: { minMs: 250, maxMs: config.outbox?.retryMaxMs ?? DEFAULTS.outbox.retryMaxMs },
  });
  const listed = Array.isArray(config.contentTypes) ? new Map(config.contentTypes.map((t) => (typeof t === 'string' ? [t, {}] : [t.uid, t]))) : null;
  const content = createContentEvents({
    strapi,
    outbox,
    log,
    watches: (uid) => (config.contentTypes === '*' ? uid.startsWith('api::') : Boolean(listed?.has(uid))),
    populateOf: (uid) => listed?.get(uid)?.populate ?? '*',
  });
  made = { config, client, io, relay, mirror, monitoring, outbox, content, statusClient: createClient(clientOptions) };
  parts.set(strapi, made);
  return made;
}

/** What the admin page shows: iohost as the plugin reaches it, and the outbox. */
async function status(strapi) {
  const { config, statusClient: client, outbox } = partsOf(strapi);
  const iohost = { url: config.url, reachable: false };
  try {
    const { body } = await client.call('GET', '/stats');
    Object.assign(iohost, { reachable: true, connections: body.connections, eventsPerSecond: body.eventsPerSecond, partial: body.partial });
    const { body: handlers } = await client.call('GET', '/handlers');
    iohost.handlers = handlers.handlers?.map((h) => h.name) ?? [];
  } catch (e) {
    iohost.error = e.message;
  }
  return { iohost, outbox: await outbox.status() };
}

/** The actions iohost's permission matrix knows. */
const ACTIONS = ['find', 'create', 'update', 'delete', 'publish', 'unpublish'];

/**
 * The matrix the admin page edits: every role and API token (iohost's names for them), the
 * site's content types, the actions, and the matrix iohost has in force.
 */
async function permissions(strapi) {
  const { statusClient: client } = partsOf(strapi);
  const roles = strapi.plugin('users-permissions') ? await strapi.db.query('plugin::users-permissions.role').findMany() : [];
  const tokens = await strapi.db.query('admin::api-token').findMany();
  const contentTypes = Object.values(strapi.contentTypes)
    .filter((t) => t.uid.startsWith('api::') || t.uid === 'plugin::users-permissions.user')
    .map((t) => ({ uid: t.uid, model: t.info.singularName, displayName: t.info.displayName }))
    .sort((a, b) => a.displayName.localeCompare(b.displayName));
  const { body } = await client.call('GET', '/settings');
  return {
    audience: [...roles.map((r) => String(r.type).toLowerCase()), ...tokens.map((t) => tokenAudience(t.name))],
    contentTypes,
    actions: ACTIONS,
    matrix: body.permissionsInForce ?? {},
  };
}

/** Saves `matrix` as iohost's run-time `permissions` (read, changed, written back). */
async function savePermissions(strapi, matrix) {
  const { statusClient: client } = partsOf(strapi);
  const problems = [];
  if (!matrix || typeof matrix !== 'object' || Array.isArray(matrix)) problems.push('`matrix` must be an object');
  for (const [role, types] of Object.entries(matrix ?? {})) {
    for (const [model, actions] of Object.entries(types ?? {})) {
      if (!Array.isArray(actions) || actions.some((a) => !ACTIONS.includes(a))) problems.push(`${role}.${model}: actions must be among ${ACTIONS.join(', ')}`);
    }
  }
  if (problems.length) {
    const e = new Error(problems.join('; '));
    e.status = 400;
    throw e;
  }
  const { body } = await client.call('GET', '/settings');
  const settings = { ...body.settings, permissions: matrix };
  return (await client.call('PUT', '/settings', settings)).body;
}

/** Calls the parts' service lazily, so it works whenever Strapi makes the service. */
const monitoringService = ({ strapi }) =>
  new Proxy(
    {},
    {
      get: (_, name) => partsOf(strapi).monitoring[name],
    },
  );

module.exports = {
  config: { default: DEFAULTS, validator: validate },
  register({ strapi }) {
    // In register, so the application's own register and bootstrap already find it.
    const { io, config, content } = partsOf(strapi);
    strapi.$io = io;
    // Unconfigured, there is nowhere to send events: none are written.
    if (config.contentTypes !== false && config.url && config.apiKey) strapi.documents.use((ctx, next) => content.middleware(ctx, next));
  },
  bootstrap({ strapi }) {
    const { config, mirror, relay } = partsOf(strapi);
    if (!config.url || !config.apiKey) {
      strapi.log.warn('iohost: the io plugin has no `url` or `apiKey` (config/plugins.js, or IOHOST_URL and IOHOST_API_KEY): strapi.$io calls will fail');
      return;
    }
    if (config.mirror.enabled) mirror.start();
    relay.start();
    if (config.contentTypes !== false) {
      watchAudiences(strapi, partsOf(strapi).content.audiences);
      partsOf(strapi).content.watchUserDeletes();
      partsOf(strapi).outbox.start();
    }
    strapi.log.info(`iohost: strapi.$io calls go to ${config.url}`);
  },
  destroy({ strapi }) {
    parts.get(strapi)?.mirror.stop();
    parts.get(strapi)?.relay.stop();
    parts.get(strapi)?.outbox.stop();
  },
  services: { monitoring: monitoringService },
  controllers: {
    status: ({ strapi }) => ({
      /** `GET /io/status` (admin): iohost's reachability and figures, and the outbox. */
      async get(ctx) {
        ctx.body = await status(strapi);
      },
    }),
    permissions: ({ strapi }) => ({
      /** `GET /io/permissions` (admin): roles, tokens, types, actions, the matrix in force. */
      async get(ctx) {
        ctx.body = await permissions(strapi);
      },
      /** `PUT /io/permissions {matrix}` (admin): saved to iohost's run-time settings. */
      async put(ctx) {
        try {
          ctx.body = await savePermissions(strapi, ctx.request.body?.matrix);
        } catch (e) {
          ctx.status = e.status ?? 502;
          ctx.body = { error: { status: ctx.status, name: e.name, message: e.message } };
        }
      },
    }),
  },
  routes: {
    admin: {
      type: 'admin',
      routes: [
        { method: 'GET', path: '/status', handler: 'status.get', config: { policies: ['admin::isAuthenticatedAdmin'] } },
        { method: 'GET', path: '/permissions', handler: 'permissions.get', config: { policies: ['admin::isAuthenticatedAdmin'] } },
        { method: 'PUT', path: '/permissions', handler: 'permissions.put', config: { policies: ['admin::isAuthenticatedAdmin'] } },
      ],
    },
  },
  contentTypes: { 'outbox-event': { schema: outboxSchema } },
};
