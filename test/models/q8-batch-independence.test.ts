/**
 * Same text, same answer (issue 13, item 7): with DTYPE=q8 a text's vector must not depend on the
 * texts it shares a batch with. The exported q8 file quantizes activations with one scale per
 * batch (DynamicQuantizeLinear), so `dynamic` moves a vector by ~1e-3; `per-token` (the default)
 * rewrites the file at load to one scale per token. Measured on a MiniLM-shaped generated model.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env } from '@huggingface/transformers';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ENCODE_OPTIONS, InferencePool, InvalidPoolOptionsError, ModelLoadError, type InferencePoolOptions, type Q8Mode } from '#models';
import { configureTransformers } from '../../libs/models/src/model-loader.js';
import { ModelRunner } from '../../libs/models/src/model-runner.js';
import { toPerTokenQuantization } from '../../libs/models/src/per-token-quantization.js';
import { generateModels } from '../../tools/model-generator/index.js';
import { ensureThreadBuild, MODEL_DIR, maxAbsDiff, mixedTexts } from './fixtures.js';

const MODEL = 'shardwise-random/bert-minilm-embed';
const pools = new Map<Q8Mode | 'fp32', InferencePool>();
const options = (dtype: 'fp32' | 'q8', q8Mode?: Q8Mode): InferencePoolOptions => ({
  threads: 1,
  intraOpThreads: 1,
  device: 'cpu',
  dtype,
  q8Mode,
  modelDir: MODEL_DIR,
  maxBatchTokens: 8192,
  maxBatchSize: 64,
});

const LONG = Array.from({ length: 300 }, (_, i) => `word${i % 37}`).join(' ');
const SHORT = 'ok';
const TARGET = 'the same text must get the same vector';

async function embed(kind: Q8Mode | 'fp32', texts: string[]): Promise<Float32Array[]> {
  const pool = pools.get(kind);
  if (!pool) throw new Error(`no ${kind} pool`);
  const { results } = await pool.encode({ modelId: MODEL, task: 'embed', texts, options: {} });
  return results.map((r) => {
    if (!r.ok || !('embedding' in r)) throw new Error(`no embedding: ${JSON.stringify(r)}`);
    return r.embedding;
  });
}

/** Largest difference between each text embedded alone and the same text inside `texts`. */
async function aloneVersusBatch(kind: Q8Mode | 'fp32', texts: string[]): Promise<number> {
  const batched = await embed(kind, texts);
  let max = 0;
  for (const [i, text] of texts.entries()) {
    const [alone] = await embed(kind, [text]);
    max = Math.max(max, maxAbsDiff(alone as Float32Array, batched[i] as Float32Array));
  }
  return max;
}

beforeAll(async () => {
  ensureThreadBuild();
  await generateModels({ out: MODEL_DIR, size: 'minilm', family: ['bert'], head: ['embed'], dtype: ['fp32', 'q8'] });
  for (const [kind, pool] of [
    ['fp32', new InferencePool(options('fp32'))],
    ['per-token', new InferencePool(options('q8'))],
    ['dynamic', new InferencePool(options('q8', 'dynamic'))],
  ] as const) {
    pools.set(kind, pool);
    await pool.start();
    await pool.load(MODEL, 'embed');
  }
}, 300_000);

afterAll(async () => {
  await Promise.all([...pools.values()].map((pool) => pool.close()));
});

describe('q8 per-token (the default)', () => {
  it('gives a text the same vector alone and next to long or short batch-mates', async () => {
    const [alone] = await embed('per-token', [TARGET]);
    const withLong = (await embed('per-token', [LONG, TARGET, SHORT]))[1];
    const withShort = (await embed('per-token', [SHORT, TARGET]))[1];
    expect(maxAbsDiff(alone as Float32Array, withLong as Float32Array)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(alone as Float32Array, withShort as Float32Array)).toBeLessThanOrEqual(1e-6);
  });

  it('holds on mixed texts (empty, emoji, CJK, truncated), each alone against all of them in batches', async () => {
    expect(await aloneVersusBatch('per-token', mixedTexts(40, 13))).toBeLessThanOrEqual(1e-6);
  });

  it('stays as close to fp32 as the exported quantization does', async () => {
    const texts = mixedTexts(40, 17);
    const [fp32, perToken, dynamic] = await Promise.all([embed('fp32', texts), embed('per-token', texts), embed('dynamic', texts)]);
    const cosine = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * (b[i] as number), 0);
    for (const [i, reference] of fp32.entries()) {
      expect(cosine(reference, perToken[i] as Float32Array)).toBeGreaterThan(0.995);
      // Within 0.002 of the exported file's own agreement with fp32, text by text.
      expect(cosine(reference, perToken[i] as Float32Array)).toBeGreaterThan(cosine(reference, dynamic[i] as Float32Array) - 0.002);
    }
  });
});

describe('q8 dynamic (Q8_MODE=dynamic, the file as exported)', () => {
  it('moves a text by more than 1e-4 with its batch-mates: the problem per-token solves', async () => {
    const [alone] = await embed('dynamic', [TARGET]);
    const withLong = (await embed('dynamic', [LONG, TARGET, SHORT]))[1];
    expect(maxAbsDiff(alone as Float32Array, withLong as Float32Array)).toBeGreaterThan(1e-4);
  });
});

describe('the rewrite', () => {
  const proto = onnxProto.onnx;
  const q8Bytes = (): Uint8Array => readFileSync(join(MODEL_DIR, MODEL, 'onnx', 'model_quantized.onnx'));

  it('replaces every DynamicQuantizeLinear and nothing else', () => {
    const before = proto.ModelProto.decode(q8Bytes());
    const { bytes, replaced } = toPerTokenQuantization(MODEL, q8Bytes());
    const after = proto.ModelProto.decode(bytes);
    const count = (model: typeof before, op: string): number => (model.graph?.node ?? []).filter((n) => n.opType === op).length;
    expect(replaced).toBe(count(before, 'DynamicQuantizeLinear'));
    expect(replaced).toBeGreaterThan(0);
    expect(count(after, 'DynamicQuantizeLinear')).toBe(0);
    expect(count(after, 'MatMulInteger')).toBe(count(before, 'MatMulInteger'));
  });

  it('takes ReduceMax axes as an input from opset 18 on, with the same result, and refuses opsets before 11', async () => {
    const withOpset = (version: number): Uint8Array => {
      const model = proto.ModelProto.decode(q8Bytes());
      // The generated graph uses no op whose signature changed between opsets 17 and 18 but ReduceMax, which the rewrite adds.
      for (const entry of model.opsetImport ?? []) if (!entry.domain) entry.version = version;
      return proto.ModelProto.encode(model).finish();
    };
    const output = async (bytes: Uint8Array): Promise<Float32Array> => {
      const session = await ort.InferenceSession.create(toPerTokenQuantization(MODEL, bytes).bytes);
      try {
        const dims = [2, 5];
        const ids = new ort.Tensor('int64', BigInt64Array.from([101n, 2000n, 2001n, 2002n, 102n, 101n, 3000n, 102n, 0n, 0n]), dims);
        const mask = new ort.Tensor('int64', BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 1n, 1n, 1n, 0n, 0n]), dims);
        const types = new ort.Tensor('int64', new BigInt64Array(10), dims);
        const result = await session.run({ input_ids: ids, attention_mask: mask, token_type_ids: types });
        return result.last_hidden_state?.data as Float32Array;
      } finally {
        await session.release();
      }
    };
    expect(maxAbsDiff(await output(withOpset(18)), await output(q8Bytes()))).toBe(0);
    expect(() => toPerTokenQuantization(MODEL, withOpset(10))).toThrow(/opset 11 or newer.*Q8_MODE=dynamic/);
  });

  it('refuses a file without dynamic quantization, and one whose quantized activations feed another op, naming Q8_MODE', () => {
    const fp32 = readFileSync(join(MODEL_DIR, MODEL, 'onnx', 'model.onnx'));
    expect(() => toPerTokenQuantization(MODEL, fp32)).toThrow(ModelLoadError);
    expect(() => toPerTokenQuantization(MODEL, fp32)).toThrow(/no DynamicQuantizeLinear.*Q8_MODE=dynamic/);

    const model = proto.ModelProto.decode(q8Bytes());
    const node = (model.graph?.node ?? []).find((n) => n.opType === 'MatMulInteger');
    if (!node) throw new Error('no MatMulInteger in the generated q8 model');
    node.opType = 'ConvInteger';
    const edited = proto.ModelProto.encode(model).finish();
    expect(() => toPerTokenQuantization(MODEL, edited)).toThrow(/feeds ConvInteger.*Q8_MODE=dynamic/);
  });

  it('is refused as a pool option when misspelt', () => {
    expect(() => new InferencePool({ ...options('q8'), q8Mode: 'per-row' as Q8Mode })).toThrow(InvalidPoolOptionsError);
  });
});

describe('a Hub model (MODEL_DIR unset)', () => {
  it('is rewritten from the file transformers.js downloaded into its cache', async () => {
    // The Hub cannot be reached from the tests; transformers.js finds the files in its file cache
    // (cacheDir/<org>/<name>/...) before it would download them, exactly as after a first download.
    const cacheDir = mkdtempSync(join(tmpdir(), 'shardwise-hub-cache-'));
    const saved = { ...env };
    try {
      cpSync(join(MODEL_DIR, MODEL), join(cacheDir, MODEL), { recursive: true });
      configureTransformers({ intraOpThreads: 1, device: 'cpu', dtype: 'q8' });
      env.cacheDir = cacheDir;
      env.useFSCache = true;
      const vectors = async (runner: ModelRunner, texts: string[]): Promise<Float32Array> => {
        const { ids, lengths } = runner.tokenize(texts, true);
        const { values, width } = await runner.run(ids, lengths, DEFAULT_ENCODE_OPTIONS);
        return values.subarray(0, width); // the first text's vector
      };
      for (const q8Mode of ['per-token', 'dynamic'] as const) {
        const runner = await ModelRunner.load({ modelId: MODEL, task: 'embed' }, { intraOpThreads: 1, device: 'cpu', dtype: 'q8', q8Mode });
        try {
          const difference = maxAbsDiff(await vectors(runner, [TARGET]), await vectors(runner, [TARGET, LONG, SHORT]));
          if (q8Mode === 'per-token') expect(difference).toBeLessThanOrEqual(1e-6);
          else expect(difference).toBeGreaterThan(1e-4);
        } finally {
          await runner.dispose();
        }
      }
    } finally {
      Object.assign(env, saved);
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
