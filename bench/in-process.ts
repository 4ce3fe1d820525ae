/**
 * The in-process measurements (1 naive, 2 typical, 3 limit, and the engine alone). Each runs in a
 * fresh child process (child.ts) so one measurement's ONNX sessions and spinning thread pools
 * cannot slow the next.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from '@huggingface/transformers';
import { InferencePool, type Device, type PoolDtype } from '#models';
import { toPerTokenQuantization } from '../libs/models/src/per-token-quantization.js';
import { corpusTexts, MODEL_ID, paddedInOrder, sum, tokenizeCorpus, useLocalModels, type CorpusSpec } from './corpus.js';
import { measureLimit, type LimitConfig } from './ort-limit.js';

export type Dtype = 'fp32' | 'q8';

export type InProcessSpec =
  | { kind: 'naive'; modelDir: string; dtype: Dtype; corpus: CorpusSpec }
  | { kind: 'typical'; modelDir: string; dtype: Dtype; corpus: CorpusSpec; batchSize: number }
  /** `q8File`: with dtype q8, `per-token` runs the file rewritten as the worker loads it by default (Q8_MODE=per-token), `exported` the file as it is. */
  | { kind: 'limit'; modelDir: string; dtype: Dtype; corpus: CorpusSpec; configs: LimitConfig[]; q8File?: 'per-token' | 'exported' }
  | {
      kind: 'engine';
      modelDir: string;
      dtype: PoolDtype;
      corpus: CorpusSpec;
      threads: number;
      maxBatchTokens: number;
      maxBatchSize: number;
      shardSize: number;
      concurrency: number;
      /** cpu unless set (bench/device.ts runs webgpu and cuda). */
      device?: Device;
      intraOpThreads?: number;
    };

export interface Measurement {
  texts: number;
  /** Real (non-pad) tokens after truncation to 512. */
  tokens: number;
  /** Tokens the model computed, padding included. */
  paddedTokens: number;
  seconds: number;
  /** Free-form details (configuration, per-config sweep results). */
  detail?: Record<string, unknown>;
}

export function modelPath(modelDir: string, dtype: Dtype): string {
  return resolve(modelDir, MODEL_ID, 'onnx', dtype === 'q8' ? 'model_quantized.onnx' : 'model.onnx');
}

/** The q8 file rewritten to per-token activation scales (what the worker runs by default), in a temporary folder. */
function perTokenFile(modelDir: string): string {
  const { bytes } = toPerTokenQuantization(MODEL_ID, readFileSync(modelPath(modelDir, 'q8')));
  const file = join(mkdtempSync(join(tmpdir(), 'shardwise-bench-q8-')), 'model_quantized.per-token.onnx');
  writeFileSync(file, bytes);
  return file;
}

/** transformers.js pipeline, used the way its README shows; ONNX Runtime's default threading. */
async function measurePipeline(spec: Extract<InProcessSpec, { kind: 'naive' | 'typical' }>): Promise<Measurement> {
  const texts = corpusTexts(spec.corpus);
  const tok = await tokenizeCorpus(spec.modelDir, texts);
  useLocalModels(spec.modelDir);
  const extractor = await pipeline('feature-extraction', MODEL_ID, { dtype: spec.dtype, device: 'cpu' });
  const options = { pooling: 'mean', normalize: true } as const;
  // Warm-up, untimed.
  await extractor(texts.slice(0, 2), options);
  const started = performance.now();
  if (spec.kind === 'naive') {
    for (const text of texts) await extractor(text, options);
  } else {
    for (let i = 0; i < texts.length; i += spec.batchSize) await extractor(texts.slice(i, i + spec.batchSize), options);
  }
  const seconds = (performance.now() - started) / 1000;
  await extractor.dispose();
  const tokens = sum(tok.lengths);
  const paddedTokens = spec.kind === 'naive' ? tokens : paddedInOrder(tok.lengths, spec.batchSize);
  return { texts: texts.length, tokens, paddedTokens, seconds, detail: spec.kind === 'typical' ? { batchSize: spec.batchSize } : {} };
}

/** Every configuration on the corpus; the fastest is the result, the others are reported alongside. */
async function measureLimits(spec: Extract<InProcessSpec, { kind: 'limit' }>): Promise<Measurement> {
  const texts = corpusTexts(spec.corpus);
  const tok = await tokenizeCorpus(spec.modelDir, texts);
  const indices = Array.from({ length: texts.length }, (_, i) => i);
  const path = spec.dtype === 'q8' && spec.q8File === 'per-token' ? perTokenFile(spec.modelDir) : modelPath(spec.modelDir, spec.dtype);
  const runs = [];
  for (const config of spec.configs) runs.push(await measureLimit(path, tok, indices, config));
  const best = runs.reduce((a, b) => (b.texts / b.seconds > a.texts / a.seconds ? b : a));
  return {
    texts: best.texts,
    tokens: best.tokens,
    paddedTokens: best.paddedTokens,
    seconds: best.seconds,
    detail: {
      best: best.config,
      runs: runs.map((r) => ({ ...r.config, textsPerSecond: r.texts / r.seconds, paddedTokens: r.paddedTokens, batches: r.batches, seconds: r.seconds })),
    },
  };
}

/**
 * The engine alone, the way the worker drives it: one encode() per shard of `shardSize` texts,
 * `concurrency` shards in flight. Tokenization is included (it runs on the inference threads).
 */
async function measureEngine(spec: Extract<InProcessSpec, { kind: 'engine' }>): Promise<Measurement> {
  const texts = corpusTexts(spec.corpus);
  const pool = new InferencePool({
    threads: spec.threads,
    intraOpThreads: spec.intraOpThreads ?? 1,
    device: spec.device ?? 'cpu',
    dtype: spec.dtype,
    modelDir: spec.modelDir,
    maxBatchTokens: spec.maxBatchTokens,
    maxBatchSize: spec.maxBatchSize,
  });
  await pool.start();
  try {
    await pool.load(MODEL_ID, 'embed');
    const shards: string[][] = [];
    for (let i = 0; i < texts.length; i += spec.shardSize) shards.push(texts.slice(i, i + spec.shardSize));
    let tokens = 0;
    let paddedTokens = 0;
    let tokenizeSeconds = 0;
    let inferenceSeconds = 0;
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: spec.concurrency }, async () => {
        while (next < shards.length) {
          const shard = shards[next++] as string[];
          const { stats } = await pool.encode({ modelId: MODEL_ID, task: 'embed', texts: shard, options: {} });
          tokens += stats.tokens;
          paddedTokens += stats.paddedTokens;
          tokenizeSeconds += stats.tokenizeSeconds;
          inferenceSeconds += stats.inferenceSeconds;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return {
      texts: texts.length,
      tokens,
      paddedTokens,
      seconds,
      detail: {
        device: spec.device ?? 'cpu',
        threads: spec.threads,
        intraOpThreads: spec.intraOpThreads ?? 1,
        maxBatchTokens: spec.maxBatchTokens,
        maxBatchSize: spec.maxBatchSize,
        shardSize: spec.shardSize,
        concurrency: spec.concurrency,
        tokenizeSeconds,
        inferenceSeconds,
      },
    };
  } finally {
    await pool.close();
  }
}

export function measureInProcess(spec: InProcessSpec): Promise<Measurement> {
  switch (spec.kind) {
    case 'naive':
    case 'typical':
      return measurePipeline(spec);
    case 'limit':
      return measureLimits(spec);
    case 'engine':
      return measureEngine(spec);
  }
}
