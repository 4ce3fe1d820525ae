import { calibrateClassifier } from './calibrate-head.js';
import { configJson, sentenceTransformersConfigJson } from './config-json.js';
import { toFloat16 } from './float16.js';
import type { ModelFiles } from './model-folder.js';
import { buildModelGraph } from './model-graph.js';
import { isClassifierHead, type Dtype, type ModelSpec } from './model-spec.js';
import type { GraphDef } from './onnx-graph.js';
import { encodeModel } from './onnx-codec.js';
import { quantizeDynamic } from './quantize-dynamic.js';
import type { FamilyTokenizer } from './tokenizer-cache.js';

const CONVERT: Record<Dtype, (graph: GraphDef) => GraphDef> = {
  fp32: (graph) => graph,
  q8: quantizeDynamic,
  fp16: toFloat16,
};

/** All files of one model, in memory: the fp32 graph is built once and each dtype derived from it. */
export async function buildModelFiles(spec: ModelSpec, tokenizer: FamilyTokenizer, dtypes: readonly Dtype[]): Promise<ModelFiles> {
  const graph = buildModelGraph(spec);
  // Calibrate before deriving q8/fp16 so every dtype carries the same head.
  if (isClassifierHead(spec.head)) await calibrateClassifier(graph, spec, tokenizer.calibration);
  const onnx: Partial<Record<Dtype, Uint8Array>> = {};
  for (const dtype of dtypes) onnx[dtype] = encodeModel(CONVERT[dtype](graph));
  return {
    config: configJson(spec),
    tokenizerJson: tokenizer.tokenizerJson,
    tokenizerConfig: tokenizer.tokenizerConfig,
    ...(spec.head === 'embed' ? { sentenceTransformersConfig: sentenceTransformersConfigJson() } : {}),
    onnx,
  };
}
