/**
 * Child processes for the tests (test/support) and the benchmarks (bench/): a private redis-server
 * and the built API or worker on free loopback ports, each with its log kept in memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

export { freePort };

/** The last 100-200 kB a child wrote to stdout and stderr. */
function keepOutput(child: ChildProcess): () => string {
  let log = '';
  const keep = (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => log;
}

/** Sends a signal and waits for the exit (SIGKILL after `graceMs`); the exit code, null after a signal. */
async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

export interface RedisHandle {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  pid: number;
  output(): string;
  /** Kills it (SIGKILL; a second stop is a no-op) and removes its folder unless the caller gave it. */
  stop(): Promise<void>;
}

/** A private, real redis-server on loopback (never a mock: BullMQ needs real Lua). */
export async function startRedis(options: { appendonly?: boolean; dir?: string; port?: number; replicaOf?: number } = {}): Promise<RedisHandle> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'sw-redis-')));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--maxmemory-policy', 'noeviction'];
  args.push(...(options.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
  if (options.replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(options.replicaOf));
  const child = spawn(process.env.REDIS_SERVER_BIN ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = keepOutput(child);
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined); // refused connections are expected until the server listens
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      break;
    } catch {
      probe.disconnect();
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}:\n${output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    port,
    dir,
    process: child,
    pid: child.pid as number,
    output,
    async stop() {
      await stopChild(child, 'SIGKILL', 0);
      if (!options.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface AppProcess {
  process: ChildProcess;
  pid: number;
  baseUrl: string;
  output(): string;
  /** Sends a signal (SIGTERM by default) and waits for the exit; SIGKILL cannot be caught, which is the point of some tests. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartAppOptions {
  /** The folder it runs in (the repository root). */
  cwd: string;
  readyTimeoutMs?: number;
  /** Node flags before the entry, e.g. API_NODE_FLAGS, or --cpu-prof (which NODE_OPTIONS refuses). */
  nodeArgs?: readonly string[];
}

/** Starts the built API or worker (`entry`) with only PATH, HOME and `env`, and waits until its /readyz answers 200 (workers: models loaded and warm). */
export async function startApp(entry: string, env: Record<string, string>, port: number, options: StartAppOptions): Promise<AppProcess> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), entry], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = keepOutput(child);
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}:\n${output()}`);
    try {
      if ((await fetch(`${baseUrl}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${entry} not ready after ${readyTimeoutMs} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { process: child, pid: child.pid as number, baseUrl, output, stop: (signal = 'SIGTERM') => stopChild(child, signal, 60_000) };
}
