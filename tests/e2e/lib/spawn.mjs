// Starting the programs under test: spawn a process, wait (with a deadline, never a fixed sleep)
// until its stdout shows it is ready, and stop it by PID afterwards. Shared by every e2e file.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import readline from 'node:readline';

// Every child we started, so that a crashing test run does not leave servers behind.
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Starts `bin args...` and resolves once `until` (a predicate over the stdout lines seen so far,
 * or a RegExp tested on each line) is satisfied. Rejects if the process exits first or the
 * deadline passes; in both cases the process is killed and the error carries its output.
 * Resolves to { child, pid, lines, stop() }; stop() sends SIGTERM, waits, then SIGKILLs.
 */
export async function startProcess(bin, args, { until, timeoutMs = 10_000, env = {}, name } = {}) {
  if (!bin || !existsSync(bin)) {
    throw new Error(`${name ?? 'program'} binary not found: '${bin}' (set the path in the environment)`);
  }
  const label = name ?? bin;
  const child = spawn(bin, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });

  const lines = [];
  const stderr = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s) => {
    // Keep only the tail: enough to explain a failure, bounded for chatty servers.
    stderr.push(s);
    if (stderr.length > 200) stderr.shift();
  });
  const test = typeof until === 'function' ? until : (seen) => until.test(seen[seen.length - 1]);

  const stop = async (graceMs = 3_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const result = await exited;
    clearTimeout(timer);
    return result;
  };
  const describe = () =>
    `${label} (pid ${child.pid})\n--- stdout ---\n${lines.join('\n')}\n--- stderr ---\n${stderr.join('')}`;

  await new Promise((resolve, reject) => {
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        stop(500).finally(() => reject(err));
      } else {
        resolve();
      }
    };
    const timer = setTimeout(
      () => finish(new Error(`${label} not ready within ${timeoutMs} ms\n${describe()}`)),
      timeoutMs,
    );
    child.once('error', (e) => finish(new Error(`${label} failed to start: ${e.message}`)));
    exited.then(({ code, signal }) =>
      finish(new Error(`${label} exited before ready (code ${code}, signal ${signal})\n${describe()}`)),
    );
    // Lines keep being collected after readiness, so a test can look at later output.
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (!done && test(lines)) finish();
    });
  });

  return { child, pid: child.pid, lines, stop, describe };
}

/**
 * Starts kvroute-sim (path from KVROUTE_SIM_BIN unless `bin` is given) and resolves once it has
 * printed "ready instances=N". Returns the process handle plus, per instance, its index, url,
 * preset and model as printed in the "listening" lines.
 */
export async function startSim({
  bin = process.env.KVROUTE_SIM_BIN,
  instances = 2,
  preset = 'tiny',
  speedup = 50,
  extraArgs = [],
  timeoutMs = 10_000,
} = {}) {
  const args = [
    '--instances', String(instances),
    '--port', '0',
    '--host', '127.0.0.1',
    '--preset', preset,
    '--speedup', String(speedup),
    ...extraArgs,
  ];
  const proc = await startProcess(bin, args, {
    until: /^ready instances=\d+/,
    timeoutMs,
    name: 'kvroute-sim',
  });
  const listening = proc.lines
    .map((l) => l.match(/^listening instance=(\d+) url=(\S+) preset=(\S+) model=(\S+)/))
    .filter(Boolean)
    .map(([, index, url, p, model]) => ({ index: Number(index), url, preset: p, model }));
  if (listening.length !== instances) {
    await proc.stop();
    throw new Error(`kvroute-sim announced ${listening.length} instances, expected ${instances}\n${proc.describe()}`);
  }
  listening.sort((a, b) => a.index - b.index);
  return { ...proc, instances: listening };
}
