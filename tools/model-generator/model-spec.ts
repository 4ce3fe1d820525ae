/**
 * The catalogue of generated models: names are a contract with the rest of
 * the project (workers and benchmarks load them by these exact ids).
 */

export type Family = 'bert' | 'distilbert' | 'roberta';
/**
 * `embed`: the bare encoder. The rest are *ForSequenceClassification heads: `sentiment` (one text),
 * `rerank` (a cross-encoder scoring a query-document pair with one logit) and `nli` (a pair
 * classifier with three labels, as NLI cross-encoders have).
 */
export type Head = 'embed' | 'sentiment' | 'rerank' | 'nli';
export type Size = 'tiny' | 'minilm';
export type Dtype = 'fp32' | 'q8' | 'fp16';

export const FAMILIES: readonly Family[] = ['bert', 'distilbert', 'roberta'];
export const HEADS: readonly Head[] = ['embed', 'sentiment', 'rerank', 'nli'];

/** Whether a head is a sequence classifier (every head but the bare encoder). */
export const isClassifierHead = (head: Head): boolean => head !== 'embed';
export const SIZES: readonly Size[] = ['tiny', 'minilm'];
export const DTYPES: readonly Dtype[] = ['fp32', 'q8', 'fp16'];
export const MODEL_NAMESPACE = 'shardwise-random';

/** ONNX file name per dtype, as transformers.js resolves it (dtype suffix). */
export const ONNX_FILE: Record<Dtype, string> = {
  fp32: 'model.onnx',
  q8: 'model_quantized.onnx',
  fp16: 'model_fp16.onnx',
};

export interface ModelDims {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  /** Rows of the position table (RoBERTa needs padding_idx + 1 extra). */
  maxPositions: number;
  /** Longest token sequence the tokenizer lets through. */
  modelMaxLength: number;
  vocabSize: number;
  layerNormEps: number;
  padTokenId: number;
}

export interface ModelSpec {
  name: string;
  family: Family;
  head: Head;
  size: Size;
  dims: ModelDims;
  /** id2label in id order; empty for embedding models. */
  labels: string[];
}

/** Tokenizer model_max_length; also sizes the position table. */
export const MODEL_MAX_LENGTH: Record<Size, number> = { tiny: 128, minilm: 512 };

const SIZE_DIMS: Record<Size, Pick<ModelDims, 'layers' | 'hidden' | 'heads' | 'intermediate'>> = {
  tiny: { layers: 2, hidden: 32, heads: 4, intermediate: 64 },
  // all-MiniLM-L6-v2 shape.
  minilm: { layers: 6, hidden: 384, heads: 12, intermediate: 1536 },
};

const LABELS: Record<Family, string[]> = {
  bert: ['NEGATIVE', 'POSITIVE'],
  distilbert: ['NEGATIVE', 'POSITIVE'],
  roberta: ['negative', 'neutral', 'positive'],
};

/** Pair heads' labels: a single relevance logit (sentence-transformers CrossEncoder), or the NLI labels of cross-encoder/nli-*. */
const PAIR_LABELS: Record<'rerank' | 'nli', string[]> = { rerank: ['LABEL_0'], nli: ['contradiction', 'entailment', 'neutral'] };

function labelsOf(family: Family, head: Head): string[] {
  if (head === 'embed') return [];
  return head === 'sentiment' ? LABELS[family] : PAIR_LABELS[head];
}

export function modelName(family: Family, size: Size, head: Head): string {
  return `${MODEL_NAMESPACE}/${family}-${size}-${head}`;
}

/** vocabSize comes from the tokenizer built for (family, size). */
export function modelSpec(family: Family, size: Size, head: Head, vocabSize: number): ModelSpec {
  const base = { ...SIZE_DIMS[size], modelMaxLength: MODEL_MAX_LENGTH[size] };
  const roberta = family === 'roberta';
  return {
    name: modelName(family, size, head),
    family,
    head,
    size,
    labels: labelsOf(family, head),
    dims: {
      ...base,
      // RoBERTa positions start at padding_idx + 1 = 2, so it needs 2 extra rows.
      maxPositions: roberta ? base.modelMaxLength + 2 : base.modelMaxLength,
      vocabSize,
      layerNormEps: roberta ? 1e-5 : 1e-12,
      padTokenId: roberta ? 1 : 0,
    },
  };
}
