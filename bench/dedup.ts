/**
 * `npm run bench:dedup`: what dedup saves on a corpus in which a share of the rows (30% by default) repeat an
 * earlier row, and what it costs the API.
 *
 * 1. Throughput: the system (runSystem: a private Redis, the built API, one worker with INFERENCE_THREADS=2)
 *    on the same corpus with dedup on (the default) and off (DEDUP_MAX_TEXTS=0), alternating, `--rounds`
 *    times each, fresh processes for every run. Texts/s and wall seconds from the upload's first byte to
 *    the job's finished_at; the job's counts.deduplicated; the SHA-256 of the NDJSON results, which must be
 *    the same with and without dedup.
 * 2. API memory: `--memory-texts` very short texts (tinyCorpus, nearly all distinct: the index fills to
 *    DEDUP_MAX_TEXTS, its worst case) uploaded to an API with no worker, dedup on and off; the API's peak
 *    RSS (VmHWM) once the job is queued.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { API_NODE_FLAGS, type JobView } from '#shared';
import { generateModels } from '../tools/model-generator/index.js';
import { syntheticCorpus } from '../tools/synthetic-corpus.js';
import { MODEL_ID, tinyCorpus } from './corpus.js';
import { API_ENTRY, freePort, readRss, ROOT, startApp, startRedis } from './processes.js';
import { getJob, itemsBody, postNdjson, runSystem } from './system.js';

const HELP = `npm run bench:dedup -- [flags]
  --texts N            corpus of the throughput runs (default 4000)
  --repeat F           share of rows that repeat an earlier row (default 0.3)
  --rounds N           runs with and without dedup, alternating (default 2 each)
  --dtype D            fp32 or q8 (default fp32: q8 vectors depend on their batch-mates, see the README)
  --memory-texts N     texts of the API memory runs (default 10000000)
  --skip-throughput --skip-memory`;

const { values: flags } = parseArgs({
  options: {
    texts: { type: 'string', default: '4000' },
    repeat: { type: 'string', default: '0.3' },
    rounds: { type: 'string', default: '2' },
    dtype: { type: 'string', default: 'fp32' },
    'memory-texts': { type: 'string', default: '10000000' },
    'skip-throughput': { type: 'boolean', default: false },
    'skip-memory': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}
const positive = (name: string, value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number >= 1, got ${JSON.stringify(value)}`);
  return n;
};
const texts = positive('texts', flags.texts);
const rounds = positive('rounds', flags.rounds);
const memoryTexts = positive('memory-texts', flags['memory-texts']);
const repeat = Number(flags.repeat);
if (!(repeat >= 0 && repeat < 1)) throw new Error(`--repeat must be a share from 0 to below 1, got ${flags.repeat}`);
if (flags.dtype !== 'fp32' && flags.dtype !== 'q8') throw new Error(`--dtype must be fp32 or q8, got ${flags.dtype}`);
const dtype = flags.dtype;
const MODEL_DIR = process.env.MODEL_DIR ?? join(ROOT, '.cache/models');
const OFF = { DEDUP_MAX_TEXTS: '0' };

interface ThroughputRow {
  dedup: boolean;
  seconds: number;
  textsPerSecond: number;
  deduplicated: number;
  /** CPU seconds of the worker and of the API over the run: less swayed than wall time by what else the box runs. */
  workerCpuSeconds: number;
  apiCpuSeconds: number;
  resultsSha256: string;
}

async function throughput(): Promise<ThroughputRow[]> {
  const corpus = () => syntheticCorpus(texts, { seed: 1, repeatShare: repeat });
  const distinct = new Set(Array.from(corpus(), (item) => item.text)).size;
  console.log(`corpus: ${texts} texts, ${texts - distinct} of them repeats (${(((texts - distinct) / texts) * 100).toFixed(1)}%), ${dtype}, ${MODEL_ID}`);
  const rows: ThroughputRow[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternating, starting with the other one each round, so that a drift of the machine's load hits both.
    const order = round % 2 === 0 ? [true, false] : [false, true];
    for (const dedup of order) {
      const run = await runSystem({
        modelDir: MODEL_DIR,
        dtype,
        workers: 1,
        inferenceThreads: 2,
        apiEnv: dedup ? {} : OFF,
        body: itemsBody(corpus),
        count: texts,
        afterJob: async (api, jobId) => {
          const results = Buffer.from(await (await fetch(`${api.baseUrl}/v1/jobs/${jobId}/results`)).arrayBuffer());
          return { job: await getJob(api.baseUrl, jobId), sha256: createHash('sha256').update(results).digest('hex') };
        },
      });
      const after = run.after as { job: JobView; sha256: string };
      if (run.state !== 'completed') throw new Error(`job ended ${run.state}`);
      const row = {
        dedup,
        seconds: run.seconds,
        textsPerSecond: texts / run.seconds,
        deduplicated: after.job.counts.deduplicated,
        workerCpuSeconds: run.cpuSeconds.worker ?? Number.NaN,
        apiCpuSeconds: run.cpuSeconds.api ?? Number.NaN,
        resultsSha256: after.sha256,
      };
      console.log(
        `  dedup ${dedup ? 'on ' : 'off'}: ${row.seconds.toFixed(1)} s, ${row.textsPerSecond.toFixed(1)} texts/s, deduplicated ${row.deduplicated}, ` +
          `worker CPU ${row.workerCpuSeconds.toFixed(1)} s, API CPU ${row.apiCpuSeconds.toFixed(2)} s, results ${row.resultsSha256.slice(0, 16)}`,
      );
      rows.push(row);
    }
  }
  return rows;
}

interface MemoryRow {
  dedup: boolean;
  uploadSeconds: number;
  apiPeakMb: number;
}

async function apiMemory(dedup: boolean): Promise<MemoryRow> {
  const redis = await startRedis();
  const dir = await mkdtemp(join(tmpdir(), 'sw-bench-dedup-'));
  try {
    const port = await freePort();
    const env = { REDIS_URL: redis.url, MODEL_DIR, RESULTS_DIR: join(dir, 'results'), PORT: String(port), ...(dedup ? {} : OFF) };
    const api = await startApp(API_ENTRY, env, port, undefined, API_NODE_FLAGS);
    try {
      const started = Date.now();
      const response = await postNdjson(`${api.baseUrl}/v1/jobs?${new URLSearchParams({ task: 'embed', model: MODEL_ID })}`, itemsBody(() => tinyCorpus(memoryTexts, 1))());
      if (response.status !== 202) throw new Error(`submit failed: ${response.status} ${response.body}`);
      const row = { dedup, uploadSeconds: (Date.now() - started) / 1000, apiPeakMb: (readRss(api.pid, 'VmHWM') ?? Number.NaN) / 1e6 };
      console.log(`  dedup ${dedup ? 'on ' : 'off'}: upload ${row.uploadSeconds.toFixed(1)} s, API peak RSS ${row.apiPeakMb.toFixed(0)} MB`);
      return row;
    } finally {
      await api.stop();
    }
  } finally {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

await generateModels({ out: MODEL_DIR, size: 'minilm', family: ['bert'], head: ['embed'], dtype: ['fp32', 'q8'] });
const report: Record<string, unknown> = { settings: { texts, repeat, rounds, dtype, memoryTexts, node: process.version } };
if (!flags['skip-throughput']) {
  const rows = await throughput();
  const on = rows.filter((row) => row.dedup);
  const off = rows.filter((row) => !row.dedup);
  const identical = new Set(rows.map((row) => row.resultsSha256)).size === 1;
  const speedup = median(on.map((row) => row.textsPerSecond)) / median(off.map((row) => row.textsPerSecond));
  const cpuRatio = median(on.map((row) => row.workerCpuSeconds)) / median(off.map((row) => row.workerCpuSeconds));
  console.log(
    `median texts/s: dedup on ${median(on.map((r) => r.textsPerSecond)).toFixed(1)}, off ${median(off.map((r) => r.textsPerSecond)).toFixed(1)}: x${speedup.toFixed(2)}; ` +
      `worker CPU seconds on/off: ${cpuRatio.toFixed(2)}; results identical with and without dedup: ${identical ? 'yes' : 'NO'}`,
  );
  report.throughput = { rows, speedup, workerCpuRatio: cpuRatio, identical };
}
if (!flags['skip-memory']) {
  console.log(`API memory: ${memoryTexts} short texts, no worker`);
  const rows = [await apiMemory(true), await apiMemory(false)];
  report.memory = rows;
}
await mkdir(join(ROOT, 'bench-results'), { recursive: true });
const file = join(ROOT, 'bench-results', `dedup-${new Date().toISOString().replaceAll(':', '-')}.json`);
await writeFile(file, JSON.stringify(report, null, 2));
console.log(`report: ${file}`);
