// Runs the benchmarks against iohost and the Node socket.io reference in the same run, server
// and load generator pinned to separate cores, several repetitions; prints medians, min-max and
// the iohost/Node ratio of each figure as a Markdown table (BENCHMARKS.md explains them).
//   node bench/run.mjs [--smoke] [--reps 3] [--only fanout,handler-path,...]
//   node bench/run.mjs --cores N     the handler path on N cores (iohost: one process; Node: N
//                                    processes and the Redis adapter); generators on other cores
//   [--kinds iohost|node] [--scheduler per-core|work-stealing] [--rates 2500,5000,...]
//   [--perf S]  with --cores: S seconds of iohost's CPU samples at each rate (perf, see perfProfile)
// Expects release builds of iohost and iohost-bench and the example handlers (scripts/bench.sh
// makes them); the smoke run uses the debug builds the test run already has: it checks the
// machinery, not the numbers, and fails on anything lost.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort } from '../tests/lib/server.mjs';
import { startStrapi } from '../tests/lib/strapi.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const smoke = args.includes('--smoke');
const reps = Number(flag('--reps')) || (smoke ? 1 : 3);
const only = flag('--only')?.split(',');
// `--cores N` runs the multi-core scenario (alone unless --only says more); the smoke run runs
// it on one core beside the rest.
const cores = Number(flag('--cores')) || (smoke ? 1 : 0);
// iohost's `server.scheduler` (`--scheduler per-core` to try the other one).
const scheduler = flag('--scheduler') ?? 'work-stealing';
const wanted = (scenario) => (only ? only.includes(scenario) : scenario === 'cores' ? cores > 0 : smoke || !flag('--cores'));
const KEY = 'bench-key-0123456789abcdef0123456789abcdef';
const WEBHOOK_SECRET = 'bench-webhook-secret-0123456789';
// The build scripts/bench.sh makes: `production` (fat LTO, as deployed); the smoke run uses the
// debug build that CI has (`--release` for the release build).
const profile = smoke ? (args.includes('--release') ? 'release' : 'debug') : 'production';
const twoCores = cpus().length >= 2;
// `core`: a core number or a range `a-b`; beyond this machine's cores (a smoke run of --cores)
// it wraps around.
const cpuTotal = cpus().length;
const onCores = (core) => (typeof core === 'number' ? String(core % cpuTotal) : core.replace(/\d+$/, (last) => String(Math.min(Number(last), cpuTotal - 1))));
const pin = (core, cmd, cmdArgs) => (twoCores ? ['taskset', ['-c', onCores(core), cmd, ...cmdArgs]] : [cmd, cmdArgs]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x) => (x === undefined ? '—' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));
// Every server and generator started, so that none outlives the run, however it ends.
const children = new Set();
const track = (proc) => {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
};
process.on('exit', () => children.forEach((p) => p.kill('SIGKILL')));
const work = mkdtempSync(join(tmpdir(), 'iohost-bench-'));
// Compiled handlers survive between repetitions, as they do between restarts of a real server.
const handlerCache = join(work, 'handler-cache');

// Sizes. The handler path: rooms of 5, so every typing event reaches the 4 others (at 40k
// events/s that is 160k deliveries/s for the one-core generator to count). On one core of the
// CI machine (2026-12-04) Node fell behind at 20k/s and iohost past 40k/s; each server's ladder
// stops where it does (keepsUp).
const S = smoke
  ? {
      fanout: [{ sockets: 50, rate: 10, seconds: 1 }],
      handlerPath: [{ sockets: 20, rate: 100, seconds: 1 }],
      roomSize: 5,
      idle: [100],
      waves: { sockets: 100, count: 1 },
      storm: { sockets: 50, users: 5 },
      reload: { sockets: 10, rate: 200, seconds: 5, swaps: 1 },
      webhook: [{ sockets: 20, rate: 10, seconds: 1 }],
      content: { listeners: 5, sequential: 5, burst: 10, concurrency: 4 },
    }
  : {
      fanout: [
        { sockets: 1000, rate: 20, seconds: 5 },
        { sockets: 1000, rate: 100, seconds: 5 },
        { sockets: 1000, rate: 400, seconds: 5 },
        { sockets: 5000, rate: 20, seconds: 5 },
        { sockets: 10000, rate: 10, seconds: 5 },
        { sockets: 10000, rate: 40, seconds: 5 },
      ],
      // A ladder of offered rates, fine enough to read off the rate each server sustains
      // within a p99 (the summary after the table).
      handlerPath: [2500, 5000, 7500, 10000, 12500, 15000, 17500, 20000, 25000, 30000, 35000, 40000, 45000, 50000].map((rate) => ({ sockets: 1000, rate, seconds: 5 })),
      roomSize: 5,
      idle: [1000, 5000, 10000, 19000],
      waves: { sockets: 10000, count: 3 },
      storm: { sockets: 10000, users: 100 },
      reload: { sockets: 100, rate: 5000, seconds: 15, swaps: 5 },
      webhook: [
        { sockets: 1000, rate: 20, seconds: 5 },
        { sockets: 1000, rate: 100, seconds: 5 },
      ],
      content: { listeners: 100, sequential: 100, burst: 500, concurrency: 8 },
    };
// Equal handler settings on both servers: limits high enough that nothing is refused.
// No typing throttle (0 ms): every event is broadcast on both servers, so both do the same work
// at every rate. With a throttle (10 ms until 2026-12-04), a server that fell behind read one
// socket's queued events together, throttled all but the first and so did less work: Node on
// one core delivered 28.5k broadcasts/s at 25k events/s, iohost 79k.
const LIMITS = { eventsPerMinute: 6_000_000, burst: 100_000, throttleMs: 0 };

/** CPU seconds (user + system) the processes `pids` have used so far (clock ticks of 10 ms). */
function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    // The fields after the command name, which may hold spaces: utime and stime are 14th and 15th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop().split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

/** Ticks (10 ms) the hypervisor took from cores `0..n-1` so far (/proc/stat's `steal`): time the
 * server's cores did not run it at all, which no server can help. */
function stealTicks(n) {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  let ticks = 0;
  for (let core = 0; core < n; core++) {
    const fields = lines.find((l) => l.startsWith(`cpu${core} `))?.trim().split(/\s+/) ?? [];
    ticks += Number(fields[8] ?? 0);
  }
  return ticks;
}

function rssKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

/** The iohost config and handler folder for one server. */
function iohostConfig(dir, port, { handlers = [], strapi } = {}) {
  const handlerDir = join(dir, 'handlers');
  mkdirSync(handlerDir, { recursive: true });
  const sidecars = {
    'rate-limit': `[config]\nevents_per_minute = ${LIMITS.eventsPerMinute}\nburst = ${LIMITS.burst}\nper_user = true\n`,
    'chat-typing': `[config]\nroom_prefix = "chat-room-"\nthrottle_ms = ${LIMITS.throttleMs}\n`,
  };
  for (const name of handlers) {
    copyFileSync(join(root, 'target', 'handlers', `${name}.wasm`), join(handlerDir, `${name}.wasm`));
    if (sidecars[name]) writeFileSync(join(handlerDir, `${name}.toml`), sidecars[name]);
  }
  const config = join(dir, 'iohost.toml');
  writeFileSync(
    config,
    `[server]\nlisten = "127.0.0.1:${port}"\nmax_connections = 50000\nsocket_queue_size = 1024\nscheduler = "${scheduler}"\n` +
      // One load generator on one address plays every client: the per-address limits would
      // be the whole run's (docs/security.md measures them on their own: bench/abuse.mjs).
      `max_tcp_connections = 60000\nmax_connections_per_address = 60000\nconnect_rate_per_address = 1000000\n` +
      `connect_burst_per_address = 1000000\nmax_pending_sessions = 60000\nmax_pending_sessions_per_address = 60000\n` +
      `[api]\nkeys = ["${KEY}"]\n` +
      `[handlers]\nenabled = ${handlers.length > 0}\ndir = "${handlerDir}"\ncache_dir = "${handlerCache}"\ndebounce_ms = 10\n` +
      // Debug builds (smoke run) are many times slower than release.
      `[handlers.limits]\ncall_timeout_ms = ${smoke ? 2000 : 100}\n` +
      `[strapi]\nwebhook_secret = "${WEBHOOK_SECRET}"\n` +
      (strapi ? `url = "${strapi.url}"\njwt_secret = "${strapi.jwtSecret}"\napi_token = "${strapi.apiToken}"\n` : '') +
      `[strapi.permissions.public]\narticle = ["find"]\ncategory = ["find"]\n` +
      `[settings]\nfile = "${join(dir, 'settings.json')}"\n[log]\nlevel = "warn"\n`,
  );
  return { config, handlerDir };
}

/**
 * Starts one server (with `options.cores`, the service on that many cores: iohost one process
 * on them all, Node one process per core joined by Redis); resolves with {url (comma-separated
 * when several processes), pid, handlerDir, stop} once every process accepts connections.
 */
async function startServer(kind, port, options = {}) {
  const dir = mkdtempSync(join(work, `${kind}-`));
  const n = options.cores ?? 0;
  const procs = [];
  const urls = [];
  let handlerDir;
  if (kind === 'iohost') {
    const made = iohostConfig(dir, port, options);
    handlerDir = made.handlerDir;
    const onCores = n > 1 ? `0-${n - 1}` : 0;
    const [cmd, cmdArgs] = pin(onCores, join(root, 'target', profile, 'iohost'), ['serve', '--config', made.config]);
    procs.push(track(spawn(cmd, cmdArgs, { stdio: ['ignore', 'ignore', 'inherit'] })));
    urls.push(`http://127.0.0.1:${port}`);
  } else {
    const ports = [port];
    while (ports.length < Math.max(1, n)) ports.push(await freePort());
    const redis = n ? { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_PREFIX: `bench-${process.pid}-${port}` } : {};
    for (const [i, p] of ports.entries()) {
      const env = {
        ...process.env,
        PORT: String(p),
        API_KEY: KEY,
        EVENTS_PER_MINUTE: String(LIMITS.eventsPerMinute),
        BURST: String(LIMITS.burst),
        THROTTLE_MS: String(LIMITS.throttleMs),
        WEBHOOK_SECRET,
        ...redis,
        ...(options.strapi ? { STRAPI_URL: options.strapi.url, JWT_SECRET: options.strapi.jwtSecret, API_TOKEN: options.strapi.apiToken } : {}),
      };
      const [cmd, cmdArgs] = pin(i, process.execPath, [join(root, 'bench', 'node', 'server.mjs')]);
      procs.push(track(spawn(cmd, cmdArgs, { stdio: ['ignore', 'ignore', 'inherit'], env })));
      urls.push(`http://127.0.0.1:${p}`);
    }
  }
  for (const [i, url] of urls.entries()) {
    for (let tries = 0; ; tries++) {
      if (procs[i].exitCode !== null) throw new Error(`${kind} exited with ${procs[i].exitCode} at start`);
      try {
        await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
        break;
      } catch {
        if (tries > 600) throw new Error(`${kind} did not start in 60 s`);
        await sleep(100);
      }
    }
  }
  if (kind === 'iohost' && options.handlers?.length) await handlersLoaded(urls[0], options.handlers);
  await sleep(300);
  const stopOne = (proc) =>
    new Promise((r) => {
      if (proc.exitCode !== null) return r();
      proc.once('exit', r);
      proc.kill('SIGKILL');
    });
  return {
    url: urls.join(','),
    pid: procs[0].pid,
    pids: procs.map((p) => p.pid),
    handlerDir,
    stop: () => Promise.all(procs.map(stopOne)),
  };
}

async function api(url, path) {
  const res = await fetch(`${url}/api/v1${path}`, { headers: { Authorization: `Bearer ${KEY}` } });
  if (!res.ok) throw new Error(`GET ${path} -> ${res.status}`);
  return res.json();
}

/** Waits until every named handler is loaded, and outside the smoke run until it runs the
 * optimising compiler's code (a handler serves on baseline code first while that compiles in
 * the background, on the server's own cores; later servers of a run read it from the compile
 * cache). The smoke run's debug build compiles slowly and measures nothing. */
async function handlersLoaded(url, names) {
  const ready = (h) => smoke || h.code === 'optimized';
  for (let i = 0; i < 2400; i++) {
    const { handlers } = await api(url, '/handlers');
    if (names.every((n) => handlers.some((h) => h.name === n && ready(h)))) return handlers;
    await sleep(50);
  }
  throw new Error(`handlers ${names} not ready in 120 s`);
}

/** Runs the load generator; resolves with its JSON result. `hold` keeps it alive for the caller;
 * `onFiring` is called when an `events` generator has its sockets connected and starts sending. */
function generator(url, scenarioArgs, { hold = false, core = 1, onFiring } = {}) {
  const [cmd, cmdArgs] = pin(core, join(root, 'target', profile, 'iohost-bench'), ['--url', url, ...scenarioArgs]);
  const proc = track(spawn(cmd, cmdArgs, { stdio: ['pipe', 'pipe', 'inherit'] }));
  return new Promise((res, rej) => {
    let out = '';
    let firing = false;
    proc.stdout.on('data', (c) => {
      out += c;
      if (!firing && out.startsWith('firing\n')) {
        firing = true;
        onFiring?.();
      }
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (hold && line) res({ result: JSON.parse(line), release: () => new Promise((r) => { proc.once('exit', r); proc.stdin.end(); }) });
    });
    proc.on('exit', (code) => {
      if (hold) {
        if (!out.includes('{')) rej(new Error(`iohost-bench exited with ${code} before holding its sockets`));
        return;
      }
      if (code !== 0) rej(new Error(`iohost-bench exited with ${code}`));
      else res(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

/** `n` idle sockets from as many generator processes as one process's file limit needs. */
async function holdIdle(url, n) {
  const perProcess = 9500;
  const parts = [];
  for (let left = n; left > 0; left -= perProcess) parts.push(Math.min(left, perProcess));
  const started = Date.now();
  const held = await Promise.all(parts.map((k) => generator(url, ['idle', '--sockets', String(k)], { hold: true })));
  return { seconds: (Date.now() - started) / 1000, release: () => Promise.all(held.map((h) => h.release())) };
}

/** The server's CPU use (1.0 = one core) while `generators` event generators send: from the
 * moment the last of them starts sending (all sockets connected) until `done()`, the drain of
 * acks and broadcasts included; and the share of that time the hypervisor took from the
 * server's `cores` (the first ones). */
function serverLoad(server, generators = 1, cores = 1) {
  let started = 0;
  let from;
  return {
    /** Called as each generator starts sending; true once the last one has. */
    onFiring: () => {
      started += 1;
      if (started === generators) from = { cpu: cpuSeconds(server.pids), steal: stealTicks(cores), at: performance.now() };
      return started === generators;
    },
    done: () => {
      if (!from) return { cpu: NaN, steal: NaN };
      const seconds = (performance.now() - from.at) / 1000;
      return { cpu: (cpuSeconds(server.pids) - from.cpu) / seconds, steal: (stealTicks(cores) - from.steal) / 100 / (seconds * cores) };
    },
  };
}

/** Several generators' `events` results as one: rates and counts added, latencies merged from
 * their histograms (2% buckets). */
function mergeEvents(parts) {
  const sum = (key) => parts.reduce((a, p) => a + p[key], 0);
  const buckets = parts.flatMap((p) => p.latencyHistogram).sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((a, [, n]) => a + n, 0);
  const at = (q) => {
    let seen = 0;
    for (const [bound, n] of buckets) {
      seen += n;
      if (seen >= q * total) return bound / 1000;
    }
    return 0;
  };
  const busiest = Math.max(...parts.map((p) => p.generatorCpu ?? 0));
  const offered = Math.max(...parts.map((p) => p.offeredSeconds));
  return { eventsPerSecond: sum('eventsPerSecond'), steadyEventsPerSecond: sum('steadyEventsPerSecond'), broadcastsPerSecond: sum('broadcastsReceived') / offered, lost: sum('lost'), broadcastsLost: sum('broadcastsLost'), p50: at(0.5), p99: at(0.99), generatorCpu: busiest };
}

let lostTotal = 0;
const lost = (what, n) => {
  if (n > 0) console.error(`${what}: ${n} lost`);
  lostTotal += n;
};
const results = []; // {scenario, params, kind, figure, value}

async function run(kind, scenario, params, options, fn) {
  for (let rep = 0; rep < reps; rep++) {
    const server = await startServer(kind, options.port ?? (await freePort()), options);
    try {
      const figures = await fn(server, rep);
      for (const [figure, value] of Object.entries(figures)) results.push({ scenario, params, kind, figure, value });
      // Each repetition's figures as it ends: a long run that is stopped early still says
      // what it measured.
      const shown = Object.entries(figures).map(([figure, value]) => `${figure} ${fmt(value)}`);
      console.error(`${kind} | ${scenario} | ${params} | rep ${rep + 1}: ${shown.join(', ')}`);
    } finally {
      await server.stop();
    }
  }
}

/** A copy of the handler at `file` with a new custom section: new content, same behaviour. */
function touchComponent(file, n) {
  const name = Buffer.from('iohost-bench');
  const payload = Buffer.from(`swap ${n} ${Date.now()}`);
  const body = Buffer.concat([Buffer.from([name.length]), name, payload]);
  // Custom section: id 0, size (LEB128, < 128 here), then the name and payload.
  appendFileSync(file, Buffer.concat([Buffer.from([0, body.length]), body]));
}

// `--kinds iohost` or `--kinds node` runs one server only (e.g. to extend its ladder).
const kinds = flag('--kinds')?.split(',') ?? ['iohost', 'node'];

if (wanted('fanout')) {
  for (const kind of kinds) {
    for (const f of S.fanout) {
      await run(kind, 'fanout', `${f.sockets} sockets, ${f.rate} emits/s`, {}, async (server) => {
        const r = await generator(server.url, ['fanout', '--sockets', String(f.sockets), '--rate', String(f.rate), '--seconds', String(f.seconds), '--key', KEY]);
        lost(`${kind} fanout deliveries`, r.lost + r.emitsFailed);
        return { 'deliveries/s': r.deliveriesPerSecond, 'p50 ms': r.latencyP50Ms, 'p99 ms': r.latencyP99Ms, lost: r.lost };
      });
    }
  }
}

if (wanted('webhook')) {
  for (const kind of kinds) {
    for (const f of S.webhook) {
      await run(kind, 'webhook to clients', `${f.sockets} listeners, ${f.rate} webhooks/s`, {}, async (server) => {
        const r = await generator(server.url, ['fanout', '--sockets', String(f.sockets), '--rate', String(f.rate), '--seconds', String(f.seconds), '--key', WEBHOOK_SECRET, '--webhook', '/strapi/webhook']);
        lost(`${kind} webhook deliveries`, r.lost + r.emitsFailed);
        return { 'p50 ms': r.latencyP50Ms, 'p99 ms': r.latencyP99Ms, 'deliveries/s': r.deliveriesPerSecond, lost: r.lost };
      });
    }
  }
}

if (wanted('content')) {
  // A real Strapi's content change to clients: REST writes to Strapi, each measured from the
  // request until every listener has the event. Through iohost's plugin (document-service
  // middleware, outbox, per-role payloads from Strapi's sanitiser), through Strapi's webhook to
  // iohost, and through the webhook to the Node reference. One Strapi per path (the plugin would
  // otherwise send every change a second time); each server runs on the port its Strapi knows.
  const { listeners, sequential, burst, concurrency } = S.content;
  const { io: connectClient } = createRequire(join(root, 'bench', 'node', 'package.json'))('socket.io-client');
  const pluginPort = await freePort();
  const webhookPort = await freePort();
  const types = JSON.stringify(['api::category.category']);
  const viaPlugin = await startStrapi({ env: { IOHOST_URL: `http://127.0.0.1:${pluginPort}`, IOHOST_API_KEY: KEY, IOHOST_CONTENT_TYPES: types } });
  const viaWebhook = await startStrapi();
  try {
    for (const strapi of [viaPlugin, viaWebhook]) await strapi.permit('public', ['api::category.category.find', 'api::category.category.findOne']);
    await viaWebhook.webhook(`http://127.0.0.1:${webhookPort}/strapi/webhook`, WEBHOOK_SECRET, 'bench');
    const measure = (strapi) => async (server) => {
      const clients = await Promise.all(
        Array.from({ length: listeners }, () => new Promise((res, rej) => {
          const socket = connectClient(server.url, { transports: ['websocket'], forceNew: true });
          socket.once('connect', () => res(socket));
          socket.once('connect_error', rej);
        })),
      );
      // name -> listeners that have it, and when the last one got it
      const arrivals = new Map();
      for (const socket of clients) {
        socket.on('category:update', (payload) => {
          const name = payload?.data?.name ?? payload?.data?.attributes?.name;
          const seen = arrivals.get(name) ?? { count: 0, last: 0 };
          seen.count += 1;
          seen.last = performance.now();
          arrivals.set(name, seen);
        });
      }
      const all = async (names, ms) => {
        const deadline = performance.now() + ms;
        while (names.some((n) => (arrivals.get(n)?.count ?? 0) < listeners) && performance.now() < deadline) await sleep(2);
        return names.filter((n) => (arrivals.get(n)?.count ?? 0) < listeners).length;
      };
      const write = (documentId, name) => strapi.call(`/api/categories/${documentId}`, { method: 'PUT', token: strapi.apiToken, body: { data: { name } } });
      const docs = [];
      for (let d = 0; d < concurrency; d++) docs.push((await strapi.call('/api/categories', { method: 'POST', token: strapi.apiToken, body: { data: { name: `doc-${d}-${server.pid}` } } })).data.documentId);
      await write(docs[0], `warm-${server.pid}`);
      let missing = await all([`warm-${server.pid}`], 30000);
      const latencies = [];
      for (let i = 0; i < sequential; i++) {
        const name = `seq-${server.pid}-${i}`;
        const t0 = performance.now();
        await write(docs[i % docs.length], name);
        missing += await all([name], 10000);
        if (arrivals.has(name)) latencies.push(arrivals.get(name).last - t0);
      }
      const names = Array.from({ length: burst }, (_, i) => `burst-${server.pid}-${i}`);
      const t0 = performance.now();
      let next = 0;
      await Promise.all(docs.map(async (documentId) => {
        while (next < names.length) await write(documentId, names[next++]);
      }));
      const written = performance.now();
      missing += await all(names, 30000);
      const done = Math.max(...names.map((n) => arrivals.get(n)?.last ?? 0));
      clients.forEach((c) => c.close());
      lost(`${server.url} content events`, missing);
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        'p50 ms': median(latencies),
        'p99 ms': sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))],
        'events/s (burst)': (burst * 1000) / (done - t0),
        'Strapi writes/s (burst)': (burst * 1000) / (written - t0),
        lost: missing,
      };
    };
    const params = (path) => `${path}, ${listeners} listeners, ${concurrency} writers`;
    await run('iohost', 'content change to clients', params('plugin'), { port: pluginPort }, measure(viaPlugin));
    for (const kind of kinds) {
      await run(kind, 'content change to clients', params('webhook'), { port: webhookPort }, measure(viaWebhook));
    }
  } finally {
    await viaPlugin.stop();
    await viaWebhook.stop();
  }
}

// Every handler-path run: {kind, rate, eventsPerSecond, p99}, where eventsPerSecond is the rate
// acked under load (after the warm-up, until the last event is sent): it equals the offered
// rate when a server keeps up, however long its slowest answers take after the load stops,
// where `events/s` (acks until the last one) would count that tail as falling behind.
const handlerPath = [];
// A ladder of rates stops, for each server, at the first rate where it falls clearly behind:
// under 95% of the offered rate acked under load, or broadcasts dropped (iohost drops them for
// a socket whose outgoing queue is full, `server.socket_queue_size`, when it is overloaded).
// Past that a server only queues more, and draining the backlog (minutes at high rates) would
// measure nothing new. Such a rung's drops are its result, not a failure of the run.
const keepsUp = (ladder, kind, rate) => {
  const runs = ladder.filter((p) => p.kind === kind && p.rate === rate);
  return median(runs.map((p) => p.eventsPerSecond)) >= 0.95 * rate && runs.every((p) => p.dropped === 0);
};
// Lost acks always fail a run, dropped broadcasts only in the smoke run (where nothing is
// overloaded).
const dropped = (what, n) => (smoke ? lost(what, n) : n > 0 && console.error(`${what}: ${n} dropped`));
if (wanted('handler-path')) {
  for (const kind of kinds) {
    for (const h of S.handlerPath) {
      await run(kind, 'handler path', `${h.sockets} sockets, ${h.rate} chat:typing/s offered`, { handlers: ['rate-limit', 'chat-typing'] }, async (server) => {
        const load = serverLoad(server);
        const r = await generator(server.url, ['events', '--sockets', String(h.sockets), '--rate', String(h.rate), '--seconds', String(h.seconds), '--room-size', String(S.roomSize)], { onFiring: load.onFiring });
        const { cpu: serverCpu, steal } = load.done();
        lost(`${kind} handler-path acks`, r.lost);
        dropped(`${kind} handler-path broadcasts`, r.broadcastsLost);
        handlerPath.push({ kind, rate: h.rate, eventsPerSecond: r.steadyEventsPerSecond, p99: r.latencyP99Ms, dropped: r.broadcastsLost });
        return { 'events/s': r.eventsPerSecond, 'events/s under load': r.steadyEventsPerSecond, 'p50 ms': r.latencyP50Ms, 'p99 ms': r.latencyP99Ms, 'broadcasts/s': r.broadcastsReceived / r.offeredSeconds, lost: r.lost + r.broadcastsLost, 'server CPU %': serverCpu * 100, 'server cores stolen %': steal * 100, 'generator CPU %': (r.generatorCpu ?? 0) * 100 };
      });
      if (!keepsUp(handlerPath, kind, h.rate)) break;
    }
  }
}

// The handler path on N cores: iohost as one process on cores 0..N-1; Node as N processes, one
// per core, joined by the Redis adapter (the way Node users scale); the sockets spread over the
// processes in turn, as a load balancer would, so a chat room's members sit in different
// processes. G generators (as many as the cores left allow, at most N) on cores of their own,
// each with a share of the sockets, the rate and rooms of its own; their latencies merged.
const corePath = []; // {kind, rate, eventsPerSecond (under load, as handlerPath's), p99}
const perfSeconds = Number(flag('--perf')) || 0;

/** Records `perfSeconds` of `pid`'s CPU samples with perf (`$PERF`, default `perf`; the
 * cpu-clock event, which a VM without a PMU has too, with frame-pointer call chains) and writes
 * the flat profile by thread, binary and symbol to `<name>.txt` in `$PERF_OUT` (default: the
 * work folder). A perf that cannot record is reported and skipped. */
function perfProfile(pid, name) {
  const perf = process.env.PERF ?? 'perf';
  const data = join(work, `${name}.data`);
  const out = join(process.env.PERF_OUT ?? work, `${name}.txt`);
  const record = spawn(perf, ['record', '-q', '-e', 'cpu-clock', '-F', '999', '-g', '-p', String(pid), '-o', data, '--', 'sleep', String(perfSeconds)], { stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((res) => {
    record.on('error', (e) => (console.error(`perf: ${e.message}`), res()));
    record.on('exit', (code) => {
      if (code !== 0) return (console.error(`perf record exited with ${code}`), res());
      const report = spawn(perf, ['report', '-i', data, '--stdio', '--no-children', '--sort', 'comm,dso,symbol', '--percent-limit', '0.2', '-g', 'none'], { stdio: ['ignore', openSync(out, 'w'), 'inherit'] });
      report.on('exit', () => (console.error(`profile: ${out}`), res()));
    });
  });
}
if (wanted('cores')) {
  const cpuCount = cpus().length;
  const generators = Math.max(1, Math.min(cores, cpuCount - cores));
  if (cores + generators > cpuCount && !smoke) throw new Error(`--cores ${cores} needs at least ${cores + 1} cores (this machine has ${cpuCount})`);
  // Offered events/s per core (`--rates 5000,10000,...` for another ladder), times N. On the
  // 16-core machine of 2026-12-04 iohost fell behind near 20k per core; ~9 s a step.
  const perCore = flag('--rates')?.split(',').map(Number) ?? [2500, 5000, 7500, 10000, 12500, 15000, 17500, 20000, 25000];
  const rates = smoke ? [200] : perCore.map((r) => r * cores);
  const sockets = smoke ? 40 : 1000 * cores;
  for (const kind of kinds) {
    for (const rate of rates) {
      await run(kind, `handler path on ${cores} core(s)`, `${sockets} sockets, ${rate} chat:typing/s offered`, { handlers: ['rate-limit', 'chat-typing'], cores }, async (server, rep) => {
        const load = serverLoad(server, generators, cores);
        // With --perf, iohost's first repetition of each rate is profiled once all generators send.
        let profiled;
        const onFiring = () => {
          if (load.onFiring() && perfSeconds && kind === 'iohost' && rep === 0) profiled = perfProfile(server.pid, `perf-${cores}cores-${rate}`);
        };
        const parts = await Promise.all(
          Array.from({ length: generators }, (_, g) =>
            generator(
              server.url,
              ['events', '--sockets', String(Math.ceil(sockets / generators)), '--rate', String(Math.ceil(rate / generators)), '--seconds', smoke ? '1' : '5', '--room-size', String(S.roomSize), '--room-prefix', `g${g}-`],
              { core: cores + g, onFiring },
            ),
          ),
        );
        await profiled;
        const merged = mergeEvents(parts);
        const { cpu: serverCpu, steal } = load.done();
        lost(`${kind} ${cores}-core acks`, merged.lost);
        dropped(`${kind} ${cores}-core broadcasts`, merged.broadcastsLost);
        corePath.push({ kind, rate, eventsPerSecond: merged.steadyEventsPerSecond, p99: merged.p99, dropped: merged.broadcastsLost });
        return { 'events/s': merged.eventsPerSecond, 'events/s under load': merged.steadyEventsPerSecond, 'p50 ms': merged.p50, 'p99 ms': merged.p99, 'broadcasts/s': merged.broadcastsPerSecond, lost: merged.lost + merged.broadcastsLost, 'server CPU %': serverCpu * 100, 'server cores stolen %': steal * 100, 'generator CPU %': merged.generatorCpu * 100 };
      });
      if (!keepsUp(corePath, kind, rate)) break;
    }
  }
}

if (wanted('idle')) {
  for (const kind of kinds) {
    for (const n of S.idle) {
      await run(kind, 'idle memory', `${n} sockets`, {}, async (server) => {
        const before = rssKb(server.pid);
        const held = await holdIdle(server.url, n);
        await sleep(1000);
        const after = rssKb(server.pid);
        await held.release();
        return { 'KB/socket': (after - before) / n, 'RSS MB': after / 1024, 'connect s': held.seconds };
      });
    }
  }
}

if (wanted('waves')) {
  const { sockets, count } = S.waves;
  for (const kind of kinds) {
    await run(kind, 'connection waves', `${count} x 0 -> ${sockets} -> 0`, {}, async (server) => {
      const start = rssKb(server.pid);
      const figures = { 'RSS MB at start': start / 1024 };
      for (let w = 1; w <= count; w++) {
        const held = await holdIdle(server.url, sockets);
        await sleep(500);
        figures[`RSS MB at peak ${w}`] = rssKb(server.pid) / 1024;
        await held.release();
        await sleep(3000); // the server notices the closes and frees what it held
        figures[`RSS MB after wave ${w}`] = rssKb(server.pid) / 1024;
      }
      return figures;
    });
  }
}

if (wanted('storm')) {
  // A real Strapi 5 (tests/strapi/app) issues the JWTs and answers the user lookups; both
  // servers look each user up once (cached), so Strapi's share is equal and small.
  const strapi = await startStrapi();
  try {
    const tokens = [];
    for (let u = 0; u < S.storm.users; u++) tokens.push((await strapi.register(`bench${u}`)).jwt);
    const tokenFile = join(work, 'tokens.txt');
    writeFileSync(tokenFile, tokens.join('\n'));
    const options = { strapi: { url: strapi.url, jwtSecret: strapi.jwtSecret, apiToken: strapi.apiToken } };
    for (const kind of kinds) {
      await run(kind, 'connection storm', `${S.storm.sockets} clients at once, JWTs of ${S.storm.users} users`, options, async (server) => {
        const r = await generator(server.url, ['storm', '--sockets', String(S.storm.sockets), '--tokens', tokenFile]);
        lost(`${kind} storm connections`, r.failed);
        return { 'seconds to all connected': r.seconds, 'connections/s': r.connectionsPerSecond, failed: r.failed };
      });
    }
  } finally {
    await strapi.stop();
  }
}

if (wanted('reload')) {
  // iohost only (the Node reference cannot swap its handlers): echo acks `message-with-ack`
  // while its file is replaced by a new build (new content: a fresh compile) again and again.
  // Swap: from the rename until the new version serves (baseline code); optimised: until it
  // runs the optimising compiler's code. Each swap waits for the previous one's optimised code.
  const { sockets, rate, seconds, swaps } = S.reload;
  await run('iohost', 'hot reload', `${rate} events/s, ${swaps} swaps`, { handlers: ['echo'] }, async (server) => {
    const started = performance.now();
    const load = generator(server.url, ['events', '--sockets', String(sockets), '--rate', String(rate), '--seconds', String(seconds), '--event', 'message-with-ack', '--arg', '{"n":1}']);
    const file = join(server.handlerDir, 'echo.wasm');
    const echo = async () => (await api(server.url, '/handlers')).handlers.find((h) => h.name === 'echo');
    const until = async (t0, done) => {
      for (;;) {
        const h = await echo();
        if (h && done(h)) return performance.now() - t0;
        if (performance.now() - t0 > 60000) throw new Error('the new echo build was not in service after 60 s');
        await sleep(5);
      }
    };
    const swapMs = [];
    const optimizedMs = [];
    for (let s = 1; s <= swaps; s++) {
      await sleep(500);
      const before = (await echo()).version;
      // Written beside it, then renamed over it: iohost never sees half a file.
      const next = join(server.handlerDir, '.echo.wasm.partial');
      copyFileSync(join(root, 'target', 'handlers', 'echo.wasm'), next);
      touchComponent(next, s);
      const t0 = performance.now();
      renameSync(next, file);
      swapMs.push(await until(t0, (h) => h.version !== before));
      optimizedMs.push(await until(t0, (h) => h.version !== before && h.code === 'optimized'));
    }
    if (performance.now() - started > seconds * 1000) console.error('hot reload: the swaps outlasted the load; raise its seconds');
    const r = await load;
    lost('hot-reload events', r.lost);
    return { 'swap ms (median of swaps)': median(swapMs), 'optimised ms (median)': median(optimizedMs), 'events lost': r.lost, 'p99 ms': r.latencyP99Ms, 'max ms': r.latencyMaxMs };
  });
}

const cell = (values) => (values.length === 0 ? '—' : values.length > 1 ? `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})` : fmt(values[0]));

console.log(`\n${reps} repetition(s); median (min–max); server on core 0, load generator on core 1${cores ? ` (on ${cores} core(s): servers on cores 0-${cores - 1}, generators on the next)` : ''}${twoCores ? '' : ' (one core: not pinned)'}\n`);
console.log('| scenario | | figure | iohost | Node socket.io | iohost / Node |');
console.log('|---|---|---|---|---|---|');
const keys = [...new Set(results.map((r) => `${r.scenario}\u0000${r.params}\u0000${r.figure}`))];
for (const k of keys) {
  const [scenario, params, figure] = k.split('\u0000');
  const of = (kind) => results.filter((r) => r.scenario === scenario && r.params === params && r.figure === figure && r.kind === kind).map((r) => r.value);
  const a = of('iohost');
  const b = of('node');
  const ratio = b.length === 0 || median(b) === 0 ? '—' : (median(a) / median(b)).toFixed(2);
  console.log(`| ${scenario} | ${params} | ${figure} | ${cell(a)} | ${cell(b)} | ${ratio} |`);
}

// A ladder's medians per offered rate for one server, and the rates it sustained: at least 98%
// of the offered rate acked under load, no broadcast dropped.
function sustained(ladder, kind) {
  const rates = [...new Set(ladder.filter((p) => p.kind === kind).map((p) => p.rate))];
  return rates
    .map((rate) => {
      const runs = ladder.filter((p) => p.kind === kind && p.rate === rate);
      return { rate, eventsPerSecond: median(runs.map((p) => p.eventsPerSecond)), p99: median(runs.map((p) => p.p99)), dropped: runs.some((p) => p.dropped > 0) };
    })
    .filter((p) => p.eventsPerSecond >= 0.98 * p.rate && !p.dropped);
}
const highest = (points) => points.reduce((a, p) => (!a || p.eventsPerSecond > a.eventsPerSecond ? p : a), undefined);

// The handler-path target compares events/s "at equal or better p99": for each rate the Node
// reference sustains, the highest rate iohost sustains with a p99 no worse than Node's there.
if (handlerPath.length) {
  const iohost = sustained(handlerPath, 'iohost');
  console.log('\nHandler path at equal or better p99 (medians; sustained = at least 98% of the offered rate acked under load, no broadcast dropped)\n');
  console.log('| Node sustains | Node p99 ms | iohost sustains with p99 <= that | iohost p99 ms | iohost / Node |');
  console.log('|---|---|---|---|---|');
  for (const n of sustained(handlerPath, 'node')) {
    const best = highest(iohost.filter((p) => p.p99 <= n.p99));
    const row = best ? [fmt(best.eventsPerSecond), fmt(best.p99), (best.eventsPerSecond / n.eventsPerSecond).toFixed(2)] : ['none', '—', '—'];
    console.log(`| ${fmt(n.eventsPerSecond)} | ${fmt(n.p99)} | ${row.join(' | ')} |`);
  }
}

// On N cores: the top rate each sustains, its p99, and iohost's highest sustained rate whose
// p99 is no worse than Node's at Node's top (the target's "at equal or better p99").
if (corePath.length) {
  const iohost = sustained(corePath, 'iohost');
  const [a, b] = [highest(iohost), highest(sustained(corePath, 'node'))];
  const c = b && highest(iohost.filter((p) => p.p99 <= b.p99));
  console.log(`\nOn ${cores} core(s) (iohost: one process; Node: ${cores} process(es) and the Redis adapter), the top sustained rate (medians)\n`);
  console.log('| | iohost | Node socket.io | iohost / Node |');
  console.log('|---|---|---|---|');
  console.log(`| events/s under load | ${a ? fmt(a.eventsPerSecond) : 'none'} | ${b ? fmt(b.eventsPerSecond) : 'none'} | ${a && b ? (a.eventsPerSecond / b.eventsPerSecond).toFixed(2) : '—'} |`);
  console.log(`| p99 ms there | ${a ? fmt(a.p99) : '—'} | ${b ? fmt(b.p99) : '—'} | ${a && b ? (a.p99 / b.p99).toFixed(2) : '—'} |`);
  console.log(`| events/s at p99 <= Node's at its top | ${c ? `${fmt(c.eventsPerSecond)} (p99 ${fmt(c.p99)} ms)` : 'none'} | ${b ? fmt(b.eventsPerSecond) : 'none'} | ${c && b ? (c.eventsPerSecond / b.eventsPerSecond).toFixed(2) : '—'} |`);
}

// Anything lost (deliveries, acks, connections, events across a reload) is a failure: in the
// smoke run (CI) it means the machinery or a server broke.
if (lostTotal > 0) {
  console.error(`${lostTotal} deliveries, acks, connections or events lost`);
  process.exitCode = 1;
}
