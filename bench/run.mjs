// Runs the benchmarks against iohost and the Node socket.io reference in the same run, server
// and load generator pinned to separate cores, several repetitions; prints medians, min-max and
// the iohost/Node ratio of each figure as a Markdown table (BENCHMARKS.md explains them).
//   node bench/run.mjs [--smoke] [--reps 3]
// Expects release builds of iohost and iohost-bench (scripts/bench.sh makes them); the smoke run
// uses the debug builds the test run already has: it checks the machinery, not the numbers.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const reps = Number(args[args.indexOf('--reps') + 1]) || (smoke ? 1 : 3);
const KEY = 'bench-key-0123456789abcdef0123456789abcdef';
const profile = smoke ? 'debug' : 'release';
const twoCores = cpus().length >= 2;
const pin = (core, cmd, cmdArgs) => (twoCores ? ['taskset', ['-c', String(core), cmd, ...cmdArgs]] : [cmd, cmdArgs]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const scenarios = smoke
  ? { fanout: [{ sockets: 50, rate: 10, seconds: 1 }], idle: [100] }
  : { fanout: [{ sockets: 1000, rate: 20, seconds: 5 }, { sockets: 1000, rate: 100, seconds: 5 }, { sockets: 5000, rate: 20, seconds: 5 }], idle: [1000, 5000, 10000] };

function rssKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

/** Starts one server; resolves with {url, pid, stop} once it accepts connections. */
async function startServer(kind, port) {
  let proc;
  if (kind === 'iohost') {
    const dir = mkdtempSync(join(tmpdir(), 'iohost-bench-'));
    const config = join(dir, 'iohost.toml');
    writeFileSync(config, `[server]\nlisten = "127.0.0.1:${port}"\nmax_connections = 50000\nsocket_queue_size = 1024\n[api]\nkeys = ["${KEY}"]\n[handlers]\nenabled = false\n[settings]\nfile = "${join(dir, 'settings.json')}"\n[log]\nlevel = "warn"\n`);
    const [cmd, cmdArgs] = pin(0, join(root, 'target', profile, 'iohost'), ['serve', '--config', config]);
    proc = spawn(cmd, cmdArgs, { stdio: 'ignore' });
  } else {
    const [cmd, cmdArgs] = pin(0, process.execPath, [join(root, 'bench', 'node', 'server.mjs')]);
    proc = spawn(cmd, cmdArgs, { stdio: 'ignore', env: { ...process.env, PORT: String(port), API_KEY: KEY } });
  }
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
      break;
    } catch {
      await sleep(50);
    }
  }
  await sleep(300);
  return {
    url,
    pid: proc.pid,
    stop: () => new Promise((r) => { proc.once('exit', r); proc.kill('SIGKILL'); }),
  };
}

/** Runs the load generator; resolves with its JSON result. `hold` keeps it alive for the caller. */
function generator(url, scenarioArgs, { hold = false } = {}) {
  const [cmd, cmdArgs] = pin(1, join(root, 'target', profile, 'iohost-bench'), ['--url', url, ...scenarioArgs]);
  const proc = spawn(cmd, cmdArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    let out = '';
    proc.stdout.on('data', (c) => {
      out += c;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (hold && line) res({ result: JSON.parse(line), release: () => proc.stdin.end() });
    });
    proc.on('exit', (code) => {
      if (hold) return;
      if (code !== 0) rej(new Error(`iohost-bench exited with ${code}`));
      else res(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

let port = 43000;
let lostTotal = 0;
const results = []; // {scenario, params, kind, figure, value}

async function run(kind, scenario, params, fn) {
  for (let rep = 0; rep < reps; rep++) {
    const server = await startServer(kind, port++);
    try {
      const figures = await fn(server);
      for (const [figure, value] of Object.entries(figures)) results.push({ scenario, params, kind, figure, value });
    } finally {
      await server.stop();
    }
  }
}

for (const kind of ['iohost', 'node']) {
  for (const f of scenarios.fanout) {
    await run(kind, 'fanout', `${f.sockets} sockets, ${f.rate} emits/s`, async (server) => {
      const r = await generator(server.url, ['fanout', '--sockets', String(f.sockets), '--rate', String(f.rate), '--seconds', String(f.seconds), '--key', KEY]);
      if (r.lost > 0) console.error(`${kind}: ${r.lost} of ${r.expected} deliveries lost`);
      lostTotal += r.lost + r.emitsFailed;
      return { 'deliveries/s': r.deliveriesPerSecond, 'p50 ms': r.latencyP50Ms, 'p99 ms': r.latencyP99Ms, lost: r.lost };
    });
  }
  for (const n of scenarios.idle) {
    await run(kind, 'idle memory', `${n} sockets`, async (server) => {
      const before = rssKb(server.pid);
      const held = await generator(server.url, ['idle', '--sockets', String(n)], { hold: true });
      await sleep(1000);
      const after = rssKb(server.pid);
      held.release();
      return { 'KB/socket': (after - before) / n, 'RSS MB': after / 1024, 'connect s': held.result.connectSeconds };
    });
  }
}

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const cell = (values) => (values.length > 1 ? `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})` : fmt(values[0]));

console.log(`\n${reps} repetition(s); median (min–max); server on core 0, load generator on core 1${twoCores ? '' : ' (one core: not pinned)'}\n`);
console.log('| scenario | | figure | iohost | Node socket.io | iohost / Node |');
console.log('|---|---|---|---|---|---|');
const keys = [...new Set(results.map((r) => `${r.scenario}\u0000${r.params}\u0000${r.figure}`))];
for (const k of keys) {
  const [scenario, params, figure] = k.split('\u0000');
  const of = (kind) => results.filter((r) => r.scenario === scenario && r.params === params && r.figure === figure && r.kind === kind).map((r) => r.value);
  const a = of('iohost');
  const b = of('node');
  const ratio = median(b) === 0 ? '—' : (median(a) / median(b)).toFixed(2);
  console.log(`| ${scenario} | ${params} | ${figure} | ${cell(a)} | ${cell(b)} | ${ratio} |`);
}

// The smoke run (CI) must see every delivery: a lost one means the machinery or a server broke.
if (smoke && lostTotal > 0) {
  console.error(`smoke run: ${lostTotal} deliveries or emits lost`);
  process.exitCode = 1;
}
