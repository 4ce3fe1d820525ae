import { InputError } from '../errors/input.error.js';
import type { ShardInput } from '../queue/shard-payload.js';
import { ObjectChangedError, type ObjectStore } from '../storage/object-store.interface.js';
import { itemsOfLine } from './input-formats.js';
import type { InputItem } from './input-item.js';
import { splitNdjsonLines } from './ndjson-lines.js';

/** The input range holds other items than the shard expects: the object changed, or a bug. No retry helps. */
export class ShardInputError extends Error {
  override readonly name = 'ShardInputError';
}

/**
 * Reads a shard's byte range from the store and parses its items, exactly as the API did when it
 * accepted the job (same line splitter, same item parser, same default ids). The range holds whole
 * lines; `skip` items of the first line belong to the previous shard.
 */
export async function readShardItems(store: ObjectStore, shard: { input: ShardInput; start: number; count: number }): Promise<InputItem[]> {
  const { key, version, start, end } = shard.input;
  const bytes = await store.read(key, { start, end }, { version });
  if (bytes === null) throw new ObjectChangedError(key, version, null);
  return parseShardItems(bytes, shard);
}

/** The parsing half of readShardItems, for bytes already read. */
export function parseShardItems(bytes: Buffer, shard: { input: ShardInput; start: number; count: number }): InputItem[] {
  const { key, format, start, skip } = shard.input;
  const items: InputItem[] = [];
  try {
    // Every line was checked against MAX_LINE_BYTES when the job was accepted; the range bounds them here.
    for (const line of splitNdjsonLines(bytes, Math.max(bytes.length, 1), { offset: start })) {
      itemsOfLine(format, line, shard.start + items.length - skip, items);
      if (items.length - skip >= shard.count) break;
    }
  } catch (error) {
    if (error instanceof InputError) throw new ShardInputError(`object ${key} bytes ${start}-${shard.input.end}: ${error.message}; the input changed after the job was accepted`);
    throw error;
  }
  const mine = skip === 0 ? items : items.slice(skip);
  if (mine.length < shard.count) {
    throw new ShardInputError(`object ${key} bytes ${start}-${shard.input.end} hold ${mine.length} items; the shard expects ${shard.count}`);
  }
  return mine.length === shard.count ? mine : mine.slice(0, shard.count);
}
