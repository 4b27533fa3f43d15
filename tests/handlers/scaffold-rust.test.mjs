// What a newcomer does (rust): `iohost handlers new NAME --lang rust|js|python`, the build command it
// prints, copy the .wasm into the handlers folder — and the handler answers, unchanged.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import { ask, closeAll, connect, until } from '../lib/client.mjs';
import { binary, repoRoot, startServer } from '../lib/server.mjs';

const run = promisify(execFile);
const workspace = mkdtempSync(join(tmpdir(), 'iohost-scaffold-'));
let server;

before(async () => {
  server = await startServer();
});
after(async () => {
  closeAll();
  await server?.stop();
});

async function scaffold(name, lang) {
  const { stdout } = await run(binary, ['handlers', 'new', name, '--lang', lang, '--dir', workspace]);
  assert.match(stdout, /build it: {2}cd /);
  return join(workspace, name);
}

/** Copies a built component into the running server's folder (by rename) and pings it. */
async function installAndPing(file, name) {
  const partial = join(server.handlersDir, `.${name}.wasm.partial`);
  copyFileSync(file, partial);
  renameSync(partial, join(server.handlersDir, `${name}.wasm`));
  const s = await connect(server.url);
  let answer;
  assert.ok(
    await until(async () => {
      answer = await ask(s, `${name}:ping`, 'hi');
      return answer.pong !== undefined;
    }, 90000),
    JSON.stringify(answer),
  );
  assert.equal(answer.pong, 'hi');
  // The templates answer with the socket id (Rust: its display name, guest-<first 6 of it>).
  assert.ok(answer.from.includes(s.id.slice(0, 6)), answer.from);
}

describe('iohost handlers new --lang rust', () => {
  it('--lang rust: cargo build, and it answers', async () => {
    const dir = await scaffold('greeter-rs', 'rust');
    // The repository's target folder: a second run reuses the dependencies built by the first.
    await run('cargo', ['build', '--release', '--target', 'wasm32-wasip2'], {
      cwd: dir,
      env: { ...process.env, CARGO_TARGET_DIR: join(repoRoot, 'target', 'scaffolded') },
    });
    await installAndPing(join(repoRoot, 'target', 'scaffolded', 'wasm32-wasip2', 'release', 'greeter_rs.wasm'), 'greeter-rs');
  });
});
