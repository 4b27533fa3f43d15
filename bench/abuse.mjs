// Figures for the edge under abuse at sizes the test suite does not use: one attacker address
// on loopback against iohost with its default limits, while one honest client keeps asking.
//   node bench/abuse.mjs [--release] [--scale 1]
// Prints, per attack: what was held or refused, how long the honest client's answers took
// (median and worst), and iohost's RSS before and after. docs/security.md records a run.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { connect } from '../tests/lib/client.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const scale = Number(args.includes('--scale') ? args[args.indexOf('--scale') + 1] : 1);
const binary = join(root, 'target', args.includes('--release') ? 'release' : 'debug', 'iohost');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;

/** iohost with its defaults, except shorter timeouts so a run takes minutes, not hours. */
async function start() {
  const proc = spawn(binary, ['serve'], {
    env: {
      ...process.env,
      IOHOST_SERVER__LISTEN: '127.0.0.1:0',
      IOHOST_SERVER__HEADER_TIMEOUT_MS: '3000',
      IOHOST_SERVER__IDLE_TIMEOUT_MS: '30000',
      IOHOST_HANDLERS__ENABLED: 'false',
      IOHOST_SETTINGS__FILE: join('/tmp', `iohost-abuse-${process.pid}.json`),
      IOHOST_LOG__LEVEL: 'warn,iohost::server=info',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = await new Promise((res, rej) => {
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /listening on (http:\/\/[0-9.:]+)/.exec(log);
      if (m) res(m[1]);
    });
    proc.on('exit', (code) => rej(new Error(`iohost exited (${code}): ${log}`)));
  });
  return { proc, url, port: Number(new URL(url).port) };
}

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** Asks the honest client every 50 ms while `attack` runs; returns its answer times. */
async function whileHonest(url, attack) {
  const honest = await connect(url, { transports: ['websocket'] });
  const times = [];
  let running = true;
  const asking = (async () => {
    while (running) {
      const t = performance.now();
      try {
        await honest.timeout(10000).emitWithAck('get-rooms');
        times.push(performance.now() - t);
      } catch {
        times.push(Infinity);
      }
      await sleep(50);
    }
  })();
  const result = await attack();
  running = false;
  await asking;
  honest.close();
  return { ...result, honest: `${times.length} answers, median ${median(times).toFixed(1)} ms, worst ${Math.max(...times).toFixed(1)} ms` };
}

/** A raw TCP connection, from `from` (any 127.x.y.z: loopback takes them all). */
function rawConnection(port, from = '127.0.0.1') {
  const socket = tcpConnect({ port, host: '127.0.0.1', localAddress: from });
  const state = { socket, closed: false, refused: false, data: '' };
  socket.on('data', (d) => {
    state.data += d;
    if (/^HTTP\/1\.1 (429|503)/.test(state.data)) state.refused = true;
  });
  socket.on('error', () => {});
  socket.on('close', () => (state.closed = true));
  return state;
}

/** Connections that send half a request head and stop (slowloris); `from(i)` is the address. */
async function slowloris(server, from) {
  const n = 2000 * scale;
  const conns = [];
  for (let i = 0; i < n; i++) {
    const c = rawConnection(server.port, from(i));
    c.socket.on('connect', () => c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n'));
    conns.push(c);
    if (i % 50 === 49) await sleep(10);
  }
  await sleep(500);
  const refused = conns.filter((c) => c.refused).length;
  const held = conns.filter((c) => !c.closed).length;
  const rss = rssMiB(server.proc.pid).toFixed(1);
  await sleep(3500); // past header_timeout_ms
  const stillOpen = conns.filter((c) => !c.closed).length;
  conns.forEach((c) => c.socket.destroy());
  return { tried: n, refusedAtOnce: refused, heldAfter500ms: held, rssWhileHeldMiB: rss, openAfterHeaderTimeout: stillOpen };
}

const attacks = {
  /** From one address. */
  slowHeaders: (server) => slowloris(server, () => '127.0.0.1'),
  /** From 200 addresses (127.1.0.x), 10 connections each: no per-address limit applies. */
  slowHeadersManyAddresses: (server) => slowloris(server, (i) => `127.1.0.${(i % 200) + 1}`),

  /** Engine.IO handshakes that never join a namespace. */
  async sessionFlood(server) {
    const n = 3000 * scale;
    const url = `${server.url}/socket.io/?EIO=4&transport=polling`;
    const statuses = {};
    for (let i = 0; i < n; i += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => fetch(url).then((r) => r.status, () => 'error')));
      batch.forEach((s) => (statuses[s] = (statuses[s] ?? 0) + 1));
    }
    return { tried: n, statuses: JSON.stringify(statuses) };
  },

  /** New connections as fast as possible for 3 s. */
  async connectRate(server) {
    let accepted = 0;
    let refused = 0;
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      const batch = Array.from({ length: 50 }, () => rawConnection(server.port));
      await sleep(20);
      for (const c of batch) {
        c.refused ? refused++ : accepted++;
        c.socket.destroy();
      }
    }
    return { accepted, refused, acceptedPerSecond: (accepted / 3).toFixed(0) };
  },
};

const server = await start();
console.log(`iohost ${binary.includes('release') ? 'release' : 'debug'} build; RSS at start ${rssMiB(server.proc.pid).toFixed(1)} MiB`);
for (const [name, attack] of Object.entries(attacks)) {
  const before = rssMiB(server.proc.pid);
  const result = await whileHonest(server.url, () => attack(server));
  await sleep(1000);
  console.log(`${name}: ${JSON.stringify(result)}; RSS ${before.toFixed(1)} -> ${rssMiB(server.proc.pid).toFixed(1)} MiB`);
  await sleep(11000); // the attacker's bucket refills and its pending sessions expire
}
server.proc.kill('SIGTERM');
