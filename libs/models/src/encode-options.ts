import { AGGREGATION_STRATEGIES } from './entities.js';
import { InvalidEncodeOptionsError, InvalidPoolOptionsError } from './errors.js';
import { CLASSIFICATION_FUNCTIONS, type ResolvedEncodeOptions } from './tasks/task-io.js';

export type { ResolvedEncodeOptions } from './tasks/task-io.js';
import type { EncodeOptions, InferencePoolOptions } from './types.js';

/** Applies the documented defaults and rejects values that would otherwise fail deep inside a thread. */
export function resolveEncodeOptions(options: EncodeOptions | undefined): ResolvedEncodeOptions {
  const {
    pooling = 'mean',
    normalize = true,
    topK = null,
    functionToApply = null,
    dimensions = null,
    prompt = null,
    promptName = null,
    truncate = true,
    aggregationStrategy = 'none',
    ignoreLabels = ['O'],
    rawScores = false,
    returnText = false,
  } = options ?? {};
  if (pooling !== 'mean' && pooling !== 'cls') throw new InvalidEncodeOptionsError(`pooling must be "mean" or "cls", got ${JSON.stringify(pooling)}`);
  if (typeof normalize !== 'boolean') throw new InvalidEncodeOptionsError('normalize must be true or false');
  if (typeof truncate !== 'boolean') throw new InvalidEncodeOptionsError('truncate must be true or false');
  if (topK !== null && !(Number.isInteger(topK) && topK >= 1)) {
    throw new InvalidEncodeOptionsError(`topK must be a positive integer or null (all labels), got ${JSON.stringify(topK)}`);
  }
  if (functionToApply !== null && !(CLASSIFICATION_FUNCTIONS as readonly unknown[]).includes(functionToApply)) {
    throw new InvalidEncodeOptionsError(`functionToApply must be one of ${CLASSIFICATION_FUNCTIONS.join(', ')} or null (the model's own), got ${JSON.stringify(functionToApply)}`);
  }
  if (dimensions !== null && !(Number.isInteger(dimensions) && dimensions >= 1)) {
    throw new InvalidEncodeOptionsError(`dimensions must be a positive integer or null (the model's width), got ${JSON.stringify(dimensions)}`);
  }
  if (prompt !== null && typeof prompt !== 'string') throw new InvalidEncodeOptionsError('prompt must be a string or null');
  if (promptName !== null && typeof promptName !== 'string') throw new InvalidEncodeOptionsError('promptName must be a string or null');
  if (prompt !== null && promptName !== null) throw new InvalidEncodeOptionsError('give prompt or promptName, not both');
  if (!AGGREGATION_STRATEGIES.includes(aggregationStrategy)) {
    throw new InvalidEncodeOptionsError(`aggregationStrategy must be one of ${AGGREGATION_STRATEGIES.join(', ')}, got ${JSON.stringify(aggregationStrategy)}`);
  }
  if (!Array.isArray(ignoreLabels) || !ignoreLabels.every((label) => typeof label === 'string'))
    throw new InvalidEncodeOptionsError('ignoreLabels must be an array of label names');
  if (typeof rawScores !== 'boolean' || typeof returnText !== 'boolean') throw new InvalidEncodeOptionsError('rawScores and returnText must be true or false');
  return { pooling, normalize, topK, functionToApply, dimensions, prompt, promptName, truncate, aggregationStrategy, ignoreLabels, rawScores, returnText };
}

/** What a request that sets no option gets: every default above. */
export const DEFAULT_ENCODE_OPTIONS: Readonly<ResolvedEncodeOptions> = Object.freeze(resolveEncodeOptions(undefined));

export function assertTexts(texts: unknown): asserts texts is string[] {
  if (!Array.isArray(texts)) throw new InvalidEncodeOptionsError('texts must be an array of strings');
  const bad = texts.findIndex((t) => typeof t !== 'string');
  if (bad !== -1) throw new InvalidEncodeOptionsError(`texts[${bad}] is a ${typeof texts[bad]}, not a string`);
}

export function assertTextPairs(textPairs: unknown, count: number): asserts textPairs is (string | null)[] {
  if (!Array.isArray(textPairs) || textPairs.length !== count) throw new InvalidEncodeOptionsError(`textPairs must be an array of ${count} strings or nulls, one per text`);
  const bad = textPairs.findIndex((t) => typeof t !== 'string' && t !== null);
  if (bad !== -1) throw new InvalidEncodeOptionsError(`textPairs[${bad}] is a ${typeof textPairs[bad]}, not a string or null`);
}

const DEVICES = ['cpu', 'webgpu', 'cuda'];
const DTYPES = ['fp32', 'fp16', 'q8'];
const Q8_MODES = ['per-token', 'dynamic'];

/** Validates pool options up front so a typo fails at construction, not in a thread. */
export function validatePoolOptions(options: InferencePoolOptions): void {
  for (const key of ['threads', 'intraOpThreads', 'maxBatchTokens', 'maxBatchSize'] as const) {
    const value = options[key];
    if (!Number.isInteger(value) || value < 1) throw new InvalidPoolOptionsError(`${key} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  if (!DEVICES.includes(options.device)) throw new InvalidPoolOptionsError(`device must be one of ${DEVICES.join(', ')}, got ${JSON.stringify(options.device)}`);
  if (!DTYPES.includes(options.dtype)) throw new InvalidPoolOptionsError(`dtype must be one of ${DTYPES.join(', ')}, got ${JSON.stringify(options.dtype)}`);
  if (options.q8Mode !== undefined && !Q8_MODES.includes(options.q8Mode)) {
    throw new InvalidPoolOptionsError(`q8Mode must be one of ${Q8_MODES.join(', ')}, got ${JSON.stringify(options.q8Mode)}`);
  }
  if (options.modelDir !== undefined && (typeof options.modelDir !== 'string' || options.modelDir === '')) {
    throw new InvalidPoolOptionsError('modelDir must be a non-empty path when set');
  }
}
