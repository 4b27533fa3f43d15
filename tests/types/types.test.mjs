// The TypeScript package (types/) against a running iohost:
// - its api.d.ts is exactly what its generator makes of the server's OpenAPI document (so an
//   API change without `npm --prefix types run generate` fails here);
// - what the server really sends (each built-in event's ack and refusal, an `error` event, a
//   private message, content events in both payload shapes) is assigned to the declared types
//   and compiled with tsc: a field the server adds, drops or types otherwise fails here;
// - the usage examples compile, and each mistake they mark with @ts-expect-error is refused;
// - the typed API client works against the server (emit reaches a client, errors typed).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, collect, connect, until } from '../lib/client.mjs';
import { once, repoRoot, startServer } from '../lib/server.mjs';

const typesDir = join(repoRoot, 'types');
const tsc = join(typesDir, 'node_modules', '.bin', 'tsc');
const KEY = 'types-test-api-key-0123456789abcdef0123456789';
const SECRET = 'types-test-webhook-secret-012345';

let v4;
let flat;
before(async () => {
  const config = (payload) => `
[api]
keys = ["${KEY}"]
[private_messages]
enabled = true
[strapi]
webhook_secret = "${SECRET}"
payload = "${payload}"
[strapi.permissions.public]
article = ["find"]
`;
  [v4, flat] = await Promise.all([startServer({ config: config('v4') }), startServer({ config: config('flat') })]);
});
after(async () => {
  closeAll();
  await Promise.all([v4, flat].filter(Boolean).map((s) => s.stop()));
});

/** Compiles `source` (TypeScript importing 'iohost-types') with the package's tsc; rejects with its errors. */
async function compile(source) {
  const dir = mkdtempSync(join(tmpdir(), 'iohost-types-'));
  writeFileSync(join(dir, 'check.ts'), source);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', types: [], paths: { 'iohost-types': [join(typesDir, 'index.d.ts')], 'strapi-plugin-iohost': [join(repoRoot, 'strapi-plugin', 'index.d.ts')] } },
      files: ['check.ts'],
    }),
  );
  try {
    await promisify(execFile)(tsc, ['-p', dir]);
  } catch (e) {
    throw new Error(`tsc refused:\n${e.stdout}${e.stderr}\n${source}`);
  }
}

let sent = 0;
/** Posts one Strapi webhook to `server`. */
async function webhook(server, event, entry) {
  const res = await fetch(`${server.url}/strapi/webhook`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${SECRET}` },
    body: JSON.stringify({ event, createdAt: new Date(Date.now() + sent++).toISOString(), model: 'article', uid: 'api::article.article', entry }),
  });
  assert.equal(res.status, 200, await res.text());
}

describe('the TypeScript package', () => {
  it('api.d.ts is what the generator makes of the running server\'s OpenAPI document', async () => {
    const { generate } = await import(join(typesDir, 'scripts', 'generate.mjs'));
    const document = await (await fetch(`${v4.url}/api/v1/openapi.json`)).json();
    const committed = readFileSync(join(typesDir, 'api.d.ts'), 'utf8');
    assert.ok(committed === (await generate(document)), 'types/api.d.ts is out of date: run `npm --prefix types run generate http://<iohost>`');
  });

  it('the usage examples compile, and every mistake they mark is refused', async () => {
    await promisify(execFile)(tsc, ['-p', join(typesDir, 'test')]).catch((e) => assert.fail(`${e.stdout}${e.stderr}`));
  });

  it('what the server sends fits the declared types (acks, refusals, error events, private messages, content events in both shapes)', async () => {
    const recorded = [];
    const keep = (type, value) => recorded.push([type, value]);
    const s = await connect(v4.url);
    const other = await connect(v4.url);
    keep('JoinRoomAck', await ask(s, 'join-room', 'lobby'));
    keep('JoinRoomAck', await ask(s, 'join-room', 'io-role-admin'));
    keep('LeaveRoomAck', await ask(s, 'leave-room', 'lobby'));
    keep('GetRoomsAck', await ask(s, 'get-rooms'));
    const entity = { uid: 'api::article.article', id: 'abcdefghijklmnopqrstuvwx' };
    keep('SubscribeEntityAck', await ask(s, 'subscribe-entity', entity));
    keep('SubscribeEntityAck', await ask(s, 'subscribe-entity', { uid: 'api::page.page', id: entity.id }));
    keep('EntitySubscriptionsAck', await ask(s, 'get-entity-subscriptions'));
    keep('UnsubscribeEntityAck', await ask(s, 'unsubscribe-entity', entity));
    const message = once(other, 'private-message');
    keep('PrivateMessageAck', await ask(s, 'private-message', { to: other.id, message: 'hi' }));
    keep('PrivateMessage', await message);
    const error = once(s, 'error');
    s.emit('join-room', 'io-role-admin');
    keep('EventError', await error);
    for (const value of recorded) assert.notEqual(value[1], undefined, value[0]);

    // Content events: created (published), unpublished, deleted; in both shapes.
    const entry = { id: 7, documentId: entity.id, title: 'Hello', views: 3, publishedAt: '2026-12-03T10:00:00.000Z' };
    for (const [server, shape] of [[v4, 'v4'], [flat, 'flat']]) {
      const reader = await connect(server.url);
      const got = collect(reader, 'article:create');
      const gone = collect(reader, 'article:delete');
      await webhook(server, 'entry.create', entry);
      await webhook(server, 'entry.delete', entry);
      assert.ok(await until(() => got.length === 1 && gone.length === 1, 5000), `${shape}: the events arrive`);
      keep(shape === 'v4' ? 'V4Payload<Article>' : 'FlatPayload<Article>', got[0]);
      keep(shape === 'v4' ? 'RemovedPayload' : 'FlatPayload<Article>', gone[0]);
    }

    const lines = recorded.map(([type, value], i) => `export const value${i}: ${type} = ${JSON.stringify(value)};`);
    await compile(
      `import type { ${[...new Set(recorded.map(([t]) => t.replace(/<.*/, '')))].join(', ')} } from 'iohost-types';\n` +
        `type Article = { title: string; views: number };\n${lines.join('\n')}\n`,
    );
    // And the check bites: a field the types do not declare is refused.
    await assert.rejects(compile(`import type { GetRoomsAck } from 'iohost-types';\nexport const a: GetRoomsAck = { success: true, rooms: [], extra: 1 };\n`), /tsc refused/);
  });

  it('the Strapi plugin\'s types agree with the API\'s (what strapi.$io hands back)', async () => {
    const both = (a, b) => `export const a${a.replace(/\W/g, '')}: ${a} = null as unknown as ${b};\nexport const b${a.replace(/\W/g, '')}: ${b} = null as unknown as ${a};\n`;
    await compile(
      `import type { Schema, SocketUser } from 'iohost-types';\nimport type * as Plugin from 'strapi-plugin-iohost';\n` +
        both("Schema<'EmitResponse'>", 'Plugin.EmitResult') +
        both('SocketUser', 'Plugin.SocketUser') +
        both("NonNullable<Schema<'SocketView'>['user']>", 'Plugin.SocketUser'),
    );
  });

  it('the typed client: emit reaches a client; an error comes back typed', async () => {
    const { createIohostClient } = await import(join(typesDir, 'index.mjs'));
    const iohost = createIohostClient({ url: v4.url, apiKey: KEY });
    const s = await connect(v4.url);
    await ask(s, 'join-room', 'typed');
    const news = once(s, 'news');
    const { data, error, response } = await iohost.POST('/emit', { body: { event: 'news', data: { text: 'typed' }, rooms: ['typed'] } });
    assert.equal(response.status, 200);
    assert.equal(error, undefined);
    assert.equal(data.success, true);
    assert.deepEqual(await news, { text: 'typed' });
    const listed = await iohost.GET('/sockets', { params: { query: { room: 'typed' } } });
    assert.deepEqual(listed.data.map((v) => v.id), [s.id]);
    const missing = await iohost.DELETE('/sockets/{id}', { params: { path: { id: 'no-such-socket' } } });
    assert.equal(missing.response.status, 404);
    assert.equal(missing.error.error.code, 'no_socket');
    // An emit that waits for acks gets that long on top of the client's deadline.
    const quick = createIohostClient({ url: v4.url, apiKey: KEY, timeoutMs: 300 });
    s.on('slow-question', (_q, ack) => setTimeout(() => ack('late but in time'), 600));
    const slow = await quick.POST('/emit', { body: { event: 'slow-question', data: 1, rooms: ['typed'], ack: { timeoutMs: 3000 } } });
    assert.deepEqual(slow.data.acks, [{ socket: s.id, args: ['late but in time'] }]);
    const wrongKey = await createIohostClient({ url: v4.url, apiKey: 'wrong-key-0123456789abcdef0123456789' }).GET('/stats');
    assert.equal(wrongKey.response.status, 401);
    assert.equal(wrongKey.error.error.code, 'unauthorized');
  });
});
