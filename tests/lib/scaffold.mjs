// What the `iohost handlers new` suites share: one running server per suite, scaffolding a
// project with the real binary, and installing a built component into the server and pinging it.
// (One suite per language, so the three slow builds run in parallel.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before } from 'node:test';

import { ask, closeAll, connect, until } from './client.mjs';
import { binary, startServer } from './server.mjs';

export const run = promisify(execFile);

/** Starts a server for the calling suite; returns helpers bound to it. */
export function scaffoldSuite() {
  const workspace = mkdtempSync(join(tmpdir(), 'iohost-scaffold-'));
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    closeAll();
    await server?.stop();
  });

  /** `iohost handlers new NAME --lang LANG`; returns the project folder. */
  async function scaffold(name, lang) {
    const { stdout } = await run(binary, ['handlers', 'new', name, '--lang', lang, '--dir', workspace]);
    assert.match(stdout, /build it: {2}cd /);
    return join(workspace, name);
  }

  /**
   * Runs the project's own test script on the built component (`iohost handlers test`), then
   * copies it into the running server's folder (by rename) and pings it.
   */
  async function installAndPing(file, name, project) {
    const tested = await run(binary, ['handlers', 'test', file, join(project, 'test.toml')]);
    assert.match(tested.stdout, /^ok 1 - event \S+:ping from s1$/m, tested.stdout);
    assert.match(tested.stdout, /2 steps, 0 failed/, tested.stdout);
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

  return { scaffold, installAndPing };
}
