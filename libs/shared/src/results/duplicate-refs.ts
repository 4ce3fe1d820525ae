/**
 * `jobs/<jobId>/duplicates.bin`: the items of a job whose text first appeared in an earlier shard, found by
 * the API while it reads the corpus (dedup). Each is 12 bytes, three little-endian u32: the item's index in
 * the job, the index of the first item with the same text, and the shard that holds that first item. Items
 * are in job order, so each shard's are one byte range (ShardPayload.dedup.refs). Repeats within one shard
 * are not listed: the worker finds those itself.
 */

export const DUPLICATE_REF_BYTES = 12;

export interface DuplicateRef {
  /** Index of the repeating item in the job. */
  index: number;
  /** Index of the first item with the same text, in an earlier shard. */
  source: number;
  /** The shard that holds `source`. */
  sourceShard: number;
}

/** A duplicates object (or a range of one) that cannot be what the API wrote. */
export class CorruptDuplicateRefsError extends Error {
  override readonly name = 'CorruptDuplicateRefsError';
  constructor(what: string) {
    super(`corrupt dedup references: ${what}`);
  }
}

/** Writes `ref` at `at` (a multiple of DUPLICATE_REF_BYTES) of `out`. */
export function encodeDuplicateRef(out: Buffer, at: number, ref: DuplicateRef): void {
  out.writeUInt32LE(ref.index, at);
  out.writeUInt32LE(ref.source, at + 4);
  out.writeUInt32LE(ref.sourceShard, at + 8);
}

/**
 * The references of one shard (items `[start, start + count)`, shard number `shard`), checked: each names an
 * item of the shard, in order, and a source in an earlier shard before it.
 */
export function decodeDuplicateRefs(bytes: Buffer, shard: number, start: number, count: number): DuplicateRef[] {
  if (bytes.length % DUPLICATE_REF_BYTES !== 0) throw new CorruptDuplicateRefsError(`${bytes.length} bytes, not a multiple of ${DUPLICATE_REF_BYTES}`);
  const refs: DuplicateRef[] = [];
  let last = start - 1;
  for (let at = 0; at < bytes.length; at += DUPLICATE_REF_BYTES) {
    const ref = { index: bytes.readUInt32LE(at), source: bytes.readUInt32LE(at + 4), sourceShard: bytes.readUInt32LE(at + 8) };
    if (ref.index <= last || ref.index >= start + count)
      throw new CorruptDuplicateRefsError(`item ${ref.index} is out of order or outside shard ${shard} (items ${start} to ${start + count - 1})`);
    if (ref.source >= start || ref.sourceShard >= shard)
      throw new CorruptDuplicateRefsError(`item ${ref.index} refers to item ${ref.source} of shard ${ref.sourceShard}, not an earlier shard`);
    refs.push(ref);
    last = ref.index;
  }
  return refs;
}
