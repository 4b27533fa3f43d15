// What a newcomer does in Rust: `iohost handlers new NAME --lang rust`, the build command it
// prints, copy the .wasm into the handlers folder — and the handler answers, unchanged.
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { run, scaffoldSuite } from '../lib/scaffold.mjs';
import { repoRoot } from '../lib/server.mjs';

const { scaffold, installAndPing } = scaffoldSuite();

describe('iohost handlers new --lang rust', () => {
  it('--lang rust: cargo build, and it answers', async () => {
    const dir = await scaffold('greeter-rs', 'rust');
    // The repository's target folder: a second run reuses the dependencies built by the first.
    await run('cargo', ['build', '--release', '--target', 'wasm32-wasip2'], {
      cwd: dir,
      env: { ...process.env, CARGO_TARGET_DIR: join(repoRoot, 'target', 'scaffolded') },
    });
    await installAndPing(join(repoRoot, 'target', 'scaffolded', 'wasm32-wasip2', 'release', 'greeter_rs.wasm'), 'greeter-rs', dir);
  });
});
