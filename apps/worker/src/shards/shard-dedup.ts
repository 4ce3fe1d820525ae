import type { ItemResult } from '#models';
import {
  decodeDuplicateRefs,
  dedupKey,
  jobDuplicatesKey,
  SHARD_FAILED,
  type DuplicateRef,
  type InputItem,
  type ObjectStore,
  type ResultStore,
  type ShardPayload,
  type ShardResult,
} from '#shared';

/**
 * Earlier shards read per shard at most, those with the most repeats first: each read is a whole result
 * object (about 1.5 MB for 512 texts of 768 floats), cheap next to inference from a local volume, but not
 * worth it for one row each of hundreds of shards. Repeats of the others are computed.
 */
export const MAX_SOURCE_SHARDS = 32;
/** Source shards held in memory at once: each is decoded, its rows taken, and dropped. */
const SOURCE_READS_AT_ONCE = 4;

/**
 * Dedup of one shard: which of its texts go to the model, and whose result every item takes. A text is
 * computed once per shard; a text whose first item is in an earlier shard (the API's references) takes that
 * item's stored result when that shard is already written, and is computed otherwise (the earlier shard may
 * still be running). A stored item error is copied too (a repeat of a text that failed fails the same way),
 * except SHARD_FAILED, which belongs to the shard rather than the text.
 */
export class ShardDedup {
  /** The items to encode (one per distinct input), in item order. */
  readonly inputs: InputItem[] = [];
  /** Per item: its slot. */
  private readonly slotOf: Int32Array;
  /** Per slot: a copied result, or null until the computed one arrives. */
  private readonly slots: Array<ItemResult | null> = [];
  /** Per text to encode: its slot. */
  private readonly computedSlots: number[] = [];

  private constructor(items: readonly InputItem[], copies: ReadonlyMap<number, ItemResult>, enabled: boolean) {
    this.slotOf = new Int32Array(items.length);
    const slotOfText = new Map<string, number>();
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as InputItem;
      // A pair or a rerank item is the same input only with the same second text or documents.
      const text = enabled ? dedupKey(item) : '';
      let slot = enabled ? slotOfText.get(text) : undefined;
      if (slot === undefined) {
        slot = this.slots.length;
        const copied = copies.get(i) ?? null;
        this.slots.push(copied);
        if (copied === null) {
          this.computedSlots.push(slot);
          this.inputs.push(item);
        }
        if (enabled) slotOfText.set(text, slot);
      }
      this.slotOf[i] = slot;
    }
  }

  /** No dedup (a job that turned it off, or a shard queued before dedup existed): every text is computed. */
  static none(items: readonly InputItem[]): ShardDedup {
    return new ShardDedup(items, new Map(), false);
  }

  /**
   * The shard's plan. `onProblem` hears why references could not be used (unreadable or corrupt): their
   * texts are then computed, as dedup is only ever a saving.
   */
  static async plan(payload: ShardPayload, items: readonly InputItem[], objects: ObjectStore, results: ResultStore, onProblem: (error: Error) => void): Promise<ShardDedup> {
    if (payload.dedup === undefined) return ShardDedup.none(items);
    let copies = new Map<number, ItemResult>();
    if (payload.dedup.refs !== undefined) {
      try {
        copies = await copiesFromEarlierShards(payload, objects, results);
      } catch (error) {
        onProblem(error as Error);
      }
    }
    return new ShardDedup(items, copies, true);
  }

  /** Items whose result is another's: copied from an earlier shard or from an identical text of this one. */
  get deduplicated(): number {
    return this.slotOf.length - this.inputs.length;
  }

  /** Every item's result, given the model's results for `texts` (in the same order). */
  assemble(computed: readonly ItemResult[]): ItemResult[] {
    if (computed.length !== this.inputs.length) throw new Error(`inference returned ${computed.length} results for ${this.inputs.length} inputs`);
    this.computedSlots.forEach((slot, k) => {
      this.slots[slot] = computed[k] as ItemResult;
    });
    return Array.from(this.slotOf, (slot) => this.slots[slot] as ItemResult);
  }
}

/** Results of the shard's items that repeat a text of an earlier, already written shard, by position in the shard. */
async function copiesFromEarlierShards(payload: ShardPayload, objects: ObjectStore, results: ResultStore): Promise<Map<number, ItemResult>> {
  const range = payload.dedup?.refs as { start: number; end: number };
  const bytes = await objects.read(jobDuplicatesKey(payload.jobId), range);
  if (bytes === null) throw new Error(`the dedup references ${jobDuplicatesKey(payload.jobId)} are missing`);
  const refs = decodeDuplicateRefs(bytes, payload.shard, payload.start, payload.count);
  const bySource = new Map<number, DuplicateRef[]>();
  for (const ref of refs) {
    const list = bySource.get(ref.sourceShard);
    if (list) list.push(ref);
    else bySource.set(ref.sourceShard, [ref]);
  }
  const chosen = [...bySource].sort((a, b) => b[1].length - a[1].length).slice(0, MAX_SOURCE_SHARDS);
  const copies = new Map<number, ItemResult>();
  const take = (source: ShardResult | null, list: readonly DuplicateRef[]) => {
    if (source === null || source.header.task !== payload.task) return;
    for (const ref of list) {
      const at = ref.source - source.header.start;
      if (at < 0 || at >= source.header.count)
        throw new Error(`item ${ref.source} is not in shard ${ref.sourceShard} (items ${source.header.start} to ${source.header.start + source.header.count - 1})`);
      const result = source.itemResult(at);
      if (!result.ok && result.error.code === SHARD_FAILED) continue;
      copies.set(ref.index - payload.start, result);
    }
  };
  for (let next = 0; next < chosen.length; next += SOURCE_READS_AT_ONCE) {
    const group = chosen.slice(next, next + SOURCE_READS_AT_ONCE);
    const sources = await Promise.all(group.map(([shard]) => results.readShard(payload.jobId, shard)));
    group.forEach(([, list], k) => take(sources[k] as ShardResult | null, list));
  }
  return copies;
}
