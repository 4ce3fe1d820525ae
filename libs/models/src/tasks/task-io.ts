/**
 * The values that cross between a task and the pool: request options and one item's result.
 * Kept apart from types.ts so that task modules do not import the pool's types (no import cycle).
 */
import type { AggregationStrategy, Entity } from '../entities.js';
import type { Pooling } from '../pooling.js';

/** The functions a classifier's logits can go through (the transformers pipeline's `function_to_apply`). */
export const CLASSIFICATION_FUNCTIONS = Object.freeze(['softmax', 'sigmoid', 'none'] as const);
export type ClassificationFunction = (typeof CLASSIFICATION_FUNCTIONS)[number];

/** Per-request knobs. Unknown to a task means ignored (pooling does nothing for sentiment). */
export interface EncodeOptions {
  /** How token vectors become one embedding. @defaultValue `'mean'` */
  pooling?: Pooling;
  /** L2-normalise embeddings (cosine similarity becomes a dot product). @defaultValue `true` */
  normalize?: boolean;
  /** Keep only the k most likely labels in `scores`; null keeps all. @defaultValue `null` */
  topK?: number | null;
  /**
   * What turns a classifier's logits into scores; null: the model's own choice, as the transformers
   * pipeline makes it (sigmoid for multi-label and single-logit models, softmax otherwise). @defaultValue `null`
   */
  functionToApply?: ClassificationFunction | null;
  /** Matryoshka: keep the first N values of each pooled embedding (then L2-normalise if `normalize`); null keeps all. @defaultValue `null` */
  dimensions?: number | null;
  /** Text put before every input before tokenization (sentence-transformers' `prompt`). @defaultValue `null` */
  prompt?: string | null;
  /** A prompt of the model's config_sentence_transformers.json by name; null: its default_prompt_name, if any. @defaultValue `null` */
  promptName?: string | null;
  /** Cut over-long texts to the model limit (keeping special tokens) instead of failing them with TEXT_TOO_LONG. @defaultValue `true` */
  truncate?: boolean;
  /** Rerank: the model's raw logit as the score instead of its sigmoid. @defaultValue `false` */
  rawScores?: boolean;
  /** Rerank: each ranked document carries its text. @defaultValue `false` */
  returnText?: boolean;
  /** Token classification: how tokens become entities (Python pipeline semantics). @defaultValue `'none'` */
  aggregationStrategy?: AggregationStrategy;
  /** Token classification: labels left out of the entities. @defaultValue `['O']` */
  ignoreLabels?: readonly string[];
}

/** One document's place in a rerank result: its index in the item's documents, its score, its text when asked for. */
export interface RankedDocument {
  index: number;
  score: number;
  text?: string;
}

/** Outcome for one input text; `tokens` counts the ids fed to the model (for TEXT_TOO_LONG: the text's full count). */
export type ItemResult =
  | { ok: true; tokens: number; truncated: boolean; embedding: Float32Array }
  | { ok: true; tokens: number; truncated: boolean; label: string; score: number; scores: Record<string, number> }
  /** One query-document pair's relevance (rerank, before its item's documents are ranked together). */
  | { ok: true; tokens: number; truncated: boolean; relevance: number }
  /** A rerank item: its documents sorted by score, highest first. */
  | { ok: true; tokens: number; truncated: boolean; ranking: RankedDocument[] }
  | { ok: true; tokens: number; truncated: boolean; entities: Entity[] }
  | { ok: false; tokens: number; truncated: false; error: { code: string; message: string } };

/** Item error codes, stable across releases. */
export type ItemErrorCode = 'TEXT_TOO_LONG' | 'INFERENCE_FAILED';

/** EncodeOptions with every default applied; what the threads and the task modules see. */
export interface ResolvedEncodeOptions {
  pooling: Pooling;
  normalize: boolean;
  topK: number | null;
  functionToApply: ClassificationFunction | null;
  dimensions: number | null;
  prompt: string | null;
  promptName: string | null;
  truncate: boolean;
  /** Rerank only; absent means false. */
  rawScores?: boolean;
  /** Rerank only; absent means false. */
  returnText?: boolean;
  aggregationStrategy: AggregationStrategy;
  ignoreLabels: readonly string[];
}

/** What a task reads of a model: its hidden size, its labels, their problem type and its longest input (a ModelInfo is one). */
export interface TaskModelShape {
  readonly dimensions: number;
  readonly maxTokens: number;
  readonly labels: readonly string[] | null;
  /** config.json `problem_type` of a classifier (`multi_label_classification` picks sigmoid). */
  readonly problemType?: string;
  /** sentence-transformers prompts by name (config_sentence_transformers.json), and the one used when none is asked for. */
  readonly prompts?: Readonly<Record<string, string>>;
  readonly defaultPromptName?: string;
}
