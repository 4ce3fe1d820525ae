/**
 * The catalogue of generated models: names are a contract with the rest of
 * the project (workers and benchmarks load them by these exact ids).
 */

export type Family = 'bert' | 'distilbert' | 'roberta';
/**
 * `sentiment`: single-label classifier (softmax). `multilabel`: `problem_type: multi_label_classification`
 * (sigmoid per label). `score`: one logit and no problem_type, as cross-encoders ship (sigmoid).
 * `ner`: a token classification head (*ForTokenClassification) with B-/I- entity tags.
 * `nli`: a pair classifier with three labels, as NLI cross-encoders have (`score` is the rerank cross-encoder).
 */
export type Head = 'embed' | 'sentiment' | 'multilabel' | 'score' | 'ner' | 'nli';
export type Size = 'tiny' | 'minilm';
export type Dtype = 'fp32' | 'q8' | 'fp16';

export const FAMILIES: readonly Family[] = ['bert', 'distilbert', 'roberta'];
export const HEADS: readonly Head[] = ['embed', 'sentiment', 'multilabel', 'score', 'ner', 'nli'];

/** Heads with a classifier on top (logits output): *ForSequenceClassification, or *ForTokenClassification for `ner`. */
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
// Topic/toxicity style: any number of labels may apply to one text.
const MULTI_LABELS = ['toxic', 'insult', 'threat', 'obscene'];

function labelsOf(family: Family, head: Head): string[] {
  switch (head) {
    case 'embed':
      return [];
    case 'sentiment':
      return LABELS[family];
    case 'multilabel':
      return MULTI_LABELS;
    case 'score':
      return ['LABEL_0'];
    case 'ner':
      return ENTITY_TAGS;
    case 'nli':
      return NLI_LABELS;
  }
}

/** cross-encoder/nli-* labels, in their id order. */
const NLI_LABELS = ['contradiction', 'entailment', 'neutral'];

/** CoNLL-2003 style tags, as dslim/bert-base-NER lists them (O first). */
const ENTITY_TAGS = ['O', 'B-MISC', 'I-MISC', 'B-PER', 'I-PER', 'B-ORG', 'I-ORG', 'B-LOC', 'I-LOC'];

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
