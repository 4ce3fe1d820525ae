import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ModelSpec } from './model-spec.js';
import type { GraphDef, TensorDef } from './onnx-graph.js';
import { encodeModel } from './onnx-codec.js';
import { createRng, seedFromString } from './rng.js';

/** Spread of each logit across texts after calibration: labels flip, scores are not all ~1. */
const TARGET_LOGIT_STD = 1.5;
const SAMPLES = 48;

export interface CalibrationTokens {
  cls: number;
  sep: number;
  pad: number;
  /** Ordinary tokens are drawn uniformly from [firstWordId, lastWordId). */
  firstWordId: number;
  lastWordId: number;
}

function floatInit(graph: GraphDef, name: string): TensorDef & { data: Float32Array } {
  const t = graph.initializers.find((i) => i.name === name);
  if (!t || !(t.data instanceof Float32Array)) throw new Error(`missing float initializer ${name}`);
  return t as TensorDef & { data: Float32Array };
}

/**
 * Centres and scales a random classifier so every label wins for some texts.
 * A random encoder gives every text a large shared logit offset, so without
 * this one label wins everywhere. Runs the fp32 graph on random token
 * sequences, then sets W *= g and bias = -g·mean so each logit has mean 0 and
 * std ≈ TARGET_LOGIT_STD. Mutates the classifier initializers in place.
 */
export async function calibrateClassifier(graph: GraphDef, spec: ModelSpec, tokens: CalibrationTokens): Promise<void> {
  const prefix = spec.family === 'roberta' && spec.head !== 'ner' ? 'classifier.out_proj' : 'classifier';
  const weight = floatInit(graph, `${prefix}.weight`);
  const bias = floatInit(graph, `${prefix}.bias`);
  const rng = createRng(seedFromString(`${spec.name}:calibration`));
  const maxLen = Math.min(48, spec.dims.modelMaxLength);
  const ids = new BigInt64Array(SAMPLES * maxLen).fill(BigInt(tokens.pad));
  const mask = new BigInt64Array(SAMPLES * maxLen);
  for (let row = 0; row < SAMPLES; row++) {
    const len = 4 + Math.floor(rng.uniform() * (maxLen - 4)); // includes the 2 specials
    for (let i = 0; i < len; i++) {
      const word = tokens.firstWordId + Math.floor(rng.uniform() * (tokens.lastWordId - tokens.firstWordId));
      ids[row * maxLen + i] = BigInt(i === 0 ? tokens.cls : i === len - 1 ? tokens.sep : word);
      mask[row * maxLen + i] = 1n;
    }
  }
  const dims = [SAMPLES, maxLen];
  const feeds: Record<string, Tensor> = { input_ids: new Tensor('int64', ids, dims), attention_mask: new Tensor('int64', mask, dims) };
  if (spec.family === 'bert') feeds.token_type_ids = new Tensor('int64', new BigInt64Array(ids.length), dims);
  const session = await InferenceSession.create(encodeModel(graph));
  // [SAMPLES, labels], or [SAMPLES, maxLen, labels] for a token head (padding positions weigh in too)
  const logits = (await session.run(feeds)).logits.data as Float32Array;
  await session.release();

  const n = spec.labels.length;
  const mean = new Float64Array(n);
  const sq = new Float64Array(n);
  const rows = logits.length / n;
  logits.forEach((v, i) => {
    mean[i % n] += v / rows;
    sq[i % n] += (v * v) / rows;
  });
  let std = 0;
  for (let j = 0; j < n; j++) std += Math.sqrt(Math.max(sq[j] - mean[j] ** 2, 0)) / n;
  const gain = std > 0 ? TARGET_LOGIT_STD / std : 1;
  for (let i = 0; i < weight.data.length; i++) weight.data[i] *= gain;
  // mean - bias is the mean of W·z; the new bias cancels it after scaling.
  for (let j = 0; j < n; j++) bias.data[j] = -gain * (mean[j] - bias.data[j]);
}
