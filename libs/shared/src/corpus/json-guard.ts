import { InputError } from '../errors/input.error.js';

/**
 * Keys that mean something to JavaScript objects rather than to us. JSON.parse makes them plain own
 * properties (no pollution happens while parsing), but code that later merges or copies such an
 * object could put them on a prototype, so submissions carrying them are refused outright.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Deepest nesting accepted in free-form JSON we keep (metadata). */
export const MAX_JSON_DEPTH = 32;

/** The first forbidden key among an object's own keys, if any. */
export function forbiddenKey(value: object): string | undefined {
  for (const key of Object.keys(value)) if (FORBIDDEN_KEYS.has(key)) return key;
  return undefined;
}

/**
 * Walks a parsed JSON value without recursion (so a 100k-deep array cannot overflow the stack) and
 * refuses nesting deeper than `maxDepth` and forbidden keys at any level, before anything
 * recursive (JSON.stringify, a deep copy) touches it.
 */
export function assertPlainJson(value: unknown, field: string, maxDepth = MAX_JSON_DEPTH): void {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop() as { value: unknown; depth: number };
    if (current === null || typeof current !== 'object') continue;
    if (depth > maxDepth) throw new InputError('INVALID_INPUT', `field "${field}" is nested deeper than ${maxDepth} levels`, { field });
    if (Array.isArray(current)) {
      for (const item of current) stack.push({ value: item, depth: depth + 1 });
      continue;
    }
    const bad = forbiddenKey(current);
    if (bad !== undefined) throw new InputError('INVALID_INPUT', `field "${field}" contains the key "${bad}", which is not allowed`, { field });
    for (const item of Object.values(current)) stack.push({ value: item, depth: depth + 1 });
  }
}

/** A lone surrogate (no UTF-8 form); in `u` mode a valid pair is one code point and does not match. */
const LONE_SURROGATE = /\p{Cs}/u;

/** String.prototype.isWellFormed (ES2024), for the ES2023 lib this project compiles against. */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** Control characters (C0 and DEL): never part of an id a client means. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why a string cannot be an item id, or null. Ids end up in result files that other programs parse. */
export function badId(id: string, maxLength: number): string | null {
  if (id.length > maxLength) return `is longer than ${maxLength} characters`;
  if (CONTROL.test(id)) return 'contains a control character (NUL, newline, …)';
  if (!isWellFormed(id)) return 'contains a lone UTF-16 surrogate, which has no UTF-8 form';
  return null;
}
