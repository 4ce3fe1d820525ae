/**
 * `npm run bench [-- flags]`: throughput of this system against the alternatives, on this machine,
 * in one run. See bench/README.md for what each measurement is and how to read the output.
 */
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { paddedTokens, planBatchesMinPadding } from '../libs/models/src/batch-plan.js';
import { generateModels } from '../tools/model-generator/index.js';
import { workerEnvSchema } from '#shared';
import { corpusItems, corpusTexts, MAX_TOKENS, MODEL_ID, sum, tokenizeCorpus, type CorpusSpec } from './corpus.js';
import { keyValues, list, positiveInt, quietFlagOptions, quietOptionsOf } from './flags.js';
import { inChild } from './in-child.js';
import type { Dtype, InProcessSpec, Measurement } from './in-process.js';
import type { LimitConfig } from './ort-limit.js';
import { ROOT } from './processes.js';
import { measureMemory } from './memory.js';
import { describeMachine, fmt, lpad, machineInfo, pad, writeReport } from './report.js';
import { measureQuietly, percentile } from './stats.js';
import { itemsBody, runSystem, type SystemRun } from './system.js';

const HELP = `npm run bench -- [flags]

  --texts N              corpus size for limit, engine, system and scaling (default 10000)
  --dtype LIST           fp32,q8 (default both)
  --seed N               corpus seed (default 1)
  --naive-texts N        texts for 1 (naive), first N of the corpus (default 300)
  --typical-texts N      texts for 2 (typical), first N of the corpus (default 1000)
  --typical-batch N      batch size of 2 (default 32)
  --limit-configs LIST   raw-ORT configurations THREADSxINTRAOPxBUDGETxMAXBATCH (default
                         2x1x512x256,2x1x1024x256,2x1x2048x256,1x2x1024x256)
  --sweep-texts N        try every limit configuration on the first N texts, run the fastest on the
                         whole corpus (default 2000; 0 runs every configuration on the whole corpus)
  --worker-env LIST      extra worker env for 4 and scaling, e.g. MAX_BATCH_TOKENS=1024,MAX_BATCH_SIZE=128
  --scaling-dtype D      dtype of the 1 -> 2 worker-process scaling runs (default q8)
  --memory-texts LIST    corpus sizes of the memory runs (default 100000,1000000,10000000)
  --memory-full-max N    memory runs up to N texts run to completion; larger ones stop
                         --memory-seconds after the worker was ready (default 100000)
  --memory-seconds S     (default 60)
  --memory-dtype D       (default q8)
  --skip-naive --skip-typical --skip-limit --skip-engine --skip-system --skip-scaling --skip-memory
  --max-other C          a measurement during which other processes kept more than C cores busy is
                         repeated (default 0.15; the box may be shared)
  --retries N            repeats at most (default 2); the least disturbed attempt is reported
  --quiet-wait S         before each measurement, wait up to S seconds for the box to be quiet (default 60)
  --out DIR              report folder (default bench-results)
`;

const { values: flags } = parseArgs({
  options: {
    texts: { type: 'string', default: '10000' },
    dtype: { type: 'string', default: 'fp32,q8' },
    seed: { type: 'string', default: '1' },
    'naive-texts': { type: 'string', default: '300' },
    'typical-texts': { type: 'string', default: '1000' },
    'typical-batch': { type: 'string', default: '32' },
    'limit-configs': { type: 'string', default: '2x1x512x256,2x1x1024x256,2x1x2048x256,1x2x1024x256' },
    'sweep-texts': { type: 'string', default: '2000' },
    'worker-env': { type: 'string', default: '' },
    'scaling-dtype': { type: 'string', default: 'q8' },
    'memory-texts': { type: 'string', default: '100000,1000000,10000000' },
    'memory-full-max': { type: 'string', default: '100000' },
    'memory-seconds': { type: 'string', default: '60' },
    'memory-dtype': { type: 'string', default: 'q8' },
    'skip-naive': { type: 'boolean', default: false },
    'skip-typical': { type: 'boolean', default: false },
    'skip-limit': { type: 'boolean', default: false },
    'skip-engine': { type: 'boolean', default: false },
    'skip-system': { type: 'boolean', default: false },
    'skip-scaling': { type: 'boolean', default: false },
    'skip-memory': { type: 'boolean', default: false },
    ...quietFlagOptions({ retries: 2, quietWait: 60 }),
  },
});
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}

function dtypeOf(name: string, value: string): Dtype {
  if (value !== 'fp32' && value !== 'q8') throw new Error(`--${name}: dtype must be fp32 or q8, got ${JSON.stringify(value)}`);
  return value;
}
function limitConfig(text: string): LimitConfig {
  const parts = text.split('x').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--limit-configs: "${text}" is not THREADSxINTRAOPxBUDGETxMAXBATCH`);
  const [threads, intraOpThreads, maxBatchTokens, maxBatchSize] = parts as [number, number, number, number];
  return { threads, intraOpThreads, maxBatchTokens, maxBatchSize };
}

const opts = {
  texts: positiveInt('texts', flags.texts),
  dtypes: list(flags.dtype).map((d) => dtypeOf('dtype', d)),
  seed: positiveInt('seed', flags.seed, true),
  naiveTexts: positiveInt('naive-texts', flags['naive-texts']),
  typicalTexts: positiveInt('typical-texts', flags['typical-texts']),
  typicalBatch: positiveInt('typical-batch', flags['typical-batch']),
  limitConfigs: list(flags['limit-configs']).map(limitConfig),
  sweepTexts: positiveInt('sweep-texts', flags['sweep-texts'], true),
  workerEnv: keyValues('worker-env', flags['worker-env']),
  scalingDtype: dtypeOf('scaling-dtype', flags['scaling-dtype']),
  memoryTexts: list(flags['memory-texts']).map((v) => positiveInt('memory-texts', v)),
  memoryFullMax: positiveInt('memory-full-max', flags['memory-full-max']),
  memorySeconds: positiveInt('memory-seconds', flags['memory-seconds']),
  memoryDtype: dtypeOf('memory-dtype', flags['memory-dtype']),
  skip: {
    naive: flags['skip-naive'],
    typical: flags['skip-typical'],
    limit: flags['skip-limit'],
    engine: flags['skip-engine'],
    system: flags['skip-system'],
    scaling: flags['skip-scaling'],
    memory: flags['skip-memory'],
  },
  ...quietOptionsOf(flags),
  out: resolve(ROOT, flags.out),
};
if (opts.limitConfigs.length === 0) throw new Error('--limit-configs is empty');

const MODEL_DIR = process.env.MODEL_DIR ?? join(ROOT, '.cache/models');
/** The worker's batch limits: the app's env defaults (libs/shared env.schema.ts) plus --worker-env. */
const WORKER = workerEnvSchema.parse({ ...opts.workerEnv, MODEL_DIR });

// ---------------------------------------------------------------------------------------------- rows

interface Row {
  key: string;
  label: string;
  texts: number;
  tokens: number;
  paddedTokens: number | null;
  seconds: number;
  textsPerSecond: number;
  tokensPerSecond: number;
  /** padded / real tokens. */
  padding: number | null;
  /** Cores that other processes on the box kept busy during the measurement. */
  otherCores: number;
  note: string;
  detail?: unknown;
}

function row(key: string, label: string, m: { texts: number; tokens: number; paddedTokens: number | null; seconds: number }, otherCores: number, note = '', detail?: unknown): Row {
  return {
    key,
    label,
    texts: m.texts,
    tokens: m.tokens,
    paddedTokens: m.paddedTokens,
    seconds: m.seconds,
    textsPerSecond: m.texts / m.seconds,
    tokensPerSecond: m.tokens / m.seconds,
    padding: m.paddedTokens === null ? null : m.paddedTokens / m.tokens,
    otherCores,
    note,
    detail,
  };
}

function printRow(r: Row): void {
  console.log(
    `  ${pad(r.label, 52)}${lpad(fmt(r.texts), 8)}${lpad(fmt(r.textsPerSecond, 1), 10)}${lpad(fmt(r.tokensPerSecond), 11)}` +
      `${lpad(r.padding === null ? '-' : fmt(r.padding, 2), 9)}${lpad(fmt(r.seconds, 1), 9)}${lpad(fmt(r.otherCores, 2), 8)}  ${r.note}`,
  );
}
const HEADER = `  ${pad('', 52)}${lpad('texts', 8)}${lpad('texts/s', 10)}${lpad('tokens/s', 11)}${lpad('pad/real', 9)}${lpad('seconds', 9)}${lpad('other', 8)}`;

/** Where the box's CPU went during a system run: engine work vs everything else. */
function cpuBreakdown(run: SystemRun): string {
  const entries = Object.entries(run.cpuSeconds);
  const total = entries.reduce((a, [, v]) => a + v, 0);
  const stages = run.workerStages;
  const engine = stages
    ? `; engine thread-seconds: inference ${fmt(stages.inference ?? 0, 1)}, tokenize ${fmt(stages.tokenize ?? 0, 1)}, result writing ${fmt(stages.write ?? 0, 1)} (wall)`
    : '';
  return `CPU seconds during the job: ${entries.map(([k, v]) => `${k} ${fmt(v, 1)}`).join(', ')} (${fmt(total, 1)} of ${fmt(run.seconds * cpus().length, 1)} available)${engine}`;
}

// ----------------------------------------------------------------------------------------- running

/** Runs `work`, repeated when other processes disturbed it (see measureQuietly and --max-other). */
const watched = <T>(work: () => Promise<T>) =>
  measureQuietly(work, { maxOther: opts.maxOther, retries: opts.retries, quietWait: opts.quietWait, log: (line) => console.log(line) });

const started = new Date();
const report: Record<string, unknown> = {};
const corpus = (count: number): CorpusSpec => ({ count, seed: opts.seed, kind: 'mixed' });

async function main(): Promise<void> {
  const machine = machineInfo();
  console.log(`shardwise bench, ${started.toISOString()}`);
  console.log(`machine: ${describeMachine(machine)}`);
  await generateModels({ out: MODEL_DIR, size: 'minilm', family: ['bert'], head: ['embed'], dtype: ['fp32', 'q8'] });
  console.log(`model: ${MODEL_ID} (random weights, all-MiniLM-L6-v2 shape: 6 layers, hidden 384, max ${MAX_TOKENS} tokens) in ${MODEL_DIR}`);

  const texts = corpusTexts(corpus(opts.texts));
  const tok = await tokenizeCorpus(MODEL_DIR, texts);
  const sortedLengths = Array.from(tok.lengths).sort((a, b) => a - b);
  const words = texts.map((t) => (t === '' ? 0 : t.split(' ').length));
  const corpusStats = {
    texts: texts.length,
    seed: opts.seed,
    tokens: sum(tok.lengths),
    meanTokens: sum(tok.lengths) / texts.length,
    p50Tokens: percentile(sortedLengths, 0.5),
    p95Tokens: percentile(sortedLengths, 0.95),
    truncated: tok.truncated,
    shortShare: words.filter((w) => w >= 5 && w <= 60).length / texts.length,
    paragraphShare: words.filter((w) => w >= 80 && w < 700).length / texts.length,
    overLimitShare: words.filter((w) => w >= 700).length / texts.length,
    emptyShare: words.filter((w) => w === 0).length / texts.length,
  };
  report.machine = machine;
  report.options = { ...opts, out: undefined };
  report.corpus = corpusStats;
  console.log(
    `corpus: ${fmt(texts.length)} synthetic texts (seed ${opts.seed}): ${fmt(corpusStats.shortShare * 100, 1)}% of 5-60 words, ${fmt(corpusStats.paragraphShare * 100, 1)}% paragraphs ` +
      `(80-200 words), ${fmt(corpusStats.overLimitShare * 100, 1)}% over the limit (700-900 words), ${fmt(corpusStats.emptyShare * 100, 1)}% empty; ` +
      `${fmt(corpusStats.meanTokens, 1)} tokens per text on average (p50 ${corpusStats.p50Tokens}, p95 ${corpusStats.p95Tokens}), ${tok.truncated} truncated to ${MAX_TOKENS}`,
  );
  console.log(
    `worker settings for 4: INFERENCE_THREADS=2 INTRA_OP_THREADS=1 WORKER_CONCURRENCY=${WORKER.WORKER_CONCURRENCY} MAX_BATCH_TOKENS=${WORKER.MAX_BATCH_TOKENS} ` +
      `MAX_BATCH_SIZE=${WORKER.MAX_BATCH_SIZE}${Object.keys(opts.workerEnv).length > 0 ? ` (--worker-env ${flags['worker-env']})` : ' (app defaults)'}; API SHARD_MAX_TEXTS default (512)`,
  );
  console.log(`"other" = CPU cores that processes outside this benchmark kept busy during the measurement (a shared box skews figures when it is high).`);

  const results: Record<string, Row[]> = {};
  const systems: Record<string, SystemRun> = {};
  const targets: Record<string, unknown> = {};
  // Memory-only runs (every per-dtype part skipped) print no empty per-dtype tables.
  const perDtype = !(opts.skip.naive && opts.skip.typical && opts.skip.limit && opts.skip.engine && opts.skip.system);
  for (const dtype of perDtype ? opts.dtypes : []) {
    console.log(`\n== ${dtype} ==`);
    console.log(HEADER);
    const rows: Row[] = [];
    results[dtype] = rows;
    const add = (r: Row): void => {
      rows.push(r);
      printRow(r);
    };

    if (!opts.skip.naive) {
      const n = Math.min(opts.naiveTexts, opts.texts);
      const { value, otherCores } = await watched(() => inChild({ kind: 'naive', modelDir: MODEL_DIR, dtype, corpus: corpus(n) }));
      add(row('naive', '1 naive: pipeline(), one text per call', value, otherCores, `first ${fmt(n)} texts`));
    }
    if (!opts.skip.typical) {
      const n = Math.min(opts.typicalTexts, opts.texts);
      const { value, otherCores } = await watched(() => inChild({ kind: 'typical', modelDir: MODEL_DIR, dtype, corpus: corpus(n), batchSize: opts.typicalBatch }));
      add(row('typical', `2 typical: pipeline(), batches of ${opts.typicalBatch} in corpus order`, value, otherCores, `first ${fmt(n)} texts`));
    }
    if (!opts.skip.limit) {
      // The limit runs the same file the system's worker runs (with q8, rewritten per token unless Q8_MODE=dynamic).
      const q8File = WORKER.Q8_MODE === 'per-token' ? 'per-token' : 'exported';
      let configs = opts.limitConfigs;
      let sweep: Measurement | undefined;
      if (opts.sweepTexts > 0 && configs.length > 1 && opts.sweepTexts < opts.texts) {
        const { value } = await watched(() => inChild({ kind: 'limit', modelDir: MODEL_DIR, dtype, corpus: corpus(opts.sweepTexts), configs, q8File }));
        sweep = value;
        const runs = (value.detail as { runs: Array<LimitConfig & { textsPerSecond: number }> }).runs;
        console.log(
          `  (limit sweep on the first ${fmt(opts.sweepTexts)} texts: ${runs.map((r) => `${r.threads}x${r.intraOpThreads} threads, budget ${r.maxBatchTokens}/${r.maxBatchSize}: ${fmt(r.textsPerSecond, 1)}/s`).join('; ')})`,
        );
        configs = [(value.detail as { best: LimitConfig }).best];
      }
      const { value, otherCores } = await watched(() => inChild({ kind: 'limit', modelDir: MODEL_DIR, dtype, corpus: corpus(opts.texts), configs, q8File }));
      const best = (value.detail as { best: LimitConfig }).best;
      add(
        row(
          'limit',
          dtype === 'q8' && q8File === 'per-token' ? '3 limit: raw onnxruntime-node, sorted batches, q8 per token' : '3 limit: raw onnxruntime-node, sorted batches',
          value,
          otherCores,
          `${best.threads} threads x ${best.intraOpThreads} intra-op, budget ${best.maxBatchTokens} tokens / ${best.maxBatchSize} texts; tokenization excluded`,
          {
            ...value.detail,
            sweep: sweep?.detail,
          },
        ),
      );
      if (dtype === 'q8' && q8File === 'per-token') {
        // The file as exported (one activation scale per batch): what the per-token rewrite costs the limit.
        const exported = await watched(() => inChild({ kind: 'limit', modelDir: MODEL_DIR, dtype, corpus: corpus(opts.texts), configs: [best], q8File: 'exported' }));
        add(
          row('limit-exported', '3e limit: as 3, the q8 file as exported', exported.value, exported.otherCores, 'Q8_MODE=dynamic: batch-dependent results', exported.value.detail),
        );
      }
    }
    if (!opts.skip.engine) {
      const spec: InProcessSpec = {
        kind: 'engine',
        modelDir: MODEL_DIR,
        dtype,
        corpus: corpus(opts.texts),
        threads: 2,
        maxBatchTokens: WORKER.MAX_BATCH_TOKENS,
        maxBatchSize: WORKER.MAX_BATCH_SIZE,
        shardSize: 512,
        concurrency: WORKER.WORKER_CONCURRENCY,
      };
      const { value, otherCores } = await watched(() => inChild(spec));
      add(
        row(
          'engine',
          '   engine alone: InferencePool, 512-text shards',
          value,
          otherCores,
          `2 threads, ${WORKER.WORKER_CONCURRENCY} shards in flight, tokenization included`,
          value.detail,
        ),
      );
    }
    if (!opts.skip.system) {
      const { value: run, otherCores } = await watched(() =>
        runSystem({
          modelDir: MODEL_DIR,
          dtype,
          workers: 1,
          inferenceThreads: 2,
          workerEnv: opts.workerEnv,
          body: itemsBody(() => corpusItems(corpus(opts.texts))),
          count: opts.texts,
          readShardRanges: true,
        }),
      );
      systems[dtype] = run;
      if (run.state !== 'completed') throw new Error(`system run ended ${run.state}`);
      // Padded tokens: the worker's own counter (shardwise_worker_inference_tokens_total) when it has one;
      // otherwise each shard's batch plan replayed with the engine's planner and the worker's limits.
      const limits = { maxBatchTokens: WORKER.MAX_BATCH_TOKENS, maxBatchSize: WORKER.MAX_BATCH_SIZE };
      const replayed = (run.shardRanges ?? []).reduce((total, s) => total + paddedTokens(planBatchesMinPadding(tok.lengths.subarray(s.start, s.start + s.count), limits)), 0);
      const padded = run.workerTokens ? run.workerTokens.real + run.workerTokens.padding : replayed;
      if (run.workerTokens && run.workerTokens.real + run.workerTokens.padding !== replayed) {
        console.log(`  note: the worker counted ${fmt(padded)} padded tokens, replaying its plan gives ${fmt(replayed)}`);
      }
      const lat = run.shardSeconds;
      add(
        row(
          'system',
          '4 system: HTTP -> Redis -> worker (2 threads)',
          { texts: run.texts, tokens: run.tokensProcessed, paddedTokens: padded, seconds: run.seconds },
          otherCores,
          `upload ${fmt(run.uploadSeconds, 1)} s; ${run.shards.total} shards, latency p50 ${lat ? fmt(lat.p50, 2) : '-'} s, p95 ${lat ? fmt(lat.p95, 2) : '-'} s`,
          { ...run, shardRanges: undefined },
        ),
      );
      console.log(`     ${cpuBreakdown(run)}`);
      const tl = run.shardTimeline;
      if (tl) {
        console.log(
          `     timeline: first shard picked up ${fmt(tl.firstPickup, 2)} s after the upload began, last finished at ${fmt(tl.lastFinish, 2)} s (job finished_at ${fmt(run.seconds, 2)} s); ` +
            `shards in flight: ${tl.inFlight.map((v, n) => `${n}: ${fmt(v, 1)} s`).join(', ')}`,
        );
      }
      if (run.tokensProcessed !== corpusStats.tokens)
        console.log(`  note: the job counted ${fmt(run.tokensProcessed)} tokens, the bench's tokenization ${fmt(corpusStats.tokens)}`);
    }

    const get = (key: string) => rows.find((r) => r.key === key);
    const [typical, limit, system] = [get('typical'), get('limit'), get('system')];
    const verdict: Record<string, unknown> = {};
    if (system && typical) {
      const ratio = system.textsPerSecond / typical.textsPerSecond;
      verdict.systemOverTypical = { ratio, tokensRatio: system.tokensPerSecond / typical.tokensPerSecond, target: 3, met: ratio >= 3 };
      console.log(`  4/2 = ${fmt(ratio, 2)}x texts/s (${fmt(system.tokensPerSecond / typical.tokensPerSecond, 2)}x tokens/s); target >= 3: ${ratio >= 3 ? 'MET' : 'NOT MET'}`);
    }
    if (system && limit) {
      const ratio = system.textsPerSecond / limit.textsPerSecond;
      verdict.systemOverLimit = { ratio, tokensRatio: system.tokensPerSecond / limit.tokensPerSecond, target: 0.85, met: ratio >= 0.85 };
      console.log(`  4/3 = ${fmt(ratio, 3)} texts/s (${fmt(system.tokensPerSecond / limit.tokensPerSecond, 3)} tokens/s); target >= 0.85: ${ratio >= 0.85 ? 'MET' : 'NOT MET'}`);
    }
    const exported = get('limit-exported');
    if (limit && exported) console.log(`  3/3e = ${fmt(limit.textsPerSecond / exported.textsPerSecond, 3)} (the per-token rewrite's cost at the limit)`);
    if (system && exported) console.log(`  4/3e = ${fmt(system.textsPerSecond / exported.textsPerSecond, 3)} (the system against the exported file's limit)`);
    const engine = get('engine');
    if (engine && limit) console.log(`  engine/3 = ${fmt(engine.textsPerSecond / limit.textsPerSecond, 3)} (the engine's share of the limit without queue and HTTP)`);
    targets[dtype] = verdict;
  }
  report.results = results;
  report.targets = targets;

  if (!opts.skip.scaling) {
    const dtype = opts.scalingDtype;
    console.log(`\n== scaling, ${dtype}: 1 -> 2 worker processes, INFERENCE_THREADS=1 each (same ${fmt(opts.texts)}-text corpus) ==`);
    console.log(HEADER);
    const scaling: Row[] = [];
    for (const workers of [1, 2]) {
      const { value: run, otherCores } = await watched(() =>
        runSystem({
          modelDir: MODEL_DIR,
          dtype,
          workers,
          inferenceThreads: 1,
          workerEnv: opts.workerEnv,
          body: itemsBody(() => corpusItems(corpus(opts.texts))),
          count: opts.texts,
        }),
      );
      if (run.state !== 'completed') throw new Error(`scaling run ended ${run.state}`);
      const lat = run.shardSeconds;
      const r = row(
        `workers-${workers}`,
        `${workers} worker process${workers > 1 ? 'es' : ''} x 1 inference thread`,
        { texts: run.texts, tokens: run.tokensProcessed, paddedTokens: null, seconds: run.seconds },
        otherCores,
        `shard latency p50 ${lat ? fmt(lat.p50, 2) : '-'} s, p95 ${lat ? fmt(lat.p95, 2) : '-'} s`,
        { ...run, shardRanges: undefined },
      );
      scaling.push(r);
      printRow(r);
    }
    const [one, two] = scaling as [Row, Row];
    const reference = results[dtype]?.find((r) => r.key === 'system');
    console.log(
      `  scaling 1 -> 2 processes: ${fmt(two.textsPerSecond / one.textsPerSecond, 2)}x${reference ? `; 1 process x 2 threads (4 above): ${fmt(reference.textsPerSecond, 1)} texts/s` : ''}`,
    );
    report.scaling = { dtype, rows: scaling, speedup: two.textsPerSecond / one.textsPerSecond };
  }

  if (!opts.skip.memory) {
    report.memory = await measureMemory({
      modelDir: MODEL_DIR,
      dtype: opts.memoryDtype,
      sizes: opts.memoryTexts,
      fullMax: opts.memoryFullMax,
      seconds: opts.memorySeconds,
      seed: opts.seed,
      workerEnv: opts.workerEnv,
      watched,
    });
  }

  const file = writeReport(opts.out, started, report);
  console.log(`\ndone in ${fmt((Date.now() - started.getTime()) / 60_000, 1)} min; report: ${file}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
