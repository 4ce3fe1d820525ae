import type { TaskInputKind } from '#models';
import { InputError } from '../errors/input.error.js';
import { badId, forbiddenKey, isWellFormed } from './json-guard.js';

/** Longest item id, in UTF-16 code units; ids are echoed in every result line. */
export const MAX_ID_LENGTH = 1024;

/**
 * A validated input: ids are always strings, defaulting to the item's 0-based index. A pair
 * (`{text, text_pair}`, cross-encoders) has `textPair`; a rerank item (`{query, documents}`) has
 * its query in `text` and its `documents`.
 */
export interface InputItem {
  id: string;
  text: string;
  textPair?: string;
  documents?: string[];
}

/** What makes two items the same model input for dedup: the text, and its pair or documents when it has them. */
export function dedupKey(item: InputItem): string {
  if (item.textPair === undefined && item.documents === undefined) return item.text;
  // A lone U+0000 before JSON: such a key is never equal to a plain text's (which is the text itself) for another item shape.
  return `\u0000${JSON.stringify([item.text, item.textPair ?? null, item.documents ?? null])}`;
}

/** The item as one canonical NDJSON line (no newline), as the API stores in-memory inputs. */
export function inputItemLine(item: InputItem): string {
  if (item.documents !== undefined) return JSON.stringify({ id: item.id, query: item.text, documents: item.documents });
  return JSON.stringify(item.textPair === undefined ? { id: item.id, text: item.text } : { id: item.id, text: item.text, text_pair: item.textPair });
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

/**
 * Validates one input value; `index` is its position in the job. What an item is depends on the
 * task's input kind: `text`: `{"id"?, "text"}` or a bare string; `text-pair`: that, or
 * `{"id"?, "text", "text_pair"}`; `query-documents` (rerank): `{"id"?, "query", "documents"}`
 * (`texts` is accepted for `documents`, as TEI names them).
 */
export function toInputItem(value: unknown, index: number, source: ItemSource, input: TaskInputKind = 'text'): InputItem {
  if (typeof value === 'string' && input !== 'query-documents') return { id: String(index), text: checkText(value, source) };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const shape = input === 'query-documents' ? 'an object with "query" and "documents" fields' : 'an object with a "text" field, or a string';
    throw fail('INVALID_INPUT', source, `each input must be ${shape}`);
  }
  const record = value as Record<string, unknown>;
  const bad = forbiddenKey(record);
  if (bad !== undefined) throw fail('INVALID_INPUT', source, `the key "${bad}" is not allowed`, bad);
  if (input === 'query-documents') return toRerankItem(record, index, source);
  for (const key of ['query', 'documents', 'texts']) {
    if (Object.hasOwn(record, key)) throw fail('INVALID_INPUT', source, `field "${key}" belongs to rerank inputs; this task takes "text"`, key);
  }
  const text = requiredText(record, 'text', source);
  const id = toId(record.id, index, source);
  if (!Object.hasOwn(record, 'text_pair') || record.text_pair === undefined) return { id, text };
  if (input !== 'text-pair') throw fail('INVALID_INPUT', source, 'field "text_pair" is only accepted by tasks that classify text pairs (sentiment/classify)', 'text_pair');
  if (typeof record.text_pair !== 'string') throw fail('INVALID_INPUT', source, 'field "text_pair" must be a string', 'text_pair');
  return { id, text, textPair: checkText(record.text_pair, source, 'text_pair') };
}

/** The most documents one rerank item may carry (each is one model input). */
export const MAX_RERANK_DOCUMENTS = 1000;

function toRerankItem(record: Record<string, unknown>, index: number, source: ItemSource): InputItem {
  if (Object.hasOwn(record, 'text') && !Object.hasOwn(record, 'query'))
    throw fail('MISSING_TEXT', source, 'field "query" is missing (rerank inputs are {"query", "documents"}, not "text")', 'query');
  const text = requiredText(record, 'query', source);
  const hasDocuments = Object.hasOwn(record, 'documents');
  if (hasDocuments && Object.hasOwn(record, 'texts')) throw fail('INVALID_INPUT', source, 'give either "documents" or "texts", not both', 'texts');
  const field = hasDocuments ? 'documents' : 'texts';
  const documents = record[field];
  if (documents === undefined) throw fail('MISSING_TEXT', source, 'field "documents" is missing', 'documents');
  if (!Array.isArray(documents) || documents.length === 0) throw fail('INVALID_INPUT', source, `field "${field}" must be a non-empty array of strings`, field);
  if (documents.length > MAX_RERANK_DOCUMENTS) throw fail('INVALID_INPUT', source, `field "${field}" has ${documents.length} documents; at most ${MAX_RERANK_DOCUMENTS}`, field);
  documents.forEach((document, i) => {
    if (typeof document !== 'string') throw fail('INVALID_INPUT', source, `field "${field}[${i}]" must be a string`, `${field}[${i}]`);
    checkText(document, source, `${field}[${i}]`);
  });
  return { id: toId(record.id, index, source), text, documents: documents as string[] };
}

function requiredText(record: Record<string, unknown>, field: string, source: ItemSource): string {
  if (!Object.hasOwn(record, field)) throw fail('MISSING_TEXT', source, `field "${field}" is missing`, field);
  const text = record[field];
  if (typeof text !== 'string') throw fail('MISSING_TEXT', source, `field "${field}" must be a string`, field);
  return checkText(text, source, field);
}

/**
 * A JSON string may hold a lone surrogate (`"\ud800"`), which has no UTF-8 form: stored as UTF-8 it
 * would silently become U+FFFD. Refused like invalid UTF-8 bytes. NUL and other control characters
 * are text like any other (the tokenizers drop them).
 */
function checkText(text: string, source: ItemSource, field = 'text'): string {
  if (!isWellFormed(text)) throw fail('INVALID_UTF8', source, `field "${field}" contains a lone UTF-16 surrogate, which is not valid Unicode`, field);
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

/** Parses and validates one NDJSON line, as an item of a task with this input kind. */
export function parseNdjsonItem(text: string, line: number, index: number, input: TaskInputKind = 'text'): InputItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fail('INVALID_JSON', { kind: 'line', line }, `invalid JSON (${(error as Error).message})`);
  }
  return toInputItem(value, index, { kind: 'line', line }, input);
}
