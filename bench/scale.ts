/**
 * `npm run bench:scale [-- flags]`: the control plane's ceiling. The real API, a private Redis, the
 * object store and N worker processes with the noop engine (INFERENCE_ENGINE=noop-test-only: fixed
 * 384-value vectors, no model), so what is measured is everything but inference: upload, sharding,
 * BullMQ, store reads, result objects, counting. Per configuration (worker processes x
 * SHARD_MAX_TEXTS): end-to-end texts/s, Redis commands and bytes per million texts, and the CPU
 * each process used; then the download rate of the last job's results. See bench/README.md.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { get } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateModels } from '../tools/model-generator/index.js';
import { ndjsonChunks } from '#shared';
import { corpusItems, MODEL_ID } from './corpus.js';
import { keyValues, list, positiveInt, quietFlagOptions, quietOptionsOf } from './flags.js';
import { readCpuSeconds, ROOT, type AppProc } from './processes.js';
import { redisDelta, type RedisDelta } from './redis-info.js';
import { describeMachine, fmt, lpad, machineInfo, mb, pad, writeReport } from './report.js';
import { measureQuietly, percentile } from './stats.js';
import { runSystem, type SystemRun } from './system.js';

const HELP = `npm run bench:scale -- [flags]

  --texts N            corpus size: very short texts, 3-10 words (default 1000000)
  --configs LIST       WORKERSxSHARD_MAX_TEXTS per run (default 1x2048,2x512,2x2048,2x8192,4x2048)
  --worker-env LIST    extra worker env, K=V,... (e.g. WORKER_CONCURRENCY=4)
  --api-env LIST       extra API env, K=V,...
  --worker-node-args=S node flags of each worker, space-separated, e.g. to profile:
                       --worker-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof-worker" (a .cpuprofile
                       per process at exit; the = is needed since the value starts with --)
  --api-node-args=S    the same for the API
  --repeat N           run each configuration N times in turn, and compare configurations by their
                       median (default 1; throughput on a shared VM varies by 20-30% between runs)
  --skip-download      do not download the last job's results
  --seed N             corpus seed (default 1)
  --max-other C        repeat a run during which other processes kept more than C cores busy (default 0.15)
  --retries N          repeats at most (default 1)
  --quiet-wait S       before each run, wait up to S seconds for the box to be quiet (default 30)
  --out DIR            report folder (default bench-results)
`;

/** The issue's target for this box: texts per second from the upload's first byte to finished_at. */
const TARGET_TEXTS_PER_SECOND = 100_000;
const MILLION = 1_000_000;

const { values: flags } = parseArgs({
  options: {
    texts: { type: 'string', default: '1000000' },
    configs: { type: 'string', default: '1x2048,2x512,2x2048,2x8192,4x2048' },
    'worker-env': { type: 'string', default: '' },
    'api-env': { type: 'string', default: '' },
    'worker-node-args': { type: 'string', default: '' },
    'api-node-args': { type: 'string', default: '' },
    repeat: { type: 'string', default: '1' },
    'skip-download': { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
    ...quietFlagOptions({ retries: 1, quietWait: 30 }),
  },
});
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}

interface ScaleConfig {
  workers: number;
  shardMaxTexts: number;
}

function scaleConfig(text: string): ScaleConfig {
  const parts = text.split('x').map(Number);
  const [workers = NaN, shardMaxTexts = NaN] = parts;
  if (parts.length !== 2 || !Number.isInteger(workers) || !Number.isInteger(shardMaxTexts) || workers < 1 || shardMaxTexts < 1) {
    throw new Error(`--configs: "${text}" is not WORKERSxSHARD_MAX_TEXTS (two positive integers, e.g. 2x2048)`);
  }
  return { workers, shardMaxTexts };
}

const opts = {
  texts: positiveInt('texts', flags.texts),
  configs: list(flags.configs).map(scaleConfig),
  workerEnv: keyValues('worker-env', flags['worker-env']),
  apiEnv: keyValues('api-env', flags['api-env']),
  workerNodeArgs: flags['worker-node-args'].split(' ').filter((a) => a !== ''),
  apiNodeArgs: flags['api-node-args'].split(' ').filter((a) => a !== ''),
  repeat: positiveInt('repeat', flags.repeat),
  skipDownload: flags['skip-download'],
  seed: positiveInt('seed', flags.seed, true),
  ...quietOptionsOf(flags),
  out: resolve(ROOT, flags.out),
};
if (opts.configs.length === 0) throw new Error('--configs is empty');

const MODEL_DIR = process.env.MODEL_DIR ?? join(ROOT, '.cache/models');
const NOOP_ENGINE = { INFERENCE_ENGINE: 'noop-test-only', SHARDWISE_ALLOW_NOOP_ENGINE: '1' };

// -------------------------------------------------------------------------------------- downloads

interface Download {
  format: 'ndjson' | 'f32';
  bytes: number;
  seconds: number;
  /** NDJSON: lines received; f32: X-Item-Count. */
  items: number;
  textsPerSecond: number;
  /** CPU seconds of the API and of this process (the client reading the body) during the download. */
  cpuSeconds: { api: number; bench: number };
}

/** Reads GET /v1/jobs/:id/results to the end over node:http (cheaper for the client than fetch), counting bytes and lines. */
async function download(api: AppProc, jobId: string, format: 'ndjson' | 'f32'): Promise<Download> {
  const apiBefore = readCpuSeconds(api.pid) ?? 0;
  const benchBefore = process.cpuUsage();
  const started = performance.now();
  const { bytes, lines, itemCount } = await new Promise<{ bytes: number; lines: number; itemCount: number }>((done, fail) => {
    get(`${api.baseUrl}/v1/jobs/${jobId}/results?format=${format}`, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail(new Error(`GET results?format=${format}: ${res.statusCode}`));
        return;
      }
      let bytes = 0;
      let lines = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (format === 'ndjson') for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
      });
      res.on('end', () => done({ bytes, lines, itemCount: Number(res.headers['x-item-count'] ?? NaN) }));
      res.on('error', fail);
    }).on('error', fail);
  });
  const seconds = (performance.now() - started) / 1000;
  const bench = process.cpuUsage(benchBefore);
  const items = format === 'ndjson' ? lines : itemCount;
  return {
    format,
    bytes,
    seconds,
    items,
    textsPerSecond: items / seconds,
    cpuSeconds: { api: (readCpuSeconds(api.pid) ?? NaN) - apiBefore, bench: (bench.user + bench.system) / 1e6 },
  };
}

// ---------------------------------------------------------------------------------------- one run

interface ScaleResult {
  config: ScaleConfig;
  otherCores: number;
  attempts: number;
  texts: number;
  shards: number;
  seconds: number;
  textsPerSecond: number;
  shardsPerSecond: number;
  uploadSeconds: number;
  processingSeconds: number;
  /** Redis INFO differences over the whole job, the upload (the API enqueueing) and the processing (the workers); printed per million texts. */
  redis: { job: RedisDelta; upload: RedisDelta; processing: RedisDelta };
  /** CPU seconds during the job; `workers` summed over worker processes; `apiUpload` the API during the upload alone. */
  cpuSeconds: { api: number; apiUpload: number; redis: number; workers: number; bench: number };
  /** Seconds per stage summed over shards and workers (shardwise_worker_stage_seconds_sum); `queue` is waiting, not work. */
  workerStages: Record<string, number>;
  downloads?: Download[];
  run: SystemRun;
}

async function runConfig(config: ScaleConfig, body: () => AsyncIterable<Uint8Array>, withDownloads: boolean): Promise<ScaleResult> {
  const {
    value: run,
    otherCores,
    attempts,
  } = await measureQuietly(
    () =>
      runSystem({
        modelDir: MODEL_DIR,
        workers: config.workers,
        workerEnv: { ...NOOP_ENGINE, ...opts.workerEnv },
        apiEnv: { SHARD_MAX_TEXTS: String(config.shardMaxTexts), ...opts.apiEnv },
        apiNodeArgs: opts.apiNodeArgs,
        workerNodeArgs: opts.workerNodeArgs,
        body,
        count: opts.texts,
        timeoutMs: 30 * 60_000,
        afterJob: withDownloads ? async (api, jobId) => [await download(api, jobId, 'f32'), await download(api, jobId, 'ndjson')] : undefined,
      }),
    { maxOther: opts.maxOther, retries: opts.retries, quietWait: opts.quietWait, log: (line) => console.log(line) },
  );
  if (run.state !== 'completed' || run.counts.succeeded !== opts.texts)
    throw new Error(`run ${config.workers}x${config.shardMaxTexts} ended ${run.state} with counts ${JSON.stringify(run.counts)}`);
  const cpu = run.cpuSeconds;
  const workers = Object.entries(cpu)
    .filter(([name]) => name.startsWith('worker'))
    .reduce((sum, [, v]) => sum + v, 0);
  return {
    config,
    otherCores,
    attempts,
    texts: run.texts,
    shards: run.shards.total,
    seconds: run.seconds,
    textsPerSecond: run.texts / run.seconds,
    shardsPerSecond: run.shards.total / run.seconds,
    uploadSeconds: run.uploadSeconds,
    processingSeconds: run.processingSeconds,
    redis: {
      job: redisDelta(run.redis.beforeUpload, run.redis.end),
      upload: redisDelta(run.redis.beforeUpload, run.redis.accepted),
      processing: redisDelta(run.redis.accepted, run.redis.end),
    },
    cpuSeconds: { api: cpu.api ?? NaN, apiUpload: run.uploadCpuSeconds.api ?? NaN, redis: cpu.redis ?? NaN, workers, bench: cpu.bench ?? NaN },
    workerStages: run.workerStages ?? {},
    downloads: run.after as Download[] | undefined,
    run: { ...run, rssSeries: undefined },
  };
}

// --------------------------------------------------------------------------------------- printing

const HEADER = `  ${pad('workers x SHARD_MAX_TEXTS', 27)}${lpad('texts/s', 10)}${lpad('shards/s', 10)}${lpad('seconds', 9)}${lpad('upload s', 10)}${lpad('(texts/s)', 11)}${lpad('process s', 11)}${lpad('(texts/s)', 11)}${lpad('other', 7)}`;

function printResult(r: ScaleResult): void {
  const perMillion = (n: number) => (n * MILLION) / r.texts;
  console.log(
    `  ${pad(`${r.config.workers} x ${fmt(r.config.shardMaxTexts)} (${fmt(r.shards)} shards)`, 27)}${lpad(fmt(r.textsPerSecond), 10)}${lpad(fmt(r.shardsPerSecond, 1), 10)}${lpad(fmt(r.seconds, 1), 9)}` +
      `${lpad(fmt(r.uploadSeconds, 1), 10)}${lpad(fmt(r.texts / r.uploadSeconds), 11)}${lpad(fmt(r.processingSeconds, 1), 11)}${lpad(fmt(r.texts / r.processingSeconds), 11)}${lpad(fmt(r.otherCores, 2), 7)}`,
  );
  const { job, upload, processing } = r.redis;
  const top = Object.entries(job.calls)
    .slice(0, 6)
    .map(([command, n]) => `${command} ${fmt(perMillion(n))}`)
    .join(', ');
  console.log(
    `     Redis per 1M texts: ${fmt(perMillion(job.commands))} commands (upload ${fmt(perMillion(upload.commands))}, processing ${fmt(perMillion(processing.commands))}; ${top}), ` +
      `in ${fmt(perMillion(job.netInputBytes) / 2 ** 20, 1)} MB, out ${fmt(perMillion(job.netOutputBytes) / 2 ** 20, 1)} MB; ${fmt(perMillion(r.cpuSeconds.redis), 2)} CPU s`,
  );
  const c = r.cpuSeconds;
  const stages = ['read', 'write', 'tokenize', 'inference'].map((s) => `${s} ${fmt(r.workerStages[s] ?? 0, 1)}`).join(', ');
  console.log(
    `     CPU s during the job: api ${fmt(c.api, 1)} (upload ${fmt(c.apiUpload, 1)}), redis ${fmt(c.redis, 1)}, workers ${fmt(c.workers, 1)}, bench ${fmt(c.bench, 1)} ` +
      `of ${fmt(r.seconds * cpus().length, 1)} available; worker stage seconds (wall, summed over shards in flight): ${stages}`,
  );
}

function printDownloads(r: ScaleResult): void {
  for (const d of r.downloads ?? []) {
    const expected =
      d.format === 'ndjson' ? `${fmt(d.items)} lines` : `${fmt(d.items)} rows, ${d.bytes === d.items * 384 * 4 ? 'bytes = rows x 384 x 4' : 'BYTES DO NOT MATCH rows x 384 x 4'}`;
    console.log(
      `  ${pad(d.format, 7)} ${lpad(mb(d.bytes), 10)} in ${lpad(fmt(d.seconds, 1), 6)} s: ${lpad(fmt(d.textsPerSecond), 9)} texts/s (${fmt(d.bytes / 2 ** 20 / d.seconds)} MB/s); ` +
        `API ${fmt(d.cpuSeconds.api, 1)} CPU s (${fmt((d.cpuSeconds.api * MILLION) / d.items, 1)} per 1M texts), client ${fmt(d.cpuSeconds.bench, 1)}; ${expected}`,
    );
  }
}

// ------------------------------------------------------------------------------------------- main

async function writeCorpus(file: string): Promise<number> {
  const out = createWriteStream(file);
  for await (const chunk of ndjsonChunks(corpusItems({ kind: 'tiny', count: opts.texts, seed: opts.seed }), 256 * 1024)) {
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return (await stat(file)).size;
}

async function main(): Promise<void> {
  const started = new Date();
  const machine = machineInfo();
  console.log(`shardwise bench:scale, ${started.toISOString()}`);
  console.log(`machine: ${describeMachine(machine)}`);
  await generateModels({ out: MODEL_DIR, size: 'minilm', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
  const temp = await mkdtemp(join(tmpdir(), 'sw-scale-'));
  try {
    const corpusFile = join(temp, 'corpus.ndjson');
    const corpusBytes = await writeCorpus(corpusFile);
    // Written once before any clock starts and streamed from the file, so the client costs little CPU.
    const body = () => createReadStream(corpusFile, { highWaterMark: 256 * 1024 });
    console.log(
      `corpus: ${fmt(opts.texts)} very short texts (3-10 words, seed ${opts.seed}), ${mb(corpusBytes)} of NDJSON; model ${MODEL_ID} described by MODEL_DIR (384 dimensions), ` +
        `workers run INFERENCE_ENGINE=noop-test-only (fixed vectors, no inference)${Object.keys(opts.workerEnv).length ? `, --worker-env ${flags['worker-env']}` : ''}` +
        `${Object.keys(opts.apiEnv).length ? `, --api-env ${flags['api-env']}` : ''}` +
        `${opts.workerNodeArgs.length ? `, worker node args ${opts.workerNodeArgs.join(' ')}` : ''}${opts.apiNodeArgs.length ? `, API node args ${opts.apiNodeArgs.join(' ')}` : ''}`,
    );
    console.log(`texts/s: from the upload's first byte to the job's finished_at (results downloadable); "other" = cores other processes kept busy meanwhile.`);
    console.log(HEADER);
    const results: ScaleResult[] = [];
    // Rounds of every configuration rather than N runs in a row: a slow spell of the box spreads over all of them.
    const plan = Array.from({ length: opts.repeat }, () => opts.configs).flat();
    for (const [i, config] of plan.entries()) {
      const result = await runConfig(config, body, !opts.skipDownload && i === plan.length - 1);
      results.push(result);
      printResult(result);
    }
    const summary = opts.configs.map((config) => {
      const rates = results
        .filter((r) => r.config === config)
        .map((r) => r.textsPerSecond)
        .sort((a, b) => a - b);
      return { config, median: percentile(rates, 0.5), min: rates[0] as number, max: rates.at(-1) as number, runs: rates.length };
    });
    if (opts.repeat > 1) {
      console.log(`  median of ${opts.repeat} runs (min - max), texts/s end to end:`);
      for (const c of summary) console.log(`    ${pad(`${c.config.workers} x ${fmt(c.config.shardMaxTexts)}`, 14)}${lpad(fmt(c.median), 9)} (${fmt(c.min)} - ${fmt(c.max)})`);
    }
    const best = summary.reduce((a, b) => (b.median > a.median ? b : a));
    const met = best.median >= TARGET_TEXTS_PER_SECOND;
    console.log(
      `  best: ${fmt(best.median)} texts/s end to end${opts.repeat > 1 ? ' (median)' : ''} (${best.config.workers} x ${fmt(best.config.shardMaxTexts)}); ` +
        `target >= ${fmt(TARGET_TEXTS_PER_SECOND)} texts/s on this ${cpus().length}-core box: ${met ? 'MET' : 'NOT MET'}`,
    );
    const last = results.at(-1);
    if (last?.downloads) {
      console.log(`\n== results download, last job (${last.config.workers} x ${fmt(last.config.shardMaxTexts)}), one client over loopback ==`);
      printDownloads(last);
    }
    const file = writeReport(
      opts.out,
      started,
      {
        kind: 'bench:scale',
        machine,
        options: { ...opts, out: undefined },
        corpusBytes,
        target: { textsPerSecond: TARGET_TEXTS_PER_SECOND, best: best.median, config: best.config, met },
        summary,
        results,
      },
      '-scale',
    );
    console.log(`\ndone in ${fmt((Date.now() - started.getTime()) / 60_000, 1)} min; report: ${file}`);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
