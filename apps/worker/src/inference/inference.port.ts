import type { InferencePool } from '#models';

/** Injection token of the inference pool, so tests can hand the worker a fake one. */
export const INFERENCE_POOL = Symbol('INFERENCE_POOL');

/** The part of InferencePool the worker uses. */
export type InferencePort = Pick<InferencePool, 'start' | 'load' | 'encode' | 'close'>;
