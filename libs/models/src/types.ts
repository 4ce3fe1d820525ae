import type { Device } from './device.js';
import type { EncodeOptions } from './tasks/registry.js';
import type { ItemResult } from './tasks/task-io.js';
import type { TaskName } from './tasks/index.js';

export type { EncodeOptions } from './tasks/registry.js';
export type { ItemErrorCode, ItemResult, RankedDocument } from './tasks/task-io.js';

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
  /** Where models come from without modelDir: the Hub or a mirror of it (HF_ENDPOINT). @defaultValue `'https://huggingface.co'` */
  hubEndpoint?: string;
  /** transformers.js's file cache of downloaded models. @defaultValue transformers.js's own, `.cache/` inside its package folder */
  hubCacheDir?: string;
  /** Padded-token budget per batch (`batchSize * longestInBatch`). */
  maxBatchTokens: number;
  /** Texts per batch at most. */
  maxBatchSize: number;
}

export interface EncodeRequest {
  modelId: string;
  task: TaskName;
  texts: string[];
  /** The second text of each pair, for tasks whose input is a pair (`textPairs[i]` goes with `texts[i]`; null for a single text). */
  textPairs?: (string | null)[];
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
