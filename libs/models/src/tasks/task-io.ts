/**
 * The values that cross between a task and the pool: request options and one item's result.
 * Kept apart from types.ts so that task modules do not import the pool's types (no import cycle).
 */
import type { AggregationStrategy, Entity } from '../entities.js';
import type { Pooling } from '../pooling.js';

/** Per-request knobs. Unknown to a task means ignored (pooling does nothing for sentiment). */
export interface EncodeOptions {
  /** How token vectors become one embedding. @defaultValue `'mean'` */
  pooling?: Pooling;
  /** L2-normalise embeddings (cosine similarity becomes a dot product). @defaultValue `true` */
  normalize?: boolean;
  /** Keep only the k most likely labels in `scores`; null keeps all. @defaultValue `null` */
  topK?: number | null;
  /** Cut over-long texts to the model limit (keeping special tokens) instead of failing them with TEXT_TOO_LONG. @defaultValue `true` */
  truncate?: boolean;
  /** Token classification: how tokens become entities (Python pipeline semantics). @defaultValue `'none'` */
  aggregationStrategy?: AggregationStrategy;
  /** Token classification: labels left out of the entities. @defaultValue `['O']` */
  ignoreLabels?: readonly string[];
}

/** Outcome for one input text; `tokens` counts the ids fed to the model (for TEXT_TOO_LONG: the text's full count). */
export type ItemResult =
  | { ok: true; tokens: number; truncated: boolean; embedding: Float32Array }
  | { ok: true; tokens: number; truncated: boolean; label: string; score: number; scores: Record<string, number> }
  | { ok: true; tokens: number; truncated: boolean; entities: Entity[] }
  | { ok: false; tokens: number; truncated: false; error: { code: string; message: string } };

/** Item error codes, stable across releases. */
export type ItemErrorCode = 'TEXT_TOO_LONG' | 'INFERENCE_FAILED';

/** EncodeOptions with every default applied; what the threads and the task modules see. */
export interface ResolvedEncodeOptions {
  pooling: Pooling;
  normalize: boolean;
  topK: number | null;
  truncate: boolean;
  aggregationStrategy: AggregationStrategy;
  ignoreLabels: readonly string[];
}

/** What a task reads of a model: its hidden size, its labels and its longest input (a ModelInfo is one). */
export interface TaskModelShape {
  readonly dimensions: number;
  readonly maxTokens: number;
  readonly labels: readonly string[] | null;
}
