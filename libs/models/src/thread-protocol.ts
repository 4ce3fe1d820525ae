/**
 * Messages between InferencePool (main thread) and inference threads. Bulk
 * data travels as transferred typed arrays, so a batch costs no copies.
 */
import * as errors from './errors.js';
import type { Device } from './device.js';
import type { ModelInfo } from './model-info.js';
import type { ResolvedEncodeOptions } from './tasks/registry.js';
import type { TaskName } from './tasks/index.js';
import type { TokenAlignment } from './token-alignment.js';
import type { PoolDtype, Q8Mode } from './types.js';

/** Passed as workerData; fixed for the thread's life. */
export interface ThreadConfig {
  intraOpThreads: number;
  device: Device;
  dtype: PoolDtype;
  /** @defaultValue `'per-token'` */
  q8Mode?: Q8Mode;
  modelDir?: string;
  /** Hub (or mirror) that models without modelDir come from. @defaultValue transformers.js's, https://huggingface.co */
  hubEndpoint?: string;
  /** transformers.js's file cache of Hub downloads. @defaultValue transformers.js's, `.cache/` inside its package */
  hubCacheDir?: string;
}

export interface ModelRef {
  modelId: string;
  task: TaskName;
}

export type ThreadRequest =
  | { type: 'load'; model: ModelRef }
  | { type: 'tokenize'; model: ModelRef; texts: string[]; truncate: boolean; textPairs?: (string | null)[] }
  | { type: 'run'; model: ModelRef; ids: Int32Array; typeIds?: Int32Array; lengths: Int32Array; options: ResolvedEncodeOptions }
  | { type: 'dispose' }
  /** Fault injection for tests: the thread exits as if it had crashed. */
  | { type: 'crash' };

export interface TokenizeResult {
  /** Kept ids of all texts, concatenated. */
  ids: Int32Array;
  /** Token types of those ids; only when the request had text pairs. */
  typeIds?: Int32Array;
  /** Ids kept per text (0 for a text refused as too long). */
  lengths: Int32Array;
  /** Full token count per text, before truncation. */
  original: Int32Array;
  /** Per text, its kept tokens matched to the text; only for tasks that align tokens (TaskModule.alignsTokens). */
  alignments?: TokenAlignment[];
  seconds: number;
}

export interface RunResult {
  /** `// [batch, width]` rows of the task's post-processing (TaskModule.postProcess), in the order the batch was sent. */
  values: Float32Array;
  width: number;
  /** Items whose inference failed even when run alone. */
  failed: Array<{ index: number; message: string }>;
  seconds: number;
}

export interface ThreadResults {
  load: ModelInfo;
  tokenize: TokenizeResult;
  run: RunResult;
  dispose: null;
  crash: null;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

export type ThreadMessage = { type: 'ready' } | { type: 'reply'; id: number; ok: true; result: unknown } | { type: 'reply'; id: number; ok: false; error: SerializedError };

export type ThreadEnvelope = { id: number; request: ThreadRequest };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: String(error) };
}

const KNOWN: Record<string, { prototype: Error }> = Object.fromEntries(
  Object.values(errors)
    .filter((value): value is typeof errors.ModelLoadError => typeof value === 'function')
    .map((ctor) => [ctor.name, ctor]),
);

/** Rebuilds a thread's error on the main side so `instanceof` and `name` both still work. */
export function reviveError(serialized: SerializedError): Error {
  const error = new Error(serialized.message);
  const known = KNOWN[serialized.name];
  if (known) Object.setPrototypeOf(error, known.prototype);
  Object.defineProperty(error, 'name', { value: serialized.name, enumerable: false, configurable: true, writable: true });
  if (serialized.stack) error.stack = serialized.stack;
  return error;
}
