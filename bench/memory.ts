/**
 * The memory part of `npm run bench`: for each corpus size, a job of very short texts (3-10 words:
 * the corpus size is what matters here) is uploaded while no worker runs, so Redis is read with the
 * whole job queued; then one worker starts and its RSS is sampled while it processes. Criteria (see
 * bench/README.md): Redis grows at most 50 MB for a queued 10,000,000-text job, the API's peak RSS
 * is flat (at most x1.25 from the smallest to the largest corpus), and so is the worker's.
 */
import { corpusItems } from './corpus.js';
import { fmt, lpad, mb, pad } from './report.js';
import { percentile } from './stats.js';
import { itemsBody, runSystem, type SystemRun } from './system.js';

export interface MemoryOptions {
  modelDir: string;
  dtype: 'fp32' | 'q8';
  sizes: number[];
  /** Sizes up to this run to completion; larger ones stop `seconds` after the worker was ready. */
  fullMax: number;
  seconds: number;
  seed: number;
  workerEnv: Record<string, string>;
  /** Runs one measurement, repeated when the box was disturbed (run.ts `watched`). */
  watched: <T>(work: () => Promise<T>) => Promise<{ value: T; otherCores: number }>;
}

/** The issue's budget for the Redis growth of a queued 10,000,000-text job. */
const REDIS_BUDGET_BYTES = 50 * 2 ** 20;
const REDIS_BUDGET_TEXTS = 10_000_000;
/** "Flat": at most this growth of a peak from the smallest to the largest corpus. */
const FLAT_RATIO = 1.25;

interface MemoryRun {
  texts: number;
  completed: boolean;
  textsDone: number;
  processingSeconds: number;
  otherCores: number;
  redisQueued: { before: number; after: number; growth: number; bytesPerText: number; bytesPerShard: number; shards: number };
  run: SystemRun;
}

const verdict = (met: boolean): string => (met ? 'met' : 'NOT MET');

export async function measureMemory(options: MemoryOptions): Promise<Record<string, unknown>> {
  console.log(
    `\n== memory, ${options.dtype}: Redis used_memory of a queued job (no worker running yet), then peak RSS (VmRSS sampled every 200 ms) ` +
      `of the API, the worker (2 threads), Redis and this bench (the client); very short texts (3-10 words), generated while uploading ==`,
  );
  const runs: MemoryRun[] = [];
  for (const count of options.sizes) {
    const full = count <= options.fullMax;
    const { value: run, otherCores } = await options.watched(() =>
      runSystem({
        modelDir: options.modelDir,
        dtype: options.dtype,
        workers: 1,
        inferenceThreads: 2,
        workerEnv: options.workerEnv,
        body: itemsBody(() => corpusItems({ kind: 'tiny', count, seed: options.seed })),
        count,
        sampleRss: true,
        workersAfterUpload: true,
        processSeconds: full ? undefined : options.seconds,
        timeoutMs: 3 * 60 * 60_000,
        log: (line) => console.log(`    ${line}`),
      }),
    );
    const before = run.redis.beforeUpload.usedMemory;
    const after = run.redis.accepted.usedMemory;
    const shards = run.shards.total;
    const m: MemoryRun = {
      texts: count,
      completed: !run.partial,
      textsDone: run.partial ? run.partial.textsDone : run.counts.succeeded + run.counts.failed,
      processingSeconds: run.processingSeconds,
      otherCores,
      redisQueued: { before, after, growth: after - before, bytesPerText: (after - before) / count, bytesPerShard: (after - before) / shards, shards },
      run,
    };
    runs.push(m);
    printRun(m, options.seconds);
  }
  const summary = summarize(runs);
  return { runs, ...summary };
}

function printRun(m: MemoryRun, seconds: number): void {
  const { run, redisQueued: q } = m;
  console.log(
    `  ${fmt(m.texts)} texts: upload ${fmt(run.uploadSeconds, 1)} s (${fmt(m.texts / run.uploadSeconds)} texts/s), worker ready ${fmt(run.workerStartSeconds, 1)} s later, ` +
      `then ${fmt(m.textsDone)} texts in ${fmt(m.processingSeconds, 1)} s${run.partial ? ` (stopped after ${seconds} s, job cancelled)` : ` (${run.state})`}; other ${fmt(m.otherCores, 2)} cores`,
  );
  console.log(
    `    redis queued job: used_memory ${mb(q.before)} before the upload, ${mb(q.after)} once accepted: +${fmt(q.growth / 2 ** 20, 1)} MB, ` +
      `${fmt(q.bytesPerText, 1)} bytes per text, ${fmt(q.bytesPerShard)} bytes per shard (${fmt(q.shards)} shards)`,
  );
  const rss = run.rss ?? {};
  const phase = (name: string, p: string) => rss[name]?.byPhase[p];
  const cell = (bytes: number | undefined) => lpad(bytes === undefined ? '-' : mb(bytes), 8);
  for (const name of ['api', 'worker', 'redis', 'bench']) {
    const s = rss[name];
    if (!s) continue;
    console.log(
      `    ${pad(name, 7)} first ${cell(s.first)}   peak during upload ${cell(phase(name, 'upload'))}   queued ${cell(phase(name, 'queued'))}   processing ${cell(phase(name, 'processing'))}` +
        `   peak ${cell(s.peak)} (kernel VmHWM ${s.kernelPeak === null ? '-' : mb(s.kernelPeak)})`,
    );
  }
}

function summarize(runs: MemoryRun[]) {
  const out: Record<string, unknown> = {};
  if (runs.length === 0) return out;
  // Redis: the 10M-text job when measured, otherwise the largest run's bytes per text scaled to 10M.
  const largest = runs.reduce((a, b) => (b.texts > a.texts ? b : a));
  const measured = runs.find((r) => r.texts === REDIS_BUDGET_TEXTS);
  const redisAt10M = measured ? measured.redisQueued.growth : largest.redisQueued.bytesPerText * REDIS_BUDGET_TEXTS;
  out.redis = { growthAt10M: redisAt10M, measured: measured !== undefined, budget: REDIS_BUDGET_BYTES, met: redisAt10M <= REDIS_BUDGET_BYTES };
  console.log(
    `  Redis growth for a queued ${fmt(REDIS_BUDGET_TEXTS)}-text job: ${fmt(redisAt10M / 2 ** 20, 1)} MB` +
      `${measured ? '' : ` (projected from the ${fmt(largest.texts)}-text run)`}; criterion <= 50 MB: ${verdict(redisAt10M <= REDIS_BUDGET_BYTES)}`,
  );
  if (runs.length >= 2) {
    const smallest = runs.reduce((a, b) => (b.texts < a.texts ? b : a));
    for (const name of ['api', 'worker'] as const) {
      // The kernel's VmHWM catches a peak between two 200 ms samples.
      const peakOf = (r: MemoryRun) => Math.max(r.run.rss?.[name]?.peak ?? 0, r.run.rss?.[name]?.kernelPeak ?? 0);
      const ratio = peakOf(largest) / peakOf(smallest);
      out[name] = { peaks: runs.map((r) => ({ texts: r.texts, peak: peakOf(r) })), ratio, criterion: FLAT_RATIO, met: ratio <= FLAT_RATIO };
      console.log(
        `  ${name === 'api' ? 'API' : 'worker'} peak RSS (highest sample or VmHWM) ${runs.map((r) => `${mb(peakOf(r))} at ${fmt(r.texts)}`).join(', ')} texts: ` +
          `x${fmt(ratio, 2)} for x${fmt(largest.texts / smallest.texts)} the corpus; flat (criterion <= x${FLAT_RATIO}): ${verdict(ratio <= FLAT_RATIO)}`,
      );
    }
  }
  // Within the largest upload: a leak grows with the texts read, garbage-collection swings do not.
  const series = largest.run.rssSeries?.api;
  const upload = largest.run.uploadSeconds;
  if (series && upload > 4) {
    const medianIn = (from: number, to: number) => {
      const values = series
        .filter(([t]) => t >= from * upload && t < to * upload)
        .map(([, v]) => v)
        .sort((x, y) => x - y);
      return values.length === 0 ? null : percentile(values, 0.5);
    };
    const quarters = [0, 1, 2, 3].map((q) => medianIn(q / 4, (q + 1) / 4));
    out.apiUploadQuarters = quarters;
    console.log(
      `  API RSS during the ${fmt(largest.texts)}-text upload, median per quarter: ${quarters.map((v) => (v === null ? '-' : mb(v))).join(' / ')} ` +
        `(the upload ends by enqueueing the ${fmt(largest.run.shards.total)} shards, after the corpus was read)`,
    );
  }
  return out;
}
