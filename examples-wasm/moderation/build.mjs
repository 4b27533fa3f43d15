// Builds src/moderation.js into a WebAssembly component of the iohost:handler world.
// Usage: node build.mjs OUT.wasm   (npm run build writes ../../target/handlers/moderation.wasm)
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { componentize } from '@bytecodealliance/componentize-js';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? 'moderation.wasm');
const started = Date.now();
// The guest SDK's helpers, beside the source (componentize-js only follows imports inside it).
copyFileSync(resolve(here, '../../guest-sdk/js/iohost.js'), resolve(here, 'src/iohost.js'));
const { component } = await componentize({
  sourcePath: resolve(here, 'src/moderation.js'),
  witPath: resolve(here, '../../wit'),
  worldName: 'handler',
  // The host links no network, files or environment: leave out what would import them.
  disableFeatures: ['http', 'fetch-event', 'stdio', 'random', 'clocks'],
});
mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.partial`, component);
// A rename, so a watching iohost never reads half a file.
(await import('node:fs')).renameSync(`${out}.partial`, out);
console.log(`built ${out} (${(component.length / 1e6).toFixed(1)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
