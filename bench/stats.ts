/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface CpuSnapshot {
  busy: number;
  total: number;
  /** This process and its reaped children (utime + stime + cutime + cstime), in clock ticks. */
  self: number;
}

export function cpuSnapshot(): CpuSnapshot {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const busy = user + nice + system + irq + softirq + steal;
  const own = readFileSync('/proc/self/stat', 'utf8');
  const after = own
    .slice(own.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  // Fields 14-17 of /proc/<pid>/stat; `after` starts at field 3.
  const self = (after[11] ?? 0) + (after[12] ?? 0) + (after[13] ?? 0) + (after[14] ?? 0);
  return { busy, total: busy + idle + iowait, self };
}

/**
 * Cores that processes outside this benchmark kept busy between two snapshots (on a shared box,
 * other people's test runs). Children count only once they have exited, so take `to` after the
 * measurement's processes are gone.
 */
export function foreignCores(from: CpuSnapshot, to: CpuSnapshot): number {
  const total = to.total - from.total;
  if (total <= 0) return 0;
  return Math.max(0, ((to.busy - from.busy - (to.self - from.self)) / total) * cpus().length);
}

/** Cores busy over `ms` while this process idles: other people's work on a shared box. */
export async function busyCores(ms = 1000): Promise<number> {
  const before = cpuSnapshot();
  await new Promise((r) => setTimeout(r, ms));
  return foreignCores(before, cpuSnapshot());
}

/** Waits (up to `maxSeconds`) until other processes use less than `threshold` cores; returns the last reading. */
export async function waitQuiet(threshold: number, maxSeconds: number): Promise<number> {
  const deadline = Date.now() + maxSeconds * 1000;
  let busy = await busyCores();
  while (busy >= threshold && Date.now() < deadline) busy = await busyCores(2000);
  return busy;
}

export interface QuietOptions {
  /** A measurement during which other processes kept more than this many cores busy is repeated. */
  maxOther: number;
  /** Repeats at most. */
  retries: number;
  /** Before each attempt, wait up to this many seconds for the box to be quiet. */
  quietWait: number;
  log: (line: string) => void;
}

/**
 * Runs `work` and returns its result with the cores other processes kept busy meanwhile. On a
 * shared box a disturbed measurement (over maxOther) is repeated, after waiting for quiet, up to
 * `retries` times; the least disturbed attempt wins.
 */
export async function measureQuietly<T>(work: () => Promise<T>, options: QuietOptions): Promise<{ value: T; otherCores: number; attempts: number }> {
  let best: { value: T; otherCores: number } | undefined;
  let attempts = 0;
  for (;;) {
    if (options.quietWait > 0) {
      const busy = await waitQuiet(options.maxOther / 2, options.quietWait);
      if (busy >= options.maxOther / 2) options.log(`  (the box is busy: other processes use ${busy.toFixed(2)} cores; measuring anyway)`);
    }
    const before = cpuSnapshot();
    const value = await work();
    const otherCores = foreignCores(before, cpuSnapshot());
    attempts++;
    if (!best || otherCores < best.otherCores) best = { value, otherCores };
    if (otherCores <= options.maxOther || attempts > options.retries) return { ...best, attempts };
    options.log(`  (other processes used ${otherCores.toFixed(2)} cores during that measurement; repeating)`);
  }
}
