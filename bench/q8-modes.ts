/**
 * `npm run bench:q8 [-- flags]`: what batch-independent q8 (Q8_MODE=per-token, the default) costs
 * against the exported file (Q8_MODE=dynamic) and fp32, in one run: the engine's speed, how far a
 * text's vector moves between being embedded alone and inside batches, and agreement with fp32.
 * Speed is the engine on one 512-text shard at a time (the pool's threads share its batches).
 * See bench/README.md, "q8: per-token against dynamic".
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InferencePool, type InferencePoolOptions, type Q8Mode } from '#models';
import { BATCH_DEFAULTS } from '#shared';
import { generateModels } from '../tools/model-generator/index.js';
import { corpusTexts, MODEL_ID } from './corpus.js';
import { positiveInt } from './flags.js';
import { describeMachine, fmt, lpad, machineInfo, pad, writeReport } from './report.js';
import { ROOT } from './processes.js';

const HELP = `npm run bench:q8 -- [flags]

  --texts N         corpus for the speed runs (default 2000)
  --rounds N        speed rounds over the corpus; modes take turns shard by shard (default 3)
  --check-texts N   texts embedded alone and in batches, and compared with fp32 (default 1000)
  --threads N       inference threads per pool (default 2)
  --seed N          corpus seed (default 1)
  --out DIR         report folder (default bench-results)
`;

const { values: flags } = parseArgs({
  options: {
    texts: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    'check-texts': { type: 'string', default: '1000' },
    threads: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench-results' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}
const opts = {
  texts: positiveInt('texts', flags.texts),
  rounds: positiveInt('rounds', flags.rounds),
  checkTexts: positiveInt('check-texts', flags['check-texts']),
  threads: positiveInt('threads', flags.threads),
  seed: positiveInt('seed', flags.seed),
};

const MODEL_DIR = process.env.MODEL_DIR ?? join(ROOT, '.cache/models');

type Mode = 'fp32' | `q8 ${Q8Mode}`;
const MODES: readonly Mode[] = ['fp32', 'q8 dynamic', 'q8 per-token'];
const SHARD = 512;

function poolOptions(mode: Mode): InferencePoolOptions {
  const batch = BATCH_DEFAULTS.cpu;
  return {
    threads: opts.threads,
    intraOpThreads: 1,
    device: 'cpu',
    dtype: mode === 'fp32' ? 'fp32' : 'q8',
    q8Mode: mode === 'q8 dynamic' ? 'dynamic' : 'per-token',
    modelDir: MODEL_DIR,
    maxBatchTokens: batch.tokens,
    maxBatchSize: batch.texts,
  };
}

async function embed(pool: InferencePool, texts: string[]): Promise<Float32Array[]> {
  const { results } = await pool.encode({ modelId: MODEL_ID, task: 'embed', texts, options: {} });
  return results.map((r, i) => {
    if (!r.ok || !('embedding' in r)) throw new Error(`text ${i} failed: ${JSON.stringify(r)}`);
    return r.embedding;
  });
}

/**
 * Seconds each mode spends on the same shards. Modes take turns shard by shard (order rotated),
 * so load from other processes, which comes and goes in bursts, falls on all modes alike.
 */
async function interleaved(texts: string[], poolOf: (mode: Mode) => InferencePool): Promise<Map<Mode, number>> {
  const seconds = new Map<Mode, number>(MODES.map((m) => [m, 0]));
  for (let i = 0, turn = 0; i < texts.length; i += SHARD, turn++) {
    const shard = texts.slice(i, i + SHARD);
    for (let k = 0; k < MODES.length; k++) {
      const mode = MODES[(turn + k) % MODES.length] as Mode;
      const started = performance.now();
      await embed(poolOf(mode), shard);
      seconds.set(mode, (seconds.get(mode) ?? 0) + (performance.now() - started) / 1000);
    }
  }
  return seconds;
}

const maxAbs = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - (b[i] as number))), 0);
const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * (b[i] as number), 0);

const started = new Date();
const machine = machineInfo();
console.log(`q8 modes, ${describeMachine(machine)}`);
await generateModels({ out: MODEL_DIR, size: 'minilm', family: ['bert'], head: ['embed'], dtype: ['fp32', 'q8'] });

const pools = new Map<Mode, InferencePool>();
try {
  for (const mode of MODES) {
    const pool = new InferencePool(poolOptions(mode));
    await pool.start();
    await pool.load(MODEL_ID, 'embed');
    pools.set(mode, pool);
  }
  const poolOf = (mode: Mode): InferencePool => pools.get(mode) as InferencePool;

  const speedTexts = corpusTexts({ count: opts.texts, seed: opts.seed, kind: 'mixed' });
  await interleaved(speedTexts.slice(0, 64), poolOf); // warm-up, untimed
  const rates = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  for (let round = 0; round < opts.rounds; round++) {
    const seconds = await interleaved(speedTexts, poolOf);
    for (const mode of MODES) rates.get(mode)?.push(opts.texts / (seconds.get(mode) as number));
    console.log(`round ${round + 1}: ${MODES.map((m) => `${m} ${fmt(rates.get(m)?.at(-1) ?? 0, 1)}`).join(', ')} texts/s`);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

  // Batch independence and agreement with fp32, on a mixed corpus (empty, over-long, emoji, CJK texts included).
  const checkTexts = corpusTexts({ count: opts.checkTexts, seed: opts.seed + 1, kind: 'mixed' });
  const batched = new Map<Mode, Float32Array[]>();
  const aloneVsBatch = new Map<Mode, number>();
  for (const mode of MODES) {
    const inBatches = await embed(poolOf(mode), checkTexts);
    batched.set(mode, inBatches);
    let max = 0;
    for (const [i, text] of checkTexts.entries()) {
      const [alone] = await embed(poolOf(mode), [text]);
      max = Math.max(max, maxAbs(alone as Float32Array, inBatches[i] as Float32Array));
    }
    aloneVsBatch.set(mode, max);
  }
  const fp32 = batched.get('fp32') as Float32Array[];
  const agreement = (mode: Mode) => {
    const vectors = batched.get(mode) as Float32Array[];
    const cosines = vectors.map((v, i) => dot(v, fp32[i] as Float32Array));
    return {
      minCosine: Math.min(...cosines),
      meanCosine: cosines.reduce((s, c) => s + c, 0) / cosines.length,
      maxAbsDiff: Math.max(...vectors.map((v, i) => maxAbs(v, fp32[i] as Float32Array))),
    };
  };

  // Ratios are taken round by round (both modes saw the same load), then their median.
  const versusDynamic = (mode: Mode): number[] => (rates.get(mode) ?? []).map((rate, i) => rate / ((rates.get('q8 dynamic') ?? [])[i] as number));
  const rows = MODES.map((mode) => ({
    mode,
    textsPerSecond: median(rates.get(mode) ?? []),
    perRound: rates.get(mode),
    versusDynamic: median(versusDynamic(mode)),
    aloneVsBatchMaxAbsDiff: aloneVsBatch.get(mode),
    ...(mode === 'fp32' ? {} : agreement(mode)),
  }));
  console.log(`\n${opts.texts} texts x ${opts.rounds} rounds (median), ${opts.threads} inference threads; ${opts.checkTexts} texts alone vs in batches`);
  console.log(`${pad('mode', 14)}${lpad('texts/s', 9)}${lpad('vs dynamic*', 12)}${lpad('alone vs batch', 16)}${lpad('min cos fp32', 14)}${lpad('max |d| fp32', 14)}`);
  for (const r of rows) {
    const quality =
      r.minCosine === undefined || r.maxAbsDiff === undefined
        ? `${lpad('-', 14)}${lpad('-', 14)}`
        : `${lpad(r.minCosine.toFixed(6), 14)}${lpad(r.maxAbsDiff.toExponential(2), 14)}`;
    console.log(
      `${pad(r.mode, 14)}${lpad(fmt(r.textsPerSecond, 1), 9)}${lpad(r.versusDynamic.toFixed(3), 12)}${lpad((r.aloneVsBatchMaxAbsDiff ?? 0).toExponential(2), 16)}${quality}`,
    );
  }
  const perRoundCost = versusDynamic('q8 per-token');
  console.log('* median of the round-by-round ratios to q8 dynamic');
  console.log(`per-token / dynamic, round by round: ${perRoundCost.map((r) => r.toFixed(3)).join(', ')}`);
  const file = writeReport(flags.out, started, { kind: 'q8-modes', machine, options: opts, rows, perRoundCost }, '-q8-modes');
  console.log(`report: ${file}`);
} finally {
  await Promise.all([...pools.values()].map((pool) => pool.close()));
}
