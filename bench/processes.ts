/**
 * Process plumbing for the end-to-end measurements: a private redis-server and the built API and
 * workers on free loopback ports (tools/processes.ts, shared with the tests), and an RSS sampler
 * that reads VmRSS from /proc/<pid>/status.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { freePort, startApp as startChild, startRedis, type AppProcess } from '../tools/processes.js';

export { freePort, startRedis };
export type AppProc = AppProcess;

export const ROOT = resolve(import.meta.dirname, '../..');
export const API_ENTRY = resolve(ROOT, 'dist/apps/api/src/main.js');
export const WORKER_ENTRY = resolve(ROOT, 'dist/apps/worker/src/main.js');

/**
 * Starts the built API or worker (logging warnings only unless `env` says otherwise) and waits until
 * its /readyz answers 200 (workers: models loaded and warm). `nodeArgs` go before the entry: flags
 * NODE_OPTIONS refuses, such as --cpu-prof.
 */
export function startApp(entry: string, env: Record<string, string>, port: number, readyTimeoutMs = 180_000, nodeArgs: readonly string[] = []): Promise<AppProc> {
  return startChild(entry, { LOG_LEVEL: 'warn', ...env }, port, { cwd: ROOT, readyTimeoutMs, nodeArgs });
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
