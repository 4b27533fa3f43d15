// deploy/: the systemd unit and the Containerfile, run as far as this machine can (no systemd
// as PID 1, no container engine): the unit verified by systemd-analyze, its ExecStart run and
// stopped with its KillSignal; the Containerfile's build command run (PROFILE=dev) and its
// runtime ENV, ENTRYPOINT and CMD run and stopped with its STOPSIGNAL.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';

import { binary, freePort, repoRoot } from '../lib/server.mjs';

const run = promisify(execFile);
const unit = readFileSync(join(repoRoot, 'deploy', 'iohost.service'), 'utf8');
const containerfile = readFileSync(join(repoRoot, 'deploy', 'Containerfile'), 'utf8');

/** `Key=value` of the unit (the last one wins, as in systemd). */
const directive = (key) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].at(-1)?.[1];

/** Resolves once `url`/readyz answers 200 (rejects after 20 s or if the process exits). */
async function ready(proc, url) {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('not ready in 20 s');
}

/** Sends `signal` and resolves with the exit code (rejects after `ms`). */
function stop(proc, signal, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still running ${ms} ms after ${signal}`)), ms);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    proc.kill(signal);
  });
}

describe('the systemd unit', () => {
  it('passes systemd-analyze verify without a word', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iohost-unit-'));
    const file = join(dir, 'iohost.service');
    // verify checks that ExecStart's binary exists: point it at the build.
    writeFileSync(file, unit.replaceAll('/usr/local/bin/iohost', binary));
    const { stdout, stderr } = await run('systemd-analyze', ['verify', file]);
    assert.equal(`${stdout}${stderr}`.trim(), '', 'systemd-analyze found nothing to say');
  });

  it('its ExecStart serves, and its KillSignal stops it cleanly within TimeoutStopSec', async () => {
    const [program, ...args] = directive('ExecStart').split(/\s+/);
    assert.equal(program, '/usr/local/bin/iohost');
    const dir = mkdtempSync(join(tmpdir(), 'iohost-unit-'));
    const port = await freePort();
    const config = join(dir, 'iohost.toml');
    writeFileSync(config, `[server]\nlisten = "127.0.0.1:${port}"\nshutdown_drain_ms = 500\n`);
    const proc = spawn(binary, args.map((a) => (a === '/etc/iohost/iohost.toml' ? config : a)), { cwd: dir, stdio: 'ignore' });
    try {
      await ready(proc, `http://127.0.0.1:${port}`);
    } catch (e) {
      proc.kill('SIGKILL');
      throw e;
    }
    assert.equal(directive('KillSignal'), 'SIGTERM');
    const code = await stop(proc, directive('KillSignal'), Number(directive('TimeoutStopSec')) * 1000);
    assert.equal(code, 0);
  });
});

describe('the Containerfile', () => {
  const stages = containerfile.split(/^FROM /m).slice(1);
  const lines = (stage, instruction) => [...stage.matchAll(new RegExp(`^${instruction} (.*)$`, 'gm'))].map((m) => m[1]);

  it('its build stage\'s command builds iohost (PROFILE=dev here) and puts it where the runtime stage copies it from', async () => {
    const [command] = lines(stages[0], 'RUN');
    const out = mkdtempSync(join(tmpdir(), 'iohost-image-'));
    assert.ok(lines(stages[1], 'COPY').some((c) => c.includes('/out/iohost')), 'the runtime stage copies /out/iohost');
    // The same command, in the repository (the stage's WORKDIR has the whole of it), with /out
    // in a temporary folder. The test run has built the workspace: this is quick.
    await run('sh', ['-c', command.replaceAll('/out/', `${out}/`)], { cwd: repoRoot, env: { ...process.env, PROFILE: 'dev' }, timeout: 600000 });
    assert.ok(existsSync(join(out, 'iohost')));
  });

  it('its ENV, ENTRYPOINT and CMD serve from an empty working folder; its STOPSIGNAL stops it cleanly', async () => {
    const runtime = stages[1];
    const env = Object.fromEntries(lines(runtime, 'ENV').map((e) => e.split('=')));
    assert.equal(env.IOHOST_SERVER__LISTEN, '0.0.0.0:1338');
    const port = await freePort();
    const [entry] = JSON.parse(lines(runtime, 'ENTRYPOINT')[0]);
    const cmd = JSON.parse(lines(runtime, 'CMD')[0]);
    assert.equal(entry, '/usr/local/bin/iohost');
    const dir = mkdtempSync(join(tmpdir(), 'iohost-image-'));
    const proc = spawn(binary, cmd, { cwd: dir, stdio: 'ignore', env: { PATH: process.env.PATH, ...env, IOHOST_SERVER__LISTEN: `0.0.0.0:${port}`, IOHOST_SERVER__SHUTDOWN_DRAIN_MS: '500' } });
    try {
      await ready(proc, `http://127.0.0.1:${port}`);
    } catch (e) {
      proc.kill('SIGKILL');
      throw e;
    }
    const code = await stop(proc, lines(runtime, 'STOPSIGNAL')[0], 10000);
    assert.equal(code, 0);
  });
});
