// Starts iohost with the conformance profile (tests/profiles/conformance.toml).
import { join } from 'node:path';
import { repoRoot, startServer } from './server.mjs';

export const profile = join(repoRoot, 'tests', 'profiles', 'conformance.toml');

export function startConformanceServer() {
  return startServer({ profile });
}
