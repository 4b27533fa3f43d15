// What a newcomer does in Python: `iohost handlers new NAME --lang python`, the build command
// it prints, copy the .wasm into the handlers folder — and the handler answers, unchanged.
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { run, scaffoldSuite } from '../lib/scaffold.mjs';

const { scaffold, installAndPing } = scaffoldSuite();

describe('iohost handlers new --lang python', () => {
  it('--lang python: componentize-py, and it answers', async () => {
    const dir = await scaffold('greeter_py', 'python');
    await run('componentize-py', ['-d', 'wit', '-w', 'handler', 'componentize', 'app', '-o', 'greeter_py.wasm'], { cwd: dir });
    await installAndPing(join(dir, 'greeter_py.wasm'), 'greeter_py', dir);
  });
});
