import type { Device } from './device.js';
import type { Pooling } from './pooling.js';
import type { TaskName } from './tasks.js';

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
}

/** Outcome for one input text; `tokens` counts the ids fed to the model (for TEXT_TOO_LONG: the text's full count). */
export type ItemResult =
  | { ok: true; tokens: number; truncated: boolean; embedding: Float32Array }
  | { ok: true; tokens: number; truncated: boolean; label: string; score: number; scores: Record<string, number> }
  | { ok: false; tokens: number; truncated: false; error: { code: string; message: string } };

/** Item error codes, stable across releases. */
export type ItemErrorCode = 'TEXT_TOO_LONG' | 'INFERENCE_FAILED';

export type PoolDtype = 'fp32' | 'fp16' | 'q8';

/**
 * How a q8 model quantizes its activations. `per-token`: one scale per token, so a text's
 * result does not depend on its batch-mates; `dynamic`: the file as exported, one scale
 * per batch (a little faster, but a text's vector moves by ~1e-3 with its batch-mates).
 */
export type Q8Mode = 'per-token' | 'dynamic';

export interface InferencePoolOptions {
  /** Inference threads (worker_threads); batches of one request are spread over all of them. */
  threads: number;
  /** ONNX Runtime intra-op threads per inference thread; threads * intraOpThreads should not exceed the cores. */
  intraOpThreads: number;
  /** Execution device; cuda needs onnxruntime-node's CUDA provider, webgpu a GPU driver. */
  device: Device;
  /** Weight variant: fp32 -> onnx/model.onnx, fp16 -> model_fp16.onnx, q8 -> model_quantized.onnx. */
  dtype: PoolDtype;
  /** Activation quantization of q8 models (ignored for other dtypes). @defaultValue `'per-token'` */
  q8Mode?: Q8Mode;
  /** Local model folder; when set, the Hub is never contacted. @defaultValue `undefined` (models come from the Hub) */
  modelDir?: string;
  /** Padded-token budget per batch (`batchSize * longestInBatch`). */
  maxBatchTokens: number;
  /** Texts per batch at most. */
  maxBatchSize: number;
}

export interface EncodeRequest {
  modelId: string;
  task: TaskName;
  texts: string[];
  options: EncodeOptions;
  /** Aborting stops new batches from being scheduled and rejects with AbortError. */
  signal?: AbortSignal;
}

export interface EncodeStats {
  /** Ids fed to the model, special tokens included, padding excluded. */
  tokens: number;
  /** Ids including padding: what the model actually computed. */
  paddedTokens: number;
  /** Planned batches (split retries are not counted). */
  batches: number;
  /** Thread-seconds spent tokenizing, summed over threads. */
  tokenizeSeconds: number;
  /** Thread-seconds spent in inference and post-processing, summed over threads. */
  inferenceSeconds: number;
  /** Each planned batch: texts, tokens (padding excluded) and padded tokens. Optional: for metrics only. */
  perBatch?: Array<{ texts: number; tokens: number; paddedTokens: number }>;
}

export interface EncodeResponse {
  /** results[i] belongs to texts[i]. */
  results: ItemResult[];
  stats: EncodeStats;
}
