// Real redis-server processes for the cluster suites, each on a free loopback port, so a test
// can stop, freeze or restart one: plain servers, replicas and Sentinels.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort, sleep } from './server.mjs';

/** Resolves once something accepts connections on `port` (false after `ms`, or once `proc` has exited). */
async function listening(port, ms, proc) {
  const until = Date.now() + ms;
  while (Date.now() < until && proc.exitCode === null && proc.signalCode === null) {
    const up = await new Promise((res) => {
      const s = createConnection({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
    if (up) return true;
    await sleep(50);
  }
  return false;
}

/**
 * A redis-server on `port` (a free one by default), in memory only. `args` are extra options,
 * e.g. `['--replicaof', '127.0.0.1', '6379']`. Returns `{port, proc, stop(), freeze(), thaw()}`.
 * A server that exits at once (its free port taken in between by another suite's process) is
 * tried again on another free port; one that never listens is killed, and the error says what
 * it printed, so a failed start neither hangs the suite nor leaves a process behind.
 */
export async function startRedis({ port, args = [], sentinel = false } = {}) {
  const chosen = port === undefined;
  for (let attempt = 1; ; attempt++) {
    const at = port ?? (await freePort());
    const { proc, output } = spawnRedis(at, args, sentinel);
    if (await listening(at, 15000, proc)) return handle(at, proc);
    proc.kill('SIGKILL');
    const why = `redis-server did not start on ${at} (exit ${proc.exitCode ?? proc.signalCode ?? 'none'}): ${output().trim() || 'no output'}`;
    if (!chosen || attempt === 3 || proc.exitCode === null) throw new Error(why);
  }
}

/** Starts one redis-server on `port`; `output()` is what it has printed so far (the tail). */
function spawnRedis(port, args, sentinel) {
  let proc;
  if (sentinel) {
    // A Sentinel rewrites its config file, so it gets one of its own.
    const dir = mkdtempSync(join(tmpdir(), 'iohost-sentinel-'));
    const file = join(dir, 'sentinel.conf');
    writeFileSync(file, `port ${port}\nbind 127.0.0.1\n${args.join('\n')}\n`);
    proc = spawn('redis-server', [file, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  let printed = '';
  const keep = (chunk) => {
    printed = (printed + chunk).slice(-2000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  return { proc, output: () => printed };
}

function handle(port, proc) {
  return {
    port,
    proc,
    /** Kills it (SIGKILL: a crash, nothing flushed). */
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

/** Runs `redis-cli -p <port> ...command`; resolves with its output lines. */
export function redisCli(port, ...command) {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-p', String(port), ...command], { timeout: 5000 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(stdout.trim().split('\n'));
    });
  });
}
