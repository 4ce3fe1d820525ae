/** Printing and the JSON report, shared by the bench entry points (run.ts, scale.ts). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './processes.js';

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const mb = (bytes: number): string => `${fmt(bytes / 2 ** 20)} MB`;
export const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
export const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

const versionOf = (pkg: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

export function machineInfo() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memory: totalmem(),
    node: process.version,
    onnxruntimeNode: versionOf('onnxruntime-node'),
    transformers: versionOf('@huggingface/transformers'),
    loadavgAtStart: loadavg(),
  };
}

export function describeMachine(machine: ReturnType<typeof machineInfo>): string {
  return `${machine.cpus} x ${machine.cpuModel}, ${mb(machine.memory)}, node ${machine.node}, onnxruntime-node ${machine.onnxruntimeNode}, transformers.js ${machine.transformers}; load average ${machine.loadavgAtStart.map((l) => l.toFixed(2)).join(' ')}`;
}

/** Writes `report` (plus start, end and load average) to `<dir>/<started>[-suffix].json`; returns the path. */
export function writeReport(dir: string, started: Date, report: Record<string, unknown>, suffix = ''): string {
  const finished = new Date();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${started.toISOString().replace(/[:.]/g, '-')}${suffix}.json`);
  writeFileSync(file, JSON.stringify({ ...report, startedAt: started.toISOString(), finishedAt: finished.toISOString(), loadavgAtEnd: loadavg() }, null, 2));
  return file;
}
