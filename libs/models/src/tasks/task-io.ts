/**
 * The values that cross between a task and the pool: one item's result and the model's shape
 * (the options are the registry's EncodeOptions, derived from the task modules).
 * Kept apart from types.ts so that task modules do not import the pool's types (no import cycle).
 */
import type { Entity } from '../entities.js';

/** The functions a classifier's logits can go through (the transformers pipeline's `function_to_apply`). */
export const CLASSIFICATION_FUNCTIONS = Object.freeze(['softmax', 'sigmoid', 'none'] as const);
export type ClassificationFunction = (typeof CLASSIFICATION_FUNCTIONS)[number];

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
