import { DUPLICATE_REF_BYTES, encodeDuplicateRef, type ByteRange, type DuplicateRef, type ObjectStore, type ObjectWriter } from '#shared';

/** References per write: 768 KiB. */
const CHUNK_REFS = 65_536;

/**
 * Streams a job's cross-shard duplicates (`jobs/<jobId>/duplicates.bin`, libs/shared/src/results/duplicate-refs.ts)
 * into the store while the corpus is read, so the API holds one chunk and 8 bytes per shard, however many
 * repeats the job has. The object is only created once a first reference arrives.
 */
export class DuplicateRefsWriter {
  private writer: ObjectWriter | null = null;
  /** Allocated at the first reference: most jobs (and every /v1/embeddings request) have none. */
  private chunk: Buffer | null = null;
  private buffered = 0;
  private flushed = 0;
  /** References before each shard's first item: shard k's are [shardStarts[k], shardStarts[k + 1]). */
  private readonly shardStarts: number[] = [];
  private state: 'open' | 'committed' | 'discarded' = 'open';

  constructor(
    private readonly objects: ObjectStore,
    private readonly key: string,
  ) {}

  /** References so far. */
  get count(): number {
    return this.flushed + this.buffered;
  }

  /** The next shard opens: the references after this call are its own. */
  shardStarted(): void {
    this.shardStarts.push(this.count);
  }

  /** One reference, in item order; await the answer when it is a promise (a chunk being written). */
  add(ref: DuplicateRef): void | Promise<void> {
    if (this.state !== 'open') throw new Error(`DuplicateRefsWriter.add() after ${this.state === 'committed' ? 'finish()' : 'discard()'}`);
    this.chunk ??= Buffer.allocUnsafe(CHUNK_REFS * DUPLICATE_REF_BYTES);
    encodeDuplicateRef(this.chunk, this.buffered * DUPLICATE_REF_BYTES, ref);
    if (++this.buffered === CHUNK_REFS) return this.flush();
  }

  /** Publishes the object; false when there was no reference (no object then). */
  async finish(): Promise<boolean> {
    if (this.count === 0) {
      this.state = 'committed';
      return false;
    }
    await this.flush();
    await (this.writer as ObjectWriter).commit();
    this.state = 'committed';
    return true;
  }

  /** Byte range of shard `shard`'s references in the object, or undefined when it has none. */
  rangeOf(shard: number): ByteRange | undefined {
    const first = this.shardStarts[shard];
    if (first === undefined) throw new RangeError(`no shard ${shard} (${this.shardStarts.length} started)`);
    const end = this.shardStarts[shard + 1] ?? this.count;
    return end > first ? { start: first * DUPLICATE_REF_BYTES, end: end * DUPLICATE_REF_BYTES } : undefined;
  }

  /** Drops what was written, committed or not; safe to call more than once. */
  async discard(): Promise<void> {
    const committed = this.state === 'committed' && this.writer !== null;
    this.state = 'discarded';
    await this.writer?.abort();
    if (committed) await this.objects.delete(this.key);
  }

  private async flush(): Promise<void> {
    if (this.buffered === 0 || this.chunk === null) return;
    const chunk = this.chunk.subarray(0, this.buffered * DUPLICATE_REF_BYTES);
    // The writer may hold the chunk until commit: the next references go to a new buffer.
    this.chunk = null;
    this.flushed += this.buffered;
    this.buffered = 0;
    this.writer ??= await this.objects.createWriter(this.key);
    await this.writer.write(chunk);
  }
}
