import { InputError } from '../errors/input.error.js';
import { parseNdjsonItem, type InputItem } from './input-item.js';
import type { NdjsonLine } from './ndjson-lines.js';

/**
 * How an input object holds its items. Both are JSON lines, so a shard is a byte range of whole lines:
 *
 * - `ndjson`: one item per line, `{"id"?, "text"}` or a bare string (POST /v1/jobs bodies, and
 *   corpora named by reference). An item without an id gets its 0-based index in the job.
 * - `openai-batch`: an OpenAI Batch API input file, one request per line; each of a request's
 *   inputs is an item (see `itemId`). Lines were validated in full by the API; workers only pick
 *   out `custom_id` and `body.input`.
 */
export type InputFormat = 'ndjson' | 'openai-batch';
export const INPUT_FORMATS: readonly InputFormat[] = ['ndjson', 'openai-batch'];

/**
 * The shardwise item ids of a batch request's inputs: the custom_id for the first, `custom_id` +
 * U+0000 + position for the others (custom_ids may not hold U+0000, so these never collide). The
 * ingest's duplicate-id check thereby refuses a repeated custom_id, naming both lines.
 */
export const itemId = (customId: string, position: number): string => (position === 0 ? customId : `${customId}\u0000${position}`);

/**
 * The items of one line of an input the API already validated in full (when it accepted the job),
 * appended to `out`: read again by workers and the duplicate-id check, so only what the items are
 * made of is taken (the same ids and texts; the checks were done). `index` is the job index of the
 * line's first item (ndjson ids default to it). Throws InputError for a line that is not an item.
 */
export function itemsOfLine(format: InputFormat, line: NdjsonLine, index: number, out: InputItem[]): void {
  if (format === 'ndjson') {
    out.push(acceptedItem(line, index));
    return;
  }
  const { customId, inputs } = batchLineInputs(line);
  for (let position = 0; position < inputs.length; position++) out.push({ id: itemId(customId, position), text: inputs[position] as string });
}

/** An ndjson item that parseNdjsonItem accepted once: its id (as the API normalised it) and its text. */
function acceptedItem(line: NdjsonLine, index: number): InputItem {
  let value: unknown;
  try {
    value = JSON.parse(line.text);
  } catch (error) {
    throw new InputError('INVALID_JSON', `line ${line.line}: invalid JSON (${(error as Error).message})`, { line: line.line });
  }
  if (typeof value === 'string') return { id: String(index), text: value };
  const record = value as { id?: unknown; text?: unknown; text_pair?: unknown; query?: unknown; documents?: unknown; texts?: unknown } | null;
  if (record !== null && typeof record === 'object' && typeof record.query === 'string') {
    const documents = record.documents ?? record.texts;
    const id = itemIdOf(record.id, index);
    if (id !== null && Array.isArray(documents) && documents.every((d) => typeof d === 'string')) return { id, text: record.query, documents };
    return parseNdjsonItem(line.text, line.line, index, 'query-documents');
  }
  if (record === null || typeof record !== 'object' || typeof record.text !== 'string') return parseNdjsonItem(line.text, line.line, index);
  const id = itemIdOf(record.id, index);
  // Anything else is not what the API accepted: the full check names what is wrong.
  if (id === null) return parseNdjsonItem(line.text, line.line, index);
  return typeof record.text_pair === 'string' ? { id, text: record.text, textPair: record.text_pair } : { id, text: record.text };
}

function itemIdOf(id: unknown, index: number): string | null {
  return id === undefined ? String(index) : typeof id === 'string' ? id : typeof id === 'number' ? String(id) : null;
}

/** `custom_id` and `body.input` of a batch line the API already validated in full (parseBatchLine). */
function batchLineInputs(line: NdjsonLine): { customId: string; inputs: string[] } {
  let value: { custom_id?: unknown; body?: { input?: unknown } };
  try {
    value = JSON.parse(line.text) as typeof value;
  } catch (error) {
    throw new InputError('INVALID_JSON', `line ${line.line}: invalid JSON (${(error as Error).message})`, { line: line.line });
  }
  const customId = value?.custom_id;
  const input = value?.body?.input;
  const inputs = typeof input === 'string' ? [input] : input;
  if (typeof customId !== 'string' || !Array.isArray(inputs) || !inputs.every((text) => typeof text === 'string')) {
    throw new InputError('INVALID_INPUT', `line ${line.line}: not a batch request with "custom_id" and "body.input"`, { line: line.line });
  }
  return { customId, inputs: inputs as string[] };
}
