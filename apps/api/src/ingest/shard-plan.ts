import type { ShardInput } from '#shared';

export interface ShardLimits {
  /** SHARD_MAX_TEXTS. */
  maxTexts: number;
  /** SHARD_MAX_BYTES: UTF-8 bytes of text. */
  maxBytes: number;
}

/** One planned shard: where its items are in the input object and where they go in the job. */
export interface PlannedShard {
  shard: number;
  /** Job index of its first item. */
  start: number;
  count: number;
  /** Byte range of the lines holding its items, and items of the first line to skip. */
  range: Pick<ShardInput, 'start' | 'end' | 'skip'>;
  estTokens: number;
}

const COLUMNS = 6;

/**
 * The shards of one upload, six numbers each in one growable Float64Array (48 bytes a shard:
 * under 1 MB for a 10-million-text job), so the API's memory stays flat whatever the corpus.
 */
export class ShardPlan {
  private data = new Float64Array(COLUMNS * 256);
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(start: number, count: number, rangeStart: number, rangeEnd: number, skip: number, estTokens: number): void {
    if ((this.size + 1) * COLUMNS > this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data.set([start, count, rangeStart, rangeEnd, skip, estTokens], this.size * COLUMNS);
    this.size++;
  }

  at(shard: number): PlannedShard {
    if (shard < 0 || shard >= this.size) throw new RangeError(`no shard ${shard} in a plan of ${this.size}`);
    const d = this.data;
    const o = shard * COLUMNS;
    return {
      shard,
      start: d[o] as number,
      count: d[o + 1] as number,
      range: { start: d[o + 2] as number, end: d[o + 3] as number, skip: d[o + 4] as number },
      estTokens: d[o + 5] as number,
    };
  }

  /** The shard holding job item `index` (binary search over the shards' first items). */
  shardOf(index: number): number {
    let low = 0;
    let high = this.size - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if ((this.data[mid * COLUMNS] as number) <= index) low = mid;
      else high = mid - 1;
    }
    if (this.size === 0 || index < 0 || index >= (this.data[low * COLUMNS] as number) + (this.data[low * COLUMNS + 1] as number))
      throw new RangeError(`item ${index} is in no planned shard`);
    return low;
  }

  /** Items per shard, in order (the job manifest). */
  counts(): number[] {
    return Array.from({ length: this.size }, (_, shard) => this.data[shard * COLUMNS + 1] as number);
  }
}

/**
 * Groups items into shards of at most maxTexts texts and maxBytes bytes of text, in input order.
 * A shard closes when the next item would not fit; an item larger than maxBytes on its own still
 * gets a shard to itself (callers bound item size with MAX_LINE_BYTES). Each shard is a byte range
 * of whole lines of the input object; a line that holds several items (a batch request) can be
 * split between two shards, the second skipping the items the first took.
 */
export class ShardPlanner {
  readonly plan = new ShardPlan();
  private items = 0;
  private open = false;
  private start = 0;
  private count = 0;
  private bytes = 0;
  private tokens = 0;
  private rangeStart = 0;
  private rangeEnd = 0;
  private skip = 0;

  constructor(private readonly limits: ShardLimits) {}

  /** Items planned so far. */
  get itemCount(): number {
    return this.items;
  }

  /** Job index of the open shard's first item (the shard the last item went to). */
  get openStart(): number {
    return this.start;
  }

  /** One item: its text's UTF-8 bytes and token estimate, the byte range of its line, and its position within that line. */
  add(textBytes: number, estTokens: number, lineStart: number, lineEnd: number, position: number): void {
    if (this.open && (this.count >= this.limits.maxTexts || this.bytes + textBytes > this.limits.maxBytes)) this.close();
    if (!this.open) {
      this.open = true;
      this.start = this.items;
      this.rangeStart = lineStart;
      this.skip = position;
    }
    this.count++;
    this.bytes += textBytes;
    this.tokens += estTokens;
    this.rangeEnd = lineEnd;
    this.items++;
  }

  /** Closes the last shard; the plan is complete. */
  finish(): ShardPlan {
    if (this.open) this.close();
    return this.plan;
  }

  private close(): void {
    this.plan.push(this.start, this.count, this.rangeStart, this.rangeEnd, this.skip, this.tokens);
    this.open = false;
    this.count = 0;
    this.bytes = 0;
    this.tokens = 0;
  }
}
