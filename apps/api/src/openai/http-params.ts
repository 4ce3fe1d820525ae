import { OpenAIError } from './openai-error.js';

/** An integer query parameter in [min, max]; `fallback` when absent. */
export function intQuery(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new OpenAIError(400, `query parameter "${name}" must be an integer from ${min} to ${max}`, name, 'invalid_query');
  }
  return n;
}

/** A string query parameter given at most once; undefined when absent. */
export function stringQuery(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new OpenAIError(400, `query parameter "${name}" must be given once, non-empty`, name, 'invalid_query');
  return value;
}

/** Unix seconds. */
export const unixSeconds = (ms = Date.now()): number => Math.floor(ms / 1000);
