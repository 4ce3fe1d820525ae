/**
 * Process plumbing for the end-to-end measurements, mirroring test/support (redis-server.ts,
 * app-process.ts): a private redis-server, the built API and workers on free loopback ports, and an
 * RSS sampler that reads VmRSS from /proc/<pid>/status.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../tools/free-port.js';

export { freePort };

export const ROOT = resolve(import.meta.dirname, '../..');
export const API_ENTRY = resolve(ROOT, 'dist/apps/api/src/main.js');
export const WORKER_ENTRY = resolve(ROOT, 'dist/apps/worker/src/main.js');

export interface Proc {
  process: ChildProcess;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

function track(child: ChildProcess): { output(): string } {
  let log = '';
  const keep = (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { output: () => log };
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface RedisProc extends Proc {
  url: string;
}

export async function startRedis(): Promise<RedisProc> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'sw-bench-redis-'));
  const bin = process.env.REDIS_SERVER_BIN ?? 'redis-server';
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { output } = track(child);
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined); // refused until the server listens; connect() reports it
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
    process: child,
    pid: child.pid!,
    url,
    output,
    async stop() {
      await stopChild(child, 'SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface AppProc extends Proc {
  baseUrl: string;
}

/**
 * Starts the built API or worker and waits until its /readyz answers 200 (workers: models loaded and
 * warm). `nodeArgs` go before the entry: flags NODE_OPTIONS refuses, such as --cpu-prof.
 */
export async function startApp(entry: string, env: Record<string, string>, port: number, readyTimeoutMs = 180_000, nodeArgs: readonly string[] = []): Promise<AppProc> {
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { output } = track(child);
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
  return { process: child, pid: child.pid!, baseUrl, output, stop: () => stopChild(child) };
}

/** Resident set size in bytes (VmRSS; VmHWM for the kernel's own peak), or null once the process is gone. */
export function readRss(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system, all threads) a process has used so far, or null once it is gone. */
export function readCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat (11 and 12 after the command name).
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
/** USER_HZ; 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

export interface RssSummary {
  /** First sample (the process idle, after startup). */
  first: number;
  /** Highest sample. */
  peak: number;
  /** Highest sample per phase (see RssSampler.mark). */
  byPhase: Record<string, number>;
  samples: number;
  /** VmHWM when sampling stopped: the kernel's lifetime peak, which a 200 ms sampler can miss. */
  kernelPeak: number | null;
}

/** Samples VmRSS of each named pid every `intervalMs`; `mark(phase)` labels the samples that follow. */
export class RssSampler {
  private readonly started = performance.now();
  private readonly series = new Map<string, Array<{ t: number; rss: number; phase: string }>>();
  private phase = 'start';
  private readonly timer: NodeJS.Timeout;
  private readonly hwm = new Map<string, number>();
  private readonly pids: Record<string, number>;

  constructor(pids: Record<string, number>, intervalMs = 200) {
    this.pids = { ...pids };
    for (const name of Object.keys(pids)) this.series.set(name, []);
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Starts sampling a process that started after the sampler (workers started once a job is queued). */
  add(name: string, pid: number): void {
    this.pids[name] = pid;
    if (!this.series.has(name)) this.series.set(name, []);
    this.sample();
  }

  mark(phase: string): void {
    this.phase = phase;
    this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
    for (const [name, pid] of Object.entries(this.pids)) {
      const hwm = readRss(pid, 'VmHWM');
      if (hwm !== null) this.hwm.set(name, hwm);
    }
  }

  /** Peak per process overall and per phase, in bytes, plus the first sample (idle, after startup). */
  summary(): Record<string, RssSummary> {
    const out: Record<string, RssSummary> = {};
    for (const [name, points] of this.series) {
      const byPhase: Record<string, number> = {};
      for (const p of points) byPhase[p.phase] = Math.max(byPhase[p.phase] ?? 0, p.rss);
      const peak = points.reduce((m, p) => Math.max(m, p.rss), 0);
      out[name] = { first: points[0]?.rss ?? 0, peak, byPhase, samples: points.length, kernelPeak: this.hwm.get(name) ?? null };
    }
    return out;
  }

  /** Downsampled series (at most `max` points per process) for the JSON report. */
  downsampled(max = 300): Record<string, Array<[number, number]>> {
    const out: Record<string, Array<[number, number]>> = {};
    for (const [name, points] of this.series) {
      const step = Math.max(1, Math.ceil(points.length / max));
      out[name] = points.filter((_, i) => i % step === 0).map((p) => [Math.round(p.t * 10) / 10, p.rss]);
    }
    return out;
  }

  private sample(): void {
    const t = (performance.now() - this.started) / 1000;
    for (const [name, pid] of Object.entries(this.pids)) {
      const rss = readRss(pid);
      if (rss !== null) this.series.get(name)!.push({ t, rss, phase: this.phase });
    }
  }
}
