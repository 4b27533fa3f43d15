// What a newcomer does in JavaScript: `iohost handlers new NAME --lang js`, the build command
// it prints, copy the .wasm into the handlers folder — and the handler answers, unchanged.
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { run, scaffoldSuite } from '../lib/scaffold.mjs';

const { scaffold, installAndPing } = scaffoldSuite();

describe('iohost handlers new --lang js', () => {
  it('--lang js: npm install, npm run build, and it answers', async () => {
    const dir = await scaffold('greeter-js', 'js');
    await run('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir });
    await run('npm', ['run', 'build'], { cwd: dir });
    await installAndPing(join(dir, 'greeter-js.wasm'), 'greeter-js', dir);
  });
});
