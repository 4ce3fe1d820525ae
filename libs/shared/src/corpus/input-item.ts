import { InputError } from '../errors/input.error.js';
import { badId, forbiddenKey, isWellFormed } from './json-guard.js';

/** Longest item id, in UTF-16 code units; ids are echoed in every result line. */
export const MAX_ID_LENGTH = 1024;

/** A validated input: ids are always strings, defaulting to the item's 0-based index. */
export interface InputItem {
  id: string;
  text: string;
}

/**
 * Where an item came from, for error messages: NDJSON items are named by physical line,
 * JSON items by their index in `inputs`.
 */
export type ItemSource = { kind: 'line'; line: number } | { kind: 'index'; index: number };

export function describeSource(source: ItemSource): string {
  return source.kind === 'line' ? `line ${source.line}` : `inputs[${source.index}]`;
}

function fail(code: 'INVALID_INPUT' | 'MISSING_TEXT' | 'INVALID_JSON' | 'INVALID_UTF8', source: ItemSource, message: string, field?: string): InputError {
  const where = { ...(source.kind === 'line' ? { line: source.line } : {}), ...(field ? { field } : {}) };
  return new InputError(code, `${describeSource(source)}: ${message}`, where);
}

/** Validates one input value (`{"id"?, "text"}` or a bare string); `index` is its position in the job. */
export function toInputItem(value: unknown, index: number, source: ItemSource): InputItem {
  if (typeof value === 'string') return { id: String(index), text: checkText(value, source) };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw fail('INVALID_INPUT', source, 'each input must be an object with a "text" field, or a string');
  }
  const record = value as Record<string, unknown>;
  const bad = forbiddenKey(record);
  if (bad !== undefined) throw fail('INVALID_INPUT', source, `the key "${bad}" is not allowed`, bad);
  if (!Object.hasOwn(record, 'text')) throw fail('MISSING_TEXT', source, 'field "text" is missing', 'text');
  if (typeof record.text !== 'string') throw fail('MISSING_TEXT', source, 'field "text" must be a string', 'text');
  return { id: toId(record.id, index, source), text: checkText(record.text, source) };
}

/**
 * A JSON string may hold a lone surrogate (`"\ud800"`), which has no UTF-8 form: stored as UTF-8 it
 * would silently become U+FFFD. Refused like invalid UTF-8 bytes. NUL and other control characters
 * are text like any other (the tokenizers drop them).
 */
function checkText(text: string, source: ItemSource): string {
  if (!isWellFormed(text)) throw fail('INVALID_UTF8', source, 'field "text" contains a lone UTF-16 surrogate, which is not valid Unicode', 'text');
  return text;
}

function toId(id: unknown, index: number, source: ItemSource): string {
  if (id === undefined) return String(index);
  if (typeof id === 'string') {
    const problem = badId(id, MAX_ID_LENGTH);
    if (problem !== null) throw fail('INVALID_INPUT', source, `field "id" ${problem}`, 'id');
    return id;
  }
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  throw fail('INVALID_INPUT', source, 'field "id" must be a string or a number', 'id');
}

/** Parses and validates one NDJSON line. */
export function parseNdjsonItem(text: string, line: number, index: number): InputItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fail('INVALID_JSON', { kind: 'line', line }, `invalid JSON (${(error as Error).message})`);
  }
  return toInputItem(value, index, { kind: 'line', line });
}
