'use strict';

// Content events from Strapi's document service. A middleware sees every document action
// (create, update, delete, publish, unpublish, discardDraft) after it ran, reads the document
// as each role and API token would get it from the REST API (Strapi's own content-API output
// sanitiser, with that role's or token's ability), and writes one event per change to the
// outbox; iohost then delivers each role's payload to that role's sockets only.

const { AsyncLocalStorage } = require('node:async_hooks');

/** Set while the document service runs an action the middleware turns into events. */
const inDocumentService = new AsyncLocalStorage();
const USER_UID = 'plugin::users-permissions.user';
/** Document actions and the events they become, as Strapi's webhooks name them. */
const WATCHED = new Set(['create', 'update', 'delete', 'publish', 'unpublish', 'discardDraft']);

/** iohost's name for an API token's audience: `token:` and the name as a slug. */
function tokenAudience(name) {
  const slug = Array.from(String(name).trim().toLowerCase(), (c) => (/^[a-z0-9_]$/.test(c) ? c : '-')).join('');
  return `token:${slug}`;
}

const READ_SCOPE = /\.(find|findOne)$/;

/** Strapi's users-permissions strategy's verify, for the sanitiser's relation checks. */
function verifyRole(auth, config) {
  if (!config?.scope) return;
  const scopes = Array.isArray(config.scope) ? config.scope : [config.scope];
  if (!scopes.every((scope) => auth.ability.can(scope))) {
    throw Object.assign(new Error('Forbidden'), { name: 'ForbiddenError' });
  }
}

/** Strapi's content-API token strategy's verify (expired tokens are left out before). */
function verifyToken(auth, config) {
  const token = auth.credentials;
  if (token.type === 'full-access') return;
  const scopes = Array.isArray(config?.scope) ? config.scope : [config?.scope];
  if (token.type === 'read-only' && config?.scope && scopes.every((s) => READ_SCOPE.test(s))) return;
  if (token.type === 'custom' && scopes.every((s) => auth.ability.can(s))) return;
  throw Object.assign(new Error('Forbidden'), { name: 'ForbiddenError' });
}

/** The tables whose changes change who may read what. */
const AUDIENCE_MODELS = ['plugin::users-permissions.role', 'plugin::users-permissions.permission', 'admin::api-token', 'admin::api-token-permission'];

/**
 * Who may receive content events: every users-permissions role and every API token that has
 * not expired, with the ability Strapi would give it; read again after `ttlMs`, or at once
 * after a role, token or permission changed (see `watchAudiences`).
 */
function createAudiences({ strapi, ttlMs = 5000 }) {
  let cached = null;
  let readAt = 0;
  /** Answers worked out from the audiences (populates per reader), forgotten with them. */
  let memos = new Map();

  async function read() {
    const engine = strapi.contentAPI.permissions.engine;
    const out = [];
    const roles = strapi.plugin('users-permissions')
      ? await strapi.db.query('plugin::users-permissions.role').findMany({ populate: ['permissions'] })
      : [];
    for (const role of roles) {
      const ability = await engine.generateAbility((role.permissions ?? []).map(({ action }) => ({ action })));
      out.push({
        key: String(role.type).toLowerCase(),
        can: (action) => ability.can(action),
        auth: { strategy: { name: 'users-permissions', verify: verifyRole }, credentials: null, ability },
      });
    }
    const tokens = await strapi.db.query('admin::api-token').findMany({ populate: ['permissions'] });
    for (const token of tokens) {
      if (token.expiresAt && new Date(token.expiresAt).getTime() <= Date.now()) continue;
      const ability = await engine.generateAbility((token.permissions ?? []).map(({ action }) => ({ action })));
      const can = token.type === 'full-access' ? () => true : token.type === 'read-only' ? (a) => READ_SCOPE.test(a) : (a) => ability.can(a);
      out.push({
        key: tokenAudience(token.name),
        can,
        auth: { strategy: { name: 'api-token', verify: verifyToken }, credentials: token, ability },
      });
    }
    // Two tokens whose names give one audience ("Feed A", "feed.a") share one room in iohost,
    // which cannot tell their sockets apart: neither's payload goes there (iohost's own rule).
    const counts = new Map();
    for (const { key } of out) counts.set(key, (counts.get(key) ?? 0) + 1);
    const clashing = [...counts].filter(([, n]) => n > 1).map(([key]) => key);
    if (clashing.length > 0) {
      strapi.log.warn(`[iohost] API tokens share a room name, their sockets get no content events until all but one are renamed: ${clashing.join(', ')}`);
    }
    return out.filter(({ key }) => counts.get(key) === 1);
  }

  return {
    async now() {
      if (!cached || Date.now() - readAt > ttlMs) {
        cached = await read();
        readAt = Date.now();
        memos = new Map();
      }
      return cached;
    },
    /** `make()`'s answer for `key`, kept until the audiences are read again. */
    memo(key, make) {
      if (!memos.has(key)) memos.set(key, make());
      return memos.get(key);
    },
    /** Read again next time: a role, a token or a permission changed. */
    invalidate() {
      cached = null;
      memos = new Map();
    },
  };
}

/** Whether `audience` may read documents of `uid` through the REST API. */
const readable = (audience, uid) => audience.can(`${uid}.find`) || audience.can(`${uid}.findOne`);

/**
 * @param {object} deps
 * @param {import('@strapi/strapi').Core.Strapi} deps.strapi
 * @param {{enqueue: (event: object) => Promise<void>}} deps.outbox
 * @param {(uid: string) => unknown} deps.populateOf the plugin's per-type `populate`
 * @param {(uid: string) => boolean} deps.watches which content types send events
 */
function createContentEvents({ strapi, outbox, populateOf, watches, log }) {
  const audiences = createAudiences({ strapi });

  /**
   * Each reader's view of one version of the document (`status`), as REST's findOne shows it:
   * the populate narrowed by Strapi's query sanitiser for that reader (a relation it may not
   * read is not even fetched), the document read once per distinct populate, then Strapi's
   * output sanitiser with the reader's ability.
   */
  async function views(uid, documentId, status, locale) {
    const schema = strapi.getModel(uid);
    const sanitize = strapi.contentAPI.sanitize;
    const readers = (await audiences.now()).filter((audience) => readable(audience, uid));
    // What each reader may populate depends on its permissions only: worked out once per
    // reader and type until they change.
    const populates = await Promise.all(
      readers.map((audience) =>
        audiences.memo(`${audience.key}\u0000${uid}`, async () => {
          const query = await sanitize.query({ populate: populateOf(uid) }, schema, { auth: audience.auth });
          return JSON.stringify(query.populate ?? null);
        }),
      ),
    );
    const distinct = [...new Set(populates)];
    const read = new Map(
      await Promise.all(distinct.map(async (key) => [key, await strapi.documents(uid).findOne({ documentId, status, locale, populate: JSON.parse(key) ?? undefined })])),
    );
    const outputs = await Promise.all(
      readers.map((audience, i) => {
        const document = read.get(populates[i]);
        return document ? sanitize.output(structuredClone(document), schema, { auth: audience.auth }) : null;
      }),
    );
    const payloads = {};
    readers.forEach((audience, i) => {
      if (outputs[i]) payloads[audience.key] = outputs[i];
    });
    const shown = [...read.values()].find(Boolean) ?? (await strapi.documents(uid).findOne({ documentId, status, locale }));
    if (!shown) return null;
    return { entry: { id: shown.id, documentId: shown.documentId, publishedAt: shown.publishedAt ?? null, locale: shown.locale }, payloads };
  }

  /** `{id, documentId}` for every reader: what a removal shows. */
  async function removal(uid, entry) {
    const payloads = {};
    for (const audience of await audiences.now()) {
      if (readable(audience, uid)) payloads[audience.key] = { id: entry.id, documentId: entry.documentId };
    }
    return { entry, payloads };
  }

  /** The events one document action becomes (the webhooks' names and order). */
  async function eventsOf(ctx, result) {
    const { uid, action } = ctx;
    const model = strapi.getModel(uid);
    const drafts = Boolean(model.options?.draftAndPublish);
    const documentId = result?.documentId ?? ctx.params?.documentId;
    const locale = ctx.params?.locale;
    if (!documentId) return [];
    const out = [];
    const add = (event, seen) => seen && out.push({ event, ...seen });
    switch (action) {
      case 'create':
      case 'update':
        // A document with drafts: the draft changed, and it was published too when asked
        // (REST's default), as Strapi's webhooks send entry.create/update then entry.publish.
        add(action, await views(uid, documentId, drafts ? 'draft' : 'published', locale));
        if (drafts && ctx.params?.status === 'published') add('publish', await views(uid, documentId, 'published', locale));
        break;
      case 'publish':
        add('publish', await views(uid, documentId, 'published', locale));
        break;
      case 'discardDraft':
        add('draft-discard', await views(uid, documentId, 'draft', locale));
        break;
      case 'unpublish':
      case 'delete': {
        const entries = result?.entries ?? [];
        const shown = entries.find((e) => e.publishedAt) ?? entries[0];
        if (!shown) break;
        const entry = { id: shown.id, documentId, publishedAt: shown.publishedAt ?? null, locale: shown.locale };
        add(action, await removal(uid, entry));
        break;
      }
      default:
    }
    return out.map((e) => ({ ...e, uid, model: model.info.singularName }));
  }

  /**
   * The document service middleware. The change and its events' outbox rows commit in one
   * transaction (Strapi's own joins it): no change without its events, and one commit instead
   * of two. Reading and sanitising the payloads happens inside it too.
   */
  async function middleware(ctx, next) {
    if (!WATCHED.has(ctx.action) || !watches(ctx.uid)) return next();
    return strapi.db.transaction(async () => {
      const result = await inDocumentService.run(true, next);
      try {
        for (const event of await eventsOf(ctx, result)) await outbox.enqueue(event);
      } catch (e) {
        // The change itself stands; only its event is lost, and that is said.
        log.error(`iohost: no content event for ${ctx.uid} ${ctx.action}: ${e.stack || e.message}`);
      }
      return result;
    });
  }

  /**
   * Users deleted below the document service: the users-permissions API's `DELETE /api/users/:id`
   * calls `strapi.db.query(...).delete`, which the middleware never sees. Its `afterDelete`
   * becomes the `delete` event (in the delete's transaction, if it has one); a delete the
   * document service made is the middleware's, not sent twice.
   */
  function watchUserDeletes() {
    if (!watches(USER_UID) || !strapi.getModel(USER_UID)) return;
    strapi.db.lifecycles.subscribe({
      models: [USER_UID],
      async afterDelete(event) {
        const row = event.result;
        if (inDocumentService.getStore() || !row?.documentId) return;
        try {
          const entry = { id: row.id, documentId: row.documentId, publishedAt: row.publishedAt ?? null, locale: row.locale ?? null };
          const model = strapi.getModel(USER_UID).info.singularName;
          await outbox.enqueue({ event: 'delete', ...(await removal(USER_UID, entry)), uid: USER_UID, model });
        } catch (e) {
          log.error(`iohost: no content event for the deleted user ${row.documentId}: ${e.stack || e.message}`);
        }
      },
    });
  }

  return { middleware, audiences, watchUserDeletes };
}

/** Forgets the audiences whenever Strapi writes a role, a token or a permission. */
function watchAudiences(strapi, audiences) {
  const forget = () => audiences.invalidate();
  const hooks = {};
  for (const hook of ['afterCreate', 'afterCreateMany', 'afterUpdate', 'afterUpdateMany', 'afterDelete', 'afterDeleteMany']) hooks[hook] = forget;
  strapi.db.lifecycles.subscribe({ models: AUDIENCE_MODELS.filter((uid) => strapi.getModel(uid)), ...hooks });
}

module.exports = { createContentEvents, watchAudiences, tokenAudience };
