import type { InputItem } from './input-item.js';

/** A contiguous slice of a job's inputs, ready to be staged as one BullMQ job. */
export interface ShardDraft {
  index: number;
  /** Position of the first item in the job's input order. */
  start: number;
  items: InputItem[];
  /** Where each item came from (line or input index), for duplicate-id messages. */
  origins: number[];
  /** UTF-8 bytes of text in the shard. */
  bytes: number;
}

export interface ShardLimits {
  maxTexts: number;
  maxBytes: number;
}

/**
 * Groups items into shards of at most maxTexts texts and maxBytes bytes of text. A shard is
 * handed out when the next item would not fit (or at flush), so at most one shard is held at a
 * time. An item larger than maxBytes on its own still gets a shard to itself; callers bound
 * item size (MAX_LINE_BYTES) so that never happens in practice.
 */
export class ShardCutter {
  private current: ShardDraft;
  private nextStart = 0;

  constructor(private readonly limits: ShardLimits) {
    this.current = this.empty(0);
  }

  /** Total items seen so far. */
  get count(): number {
    return this.nextStart;
  }

  /** Shards handed out so far. */
  get shardsCut(): number {
    return this.current.index;
  }

  /** Adds an item; returns the shard it closed, if adding it closed one. */
  push(item: InputItem, origin: number): ShardDraft | null {
    const bytes = Buffer.byteLength(item.text, 'utf8');
    let closed: ShardDraft | null = null;
    const full = this.current.items.length >= this.limits.maxTexts || this.current.bytes + bytes > this.limits.maxBytes;
    if (full && this.current.items.length > 0) {
      closed = this.current;
      this.current = this.empty(closed.index + 1);
    }
    this.current.items.push(item);
    this.current.origins.push(origin);
    this.current.bytes += bytes;
    this.nextStart++;
    return closed;
  }

  /** Hands out the last, partly filled shard (null when it is empty). */
  flush(): ShardDraft | null {
    if (this.current.items.length === 0) return null;
    const closed = this.current;
    this.current = this.empty(closed.index + 1);
    return closed;
  }

  private empty(index: number): ShardDraft {
    return { index, start: this.nextStart, items: [], origins: [], bytes: 0 };
  }
}
