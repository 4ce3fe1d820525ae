import { InvalidEncodeOptionsError, InvalidPoolOptionsError } from './errors.js';
import { TASK_MODULES, type EncodeOptions, type ResolvedEncodeOptions } from './tasks/registry.js';
import { optionDefaults, resolveOptions } from './tasks/task-options.js';
import type { InferencePoolOptions } from './types.js';

export type { EncodeOptions, ResolvedEncodeOptions } from './tasks/registry.js';

/**
 * Applies the defaults and rejects values that would otherwise fail deep inside a thread: each
 * field against its task option's value schema, then what a task refuses without seeing the model
 * (`prompt` with `prompt_name`).
 */
export function resolveEncodeOptions(options: EncodeOptions | undefined): ResolvedEncodeOptions {
  const resolved = resolveOptions(TASK_MODULES, options);
  for (const task of TASK_MODULES) {
    const problem = 'optionsProblem' in task ? task.optionsProblem(null, resolved) : undefined;
    if (problem !== undefined) throw new InvalidEncodeOptionsError(problem.message);
  }
  return resolved;
}

/** What a request that sets no option gets: every task option's default. */
export const DEFAULT_ENCODE_OPTIONS: Readonly<ResolvedEncodeOptions> = optionDefaults(TASK_MODULES);

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
