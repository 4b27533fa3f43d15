// Starts the real iohost binary for a test and stops it afterwards.
//
// Each server gets its own config file and a free port (listen port 0; the port is read from the
// "listening on" log line), so test files can run in parallel.

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { renameSync } from 'node:fs';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const binary = process.env.IOHOST_BIN ?? join(repoRoot, 'target', 'debug', 'iohost');
/** Where scripts/build-handlers.sh puts the example handlers. */
export const builtHandlers = join(repoRoot, 'target', 'handlers');

/** Copies built handler `name` into `dir` (by rename, as a deploy would), optionally as `as`. */
export function installHandler(dir, name, as = name) {
  const tmp = join(dir, `.${as}.wasm.partial`);
  copyFileSync(join(builtHandlers, `${name}.wasm`), tmp);
  renameSync(tmp, join(dir, `${as}.wasm`));
}

/**
 * Starts iohost with `config` (TOML text) and extra environment variables.
 * `handlers` names built example handlers to put in the server's own handlers folder, and
 * `sidecars` maps handler names to sidecar TOML text. `port` fixes the port (for restart
 * tests); by default a free one is picked.
 */
export async function startServer({ config = '', env = {}, port = 0, profile, handlers = [], sidecars = {}, settingsFile } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'iohost-test-'));
  const file = join(dir, 'iohost.toml');
  writeFileSync(file, config);
  const handlersDir = join(dir, 'handlers');
  mkdirSync(handlersDir);
  for (const [name, text] of Object.entries(sidecars)) writeFileSync(join(handlersDir, `${name}.toml`), text);
  for (const name of handlers) installHandler(handlersDir, name);
  const isolation = {
    IOHOST_SETTINGS__FILE: settingsFile ?? join(dir, 'settings.json'),
    ...(profile ? {} : { IOHOST_HANDLERS__DIR: handlersDir }),
  };
  const args = ['serve', '--config', profile ?? file];
  const { RUST_LOG, ...inherited } = process.env;
  const proc = spawn(binary, args, {
    cwd: repoRoot,
    env: {
      ...inherited,
      ...isolation,
      IOHOST_SERVER__LISTEN: `127.0.0.1:${port}`,
      IOHOST_LOG__LEVEL: 'info,iohost=debug',
      // The tests run a debug build on a busy machine: a handler call can take far longer than
      // in release. Suites that test the time limit set their own in a sidecar.
      IOHOST_HANDLERS__LIMITS__CALL_TIMEOUT_MS: '2000',
      // ... and a first compile of the JavaScript or Python example can take a minute.
      IOHOST_HANDLERS__LOAD_TIMEOUT_MS: '600000',
      // Every test client connects from 127.0.0.1: the per-address limits would be the whole
      // machine's. tests/edge/ sets them itself to test them.
      IOHOST_SERVER__MAX_CONNECTIONS_PER_ADDRESS: '100000',
      IOHOST_SERVER__CONNECT_RATE_PER_ADDRESS: '100000',
      IOHOST_SERVER__CONNECT_BURST_PER_ADDRESS: '100000',
      IOHOST_SERVER__MAX_PENDING_SESSIONS_PER_ADDRESS: '100000',
      // Compiled handlers are shared by every test server (keyed by content hash): the large
      // JavaScript and Python components compile once per run, not once per test.
      IOHOST_HANDLERS__CACHE_DIR: join(repoRoot, 'tests', '.cache', 'compiled'),
      // Optimised code only, unless a test's config says otherwise: with baseline code first,
      // every server started before the cache holds a component would compile it again in the
      // background (tens of CPU seconds each for the JavaScript and Python examples).
      ...(/baseline_first/.test(config) ? {} : { IOHOST_HANDLERS__BASELINE_FIRST: 'false' }),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  const address = await new Promise((res, rej) => {
    // Handlers load before iohost listens: the first server to load the JavaScript or Python
    // example compiles it (12-18 MB; ~15 s in a debug build), later ones read the cache.
    const timer = setTimeout(() => rej(new Error(`iohost did not start in 90 s:\n${logs}`)), 90000);
    const onData = (chunk) => {
      logs += chunk;
      const m = /listening on http:\/\/([0-9.]+:\d+)/.exec(logs);
      if (m) {
        clearTimeout(timer);
        res(m[1]);
      }
    };
    proc.stderr.on('data', onData);
    proc.stdout.on('data', (c) => (logs += c));
    exited.then(({ code }) => {
      clearTimeout(timer);
      rej(new Error(`iohost exited with ${code} before listening:\n${logs}`));
    });
  });
  const url = `http://${address}`;
  return {
    url,
    pid: proc.pid,
    handlersDir,
    settingsFile: settingsFile ?? join(dir, 'settings.json'),
    port: Number(address.split(':')[1]),
    logs: () => logs,
    /** Resolves when the log matches `pattern` (the log arrives through a pipe, a bit later). */
    async waitForLog(pattern, ms = 3000) {
      const deadline = Date.now() + ms;
      while (!pattern.test(logs)) {
        if (Date.now() > deadline) throw new Error(`log never matched ${pattern}:\n${logs}`);
        await sleep(20);
      }
    },
    exited,
    /** Sends `signal` and resolves with the exit code (or signal). */
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the first `event` emitted by `emitter`, or rejects after `ms`. */
export function once(emitter, event, ms = 5000) {
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no '${event}' within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      res(args.length > 1 ? args : args[0]);
    });
  });
}

/** A TCP port free on 127.0.0.1 right now (for servers the tests start themselves). */
export async function freePort() {
  // Below the kernel's ephemeral range (32768-60999 here): a port handed out for a server that
  // starts later (after Strapi, after `iohost strapi setup`) cannot meanwhile become the local
  // port of one of the many outgoing connections the tests make, as a port 0 answer could.
  for (let tries = 0; tries < 200; tries++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free port found between 20000 and 32000');
}

function canListen(port) {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}
