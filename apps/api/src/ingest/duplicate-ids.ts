import { randomBytes, randomUUID } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The first item, in input order, whose id an earlier item already used. */
export interface DuplicateId {
  id: string;
  /** Origin (line number or input index) of the repeating item. */
  origin: number;
  /** Origin of the first item that used the id. */
  firstOrigin: number;
}

/** One item as the re-read of the stored input yields it. */
export interface ReplayedItem {
  id: string;
  origin: number;
}

/** A 64-bit fingerprint of an id as two 32-bit halves (each taken modulo 2^32). */
export type IdFingerprint = (id: string) => readonly [hi: number, lo: number];

export interface DuplicateIdDetectorOptions {
  /**
   * Directory of the spill file (8 bytes per item once a job passes 65,536 items).
   * @defaultValue `os.tmpdir()`
   */
  tmpDir?: string;
  /**
   * Replaces the fingerprint function; tests inject one to force collisions.
   * @defaultValue murmur3 and FNV-1a over the id's UTF-16 code units, seeded at random per detector
   */
  fingerprint?: IdFingerprint;
}

const FIRST_CHUNK_ITEMS = 1024;
const MAX_CHUNK_ITEMS = 65_536;
/** The Bloom filter doubles before it holds fewer bits than this per item (0.6% false hits at worst). */
const MIN_BITS_PER_ITEM = 12;
const MIN_BLOOM_BLOCKS_LOG2 = 8;
const SEGMENT_BLOCKS_LOG2 = 15;
/** Beyond this many distinct suspects, finish() works in rounds instead of holding more. */
const MAX_SUSPECTS = 1 << 17;
const BLOOM_SALTS = [0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31] as const;
const [S0, S1, S2, S3, S4, S5, S6, S7] = BLOOM_SALTS;

/**
 * Finds the first repeated id of a job in input order, exactly, in 1.5 to 3 bytes of memory per
 * item: a Bloom filter over 64-bit fingerprints flags suspects while items stream in, every
 * fingerprint is spilled to an unlinked temp file, and only when a fingerprint really repeats
 * does finish() ask for the input again to compare the ids themselves.
 *
 * Call add() once per item in input order and await it whenever it returns a promise (once per
 * 65,536 items at most, while a chunk is written); then finish() once; dispose() in a finally.
 */
export class DuplicateIdDetector {
  private readonly customFingerprint: IdFingerprint | undefined;
  private readonly seedA: number;
  private readonly seedB: number;
  private readonly spill: SpillFile;
  /** Fingerprints (hi, lo) of the items not yet spilled. */
  private chunk = new Int32Array(FIRST_CHUNK_ITEMS * 2);
  private chunkItems = FIRST_CHUNK_ITEMS;
  private buffered = 0;
  /** Leading buffered items already through the Bloom filter. */
  private filtered = 0;
  private spilled = 0;
  private bloom = new SplitBlockBloom(MIN_BLOOM_BLOCKS_LOG2);
  private suspects = new FingerprintSet(MAX_SUSPECTS);
  /** Position of the first Bloom hit that found the suspect set full. */
  private overflowAt = Infinity;
  private readBuffer: Int32Array | null = null;
  private state: 'open' | 'stalled' | 'finishing' | 'closed' = 'open';
  private failure: unknown = null;

  constructor(options: DuplicateIdDetectorOptions = {}) {
    this.customFingerprint = options.fingerprint;
    this.spill = new SpillFile(options.tmpDir ?? tmpdir());
    const seeds = randomBytes(8);
    this.seedA = seeds.readInt32LE(0);
    this.seedB = seeds.readInt32LE(4);
  }

  /** Items added so far. */
  get count(): number {
    return this.spilled + this.buffered;
  }

  /**
   * Takes the next item's id. Returns a promise only when a full chunk must be written (or the
   * filter rebuilt) first; the next add() must wait for it.
   */
  add(id: string): void | Promise<void> {
    if (this.state !== 'open') this.refuse('add');
    this.fingerprintInto(id, this.chunk, this.buffered * 2);
    if (++this.buffered === this.chunkItems) return this.chunkFull();
  }

  /**
   * The first item whose id an earlier item used, with that earlier item's origin, or null.
   * `reread` must replay the added items in the same order. It is called only when two items
   * share a 64-bit fingerprint: once, or, where more than 131,072 distinct fingerprints drew
   * Bloom hits before the first duplicate, at most once per 131,072 of them. Removes the spill
   * file whatever the outcome.
   */
  async finish(reread: () => AsyncIterable<ReplayedItem>): Promise<DuplicateId | null> {
    if (this.state !== 'open') this.refuse('finish');
    this.state = 'finishing';
    try {
      await this.filterBuffered();
      while (this.suspects.size > 0) {
        const until = this.overflowAt;
        const repeated = await this.findRepeatedSuspects(until);
        const duplicate = repeated ? await this.confirm(reread, repeated, until) : null;
        if (duplicate || until === Infinity) return duplicate;
        // Suspects overflowed and none before `until` was real: look again from there.
        await this.collectSuspects(until);
      }
      return null;
    } finally {
      await this.dispose();
    }
  }

  /** Closes and removes the spill file; later calls do nothing. */
  async dispose(): Promise<void> {
    this.state = 'closed';
    this.chunk = new Int32Array(0);
    this.readBuffer = null;
    this.bloom = new SplitBlockBloom(MIN_BLOOM_BLOCKS_LOG2);
    this.suspects = new FingerprintSet(MAX_SUSPECTS);
    await this.spill.close();
  }

  private refuse(call: string): never {
    if (this.failure) throw this.failure;
    if (this.state === 'stalled') throw new Error(`DuplicateIdDetector.${call}() called before the promise of the previous add() settled: await it`);
    if (this.state === 'finishing') throw new Error(`DuplicateIdDetector.${call}() called while finish() runs`);
    throw new Error(`DuplicateIdDetector.${call}() called after finish() or dispose()`);
  }

  private fingerprintInto(id: string, out: Int32Array, at: number): void {
    if (this.customFingerprint) {
      const [hi, lo] = this.customFingerprint(id);
      out[at] = hi;
      out[at + 1] = lo;
    } else {
      fingerprintId(id, this.seedA, this.seedB, out, at);
    }
  }

  private chunkFull(): void | Promise<void> {
    if (this.spilled === 0 && this.chunkItems < MAX_CHUNK_ITEMS) {
      // Small jobs never touch the disk: the chunk grows instead (filtering needs no I/O before a spill).
      this.filterBuffered();
      const grown = new Int32Array(this.chunk.length * 2);
      grown.set(this.chunk);
      this.chunk = grown;
      this.chunkItems *= 2;
      return;
    }
    this.state = 'stalled';
    return this.spillChunk().then(
      () => {
        this.state = 'open';
      },
      async (error: unknown) => {
        this.failure = error;
        await this.dispose().catch(() => undefined);
        throw error;
      },
    );
  }

  private async spillChunk(): Promise<void> {
    await this.filterBuffered();
    await this.spill.append(this.chunk, this.buffered);
    this.spilled += this.buffered;
    this.buffered = 0;
    this.filtered = 0;
  }

  /**
   * Runs the buffered items not yet filtered through the Bloom filter, first rebuilding it twice
   * as large if they would crowd it. Synchronous unless that rebuild has to read the spill.
   */
  private filterBuffered(): void | Promise<void> {
    if (this.count > this.bloom.capacity) {
      this.bloom.resize(SplitBlockBloom.blocksLog2For(this.count));
      this.bloom.insertAll(this.chunk, 0, this.filtered);
      if (this.spilled > 0) return this.insertSpilled().then(() => this.filterRest());
    }
    this.filterRest();
  }

  private async insertSpilled(): Promise<void> {
    for await (const [words, items] of this.readSpill()) this.bloom.insertAll(words, 0, items);
  }

  private filterRest(): void {
    this.filter(this.chunk, this.filtered, this.buffered, this.spilled + this.filtered, 0);
    this.filtered = this.buffered;
  }

  /** Filters words[start, end) (positions from `position`), recording hits at or after `recordFrom` as suspects. */
  private filter(words: Int32Array, start: number, end: number, position: number, recordFrom: number): void {
    const bloom = this.bloom;
    for (let i = start; i < end; i++) {
      const hi = words[2 * i];
      const lo = words[2 * i + 1];
      if (!bloom.testAndSet(hi, lo)) continue;
      const at = position + i - start;
      if (at < recordFrom || this.overflowAt !== Infinity) continue;
      if (!this.suspects.add(hi, lo)) this.overflowAt = at;
    }
  }

  /** Every fingerprint in input order, spilled first, as (words, items, position of the first). */
  private async *allFingerprints(): AsyncGenerator<[Int32Array, number, number]> {
    let position = 0;
    for await (const [words, items] of this.readSpill()) {
      yield [words, items, position];
      position += items;
    }
    yield [this.chunk, this.buffered, position];
  }

  private async *readSpill(): AsyncGenerator<[Int32Array, number]> {
    this.readBuffer ??= new Int32Array(MAX_CHUNK_ITEMS * 2);
    for (let item = 0; item < this.spilled; item += MAX_CHUNK_ITEMS) {
      const items = Math.min(MAX_CHUNK_ITEMS, this.spilled - item);
      await this.spill.read(this.readBuffer, item, items);
      yield [this.readBuffer, items];
    }
  }

  /** Phase one: which suspects occur twice before `until`; none means every Bloom hit was false. */
  private async findRepeatedSuspects(until: number): Promise<Uint8Array | null> {
    const seen = new Uint8Array(this.suspects.slots); // 0 never, 1 once, 2 repeated
    let repeats = 0;
    for await (const [words, items, position] of this.allFingerprints()) {
      const end = Math.min(items, until - position);
      for (let i = 0; i < end; i++) {
        const slot = this.suspects.find(words[2 * i], words[2 * i + 1]);
        if (slot < 0 || seen[slot] === 2) continue;
        if (seen[slot] === 1) repeats++;
        seen[slot]++;
      }
      if (end < items) break;
    }
    return repeats > 0 ? seen : null;
  }

  /** Phase two: compares the actual ids of items whose fingerprint repeats, in input order. */
  private async confirm(reread: () => AsyncIterable<ReplayedItem>, seen: Uint8Array, until: number): Promise<DuplicateId | null> {
    const firstOrigins = new Map<string, number>();
    const fingerprint = new Int32Array(2);
    let position = 0;
    for await (const item of reread()) {
      if (position === until) break;
      if (position === this.count) throw new Error(`reread replayed more than the ${this.count} items that were added`);
      this.fingerprintInto(item.id, fingerprint, 0);
      const slot = this.suspects.find(fingerprint[0], fingerprint[1]);
      if (slot >= 0 && seen[slot] === 2) {
        const firstOrigin = firstOrigins.get(item.id);
        if (firstOrigin !== undefined) return { id: item.id, origin: item.origin, firstOrigin };
        firstOrigins.set(item.id, item.origin);
      }
      position++;
    }
    if (position < Math.min(until, this.count)) throw new Error(`reread replayed ${position} items, but ${this.count} were added`);
    return null;
  }

  /** Rebuilds the filter over every item, recording as suspects the hits at or after `from`. */
  private async collectSuspects(from: number): Promise<void> {
    this.bloom.resize(SplitBlockBloom.blocksLog2For(this.count));
    this.suspects = new FingerprintSet(MAX_SUSPECTS);
    this.overflowAt = Infinity;
    for await (const [words, items, position] of this.allFingerprints()) this.filter(words, 0, items, position, from);
  }
}

/**
 * Fills out[at] and out[at + 1] with two independently seeded 32-bit hashes of the id's UTF-16
 * code units: murmur3 over code-unit pairs and FNV-1a per code unit, each with murmur3's
 * finalizer. Different constructions, so a collision crafted against one is no help against the other.
 */
function fingerprintId(id: string, seedA: number, seedB: number, out: Int32Array, at: number): void {
  let a = seedA;
  let b = seedB;
  const length = id.length;
  let i = 0;
  for (; i + 1 < length; i += 2) {
    let k = id.charCodeAt(i) | (id.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    a ^= k;
    a = (a << 13) | (a >>> 19);
    a = (Math.imul(a, 5) + 0xe6546b64) | 0;
  }
  if (i < length) {
    let k = Math.imul(id.charCodeAt(i), 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    a ^= k;
  }
  for (i = 0; i < length; i++) b = Math.imul(b ^ id.charCodeAt(i), 0x01000193);
  out[at] = fmix32(a ^ length);
  out[at + 1] = fmix32(b ^ length);
}

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Split-block Bloom filter (as in Parquet): 256-bit blocks of eight words, one bit set per word,
 * so an insert touches one cache line. Hand-written rather than an npm package for per-item speed.
 * Held in 1 MiB segments so that growing reuses the old memory instead of leaving it to the GC.
 */
class SplitBlockBloom {
  private segments: Int32Array[] = [];
  private blockShift = 32;
  private segmentBits = 0;
  private segmentMask = 0;
  capacity = 0;

  constructor(blocksLog2: number) {
    this.resize(blocksLog2);
  }

  /** Smallest size (log2 of the block count) that holds `items` at MIN_BITS_PER_ITEM. */
  static blocksLog2For(items: number): number {
    let log2 = MIN_BLOOM_BLOCKS_LOG2;
    while ((256 * 2 ** log2) / MIN_BITS_PER_ITEM < items) log2++;
    return log2;
  }

  /** Empties the filter and gives it 2^blocksLog2 blocks. */
  resize(blocksLog2: number): void {
    const segmentBlocksLog2 = Math.min(blocksLog2, SEGMENT_BLOCKS_LOG2);
    const segmentWords = 8 << segmentBlocksLog2;
    const segments = this.segments.filter((segment) => segment.length === segmentWords).slice(0, 1 << (blocksLog2 - segmentBlocksLog2));
    for (const segment of segments) segment.fill(0);
    while (segments.length < 1 << (blocksLog2 - segmentBlocksLog2)) segments.push(new Int32Array(segmentWords));
    this.segments = segments;
    this.blockShift = 32 - blocksLog2;
    this.segmentBits = segmentBlocksLog2;
    this.segmentMask = (1 << segmentBlocksLog2) - 1;
    this.capacity = Math.floor((256 * 2 ** blocksLog2) / MIN_BITS_PER_ITEM);
  }

  /** Adds the fingerprint; true when all its bits were already set (it may have been added before). */
  testAndSet(hi: number, lo: number): boolean {
    const block = hi >>> this.blockShift;
    const words = this.segments[block >>> this.segmentBits];
    const base = (block & this.segmentMask) << 3;
    const m0 = 1 << (Math.imul(lo, S0) >>> 27);
    const m1 = 1 << (Math.imul(lo, S1) >>> 27);
    const m2 = 1 << (Math.imul(lo, S2) >>> 27);
    const m3 = 1 << (Math.imul(lo, S3) >>> 27);
    const m4 = 1 << (Math.imul(lo, S4) >>> 27);
    const m5 = 1 << (Math.imul(lo, S5) >>> 27);
    const m6 = 1 << (Math.imul(lo, S6) >>> 27);
    const m7 = 1 << (Math.imul(lo, S7) >>> 27);
    const w0 = words[base];
    const w1 = words[base + 1];
    const w2 = words[base + 2];
    const w3 = words[base + 3];
    const w4 = words[base + 4];
    const w5 = words[base + 5];
    const w6 = words[base + 6];
    const w7 = words[base + 7];
    // Branch-free: a new fingerprint's bits are unpredictable, and rewriting set bits is harmless.
    words[base] = w0 | m0;
    words[base + 1] = w1 | m1;
    words[base + 2] = w2 | m2;
    words[base + 3] = w3 | m3;
    words[base + 4] = w4 | m4;
    words[base + 5] = w5 | m5;
    words[base + 6] = w6 | m6;
    words[base + 7] = w7 | m7;
    return ((m0 & ~w0) | (m1 & ~w1) | (m2 & ~w2) | (m3 & ~w3) | (m4 & ~w4) | (m5 & ~w5) | (m6 & ~w6) | (m7 & ~w7)) === 0;
  }

  insertAll(words: Int32Array, start: number, end: number): void {
    for (let i = start; i < end; i++) this.testAndSet(words[2 * i], words[2 * i + 1]);
  }
}

/** Open-addressing set of 64-bit fingerprints, up to a fixed number of entries. */
class FingerprintSet {
  private hi = new Int32Array(1024);
  private lo = new Int32Array(1024);
  private used = new Uint8Array(1024);
  private shift = 32 - 10;
  size = 0;

  constructor(private readonly maxSize: number) {}

  get slots(): number {
    return this.used.length;
  }

  /** The fingerprint's slot, or -1. */
  find(hi: number, lo: number): number {
    const mask = this.used.length - 1;
    for (let slot = this.home(hi, lo); ; slot = (slot + 1) & mask) {
      if (this.used[slot] === 0) return -1;
      if (this.hi[slot] === hi && this.lo[slot] === lo) return slot;
    }
  }

  /** Adds the fingerprint; false when it is new and the set is full. */
  add(hi: number, lo: number): boolean {
    if (this.find(hi, lo) >= 0) return true;
    if (this.size === this.maxSize) return false;
    if (2 * (this.size + 1) > this.used.length) this.grow();
    this.place(hi, lo);
    this.size++;
    return true;
  }

  private home(hi: number, lo: number): number {
    return Math.imul(hi ^ Math.imul(lo, 0x9e3779b1), 0x85ebca77) >>> this.shift;
  }

  private place(hi: number, lo: number): void {
    const mask = this.used.length - 1;
    let slot = this.home(hi, lo);
    while (this.used[slot] !== 0) slot = (slot + 1) & mask;
    this.hi[slot] = hi;
    this.lo[slot] = lo;
    this.used[slot] = 1;
  }

  private grow(): void {
    const { hi, lo, used } = this;
    this.hi = new Int32Array(used.length * 2);
    this.lo = new Int32Array(used.length * 2);
    this.used = new Uint8Array(used.length * 2);
    this.shift--;
    for (let slot = 0; slot < used.length; slot++) if (used[slot] === 1) this.place(hi[slot], lo[slot]);
  }
}

/** Append-only file of fingerprints, unlinked as soon as it is open so that even a crash leaves nothing behind. */
class SpillFile {
  private handle: FileHandle | null = null;
  /** Set while the file still has a name (where an open file cannot be unlinked, as on Windows). */
  private path: string | null = null;
  private bytes = 0;
  private closed = false;

  constructor(private readonly dir: string) {}

  async append(words: Int32Array, items: number): Promise<void> {
    const handle = this.handle ?? (await this.create());
    const data = Buffer.from(words.buffer, words.byteOffset, items * 8);
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await handle.write(data, done, data.length - done, this.bytes + done);
      done += bytesWritten;
    }
    this.bytes += data.length;
  }

  /** Reads items [first, first + items) into the start of `words`. */
  async read(words: Int32Array, first: number, items: number): Promise<void> {
    const handle = this.open();
    const data = Buffer.from(words.buffer, words.byteOffset, items * 8);
    for (let done = 0; done < data.length; ) {
      const { bytesRead } = await handle.read(data, done, data.length - done, first * 8 + done);
      if (bytesRead === 0) throw new Error(`spill file ended at byte ${first * 8 + done} of ${this.bytes}`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    const { handle, path } = this;
    this.closed = true;
    this.handle = null;
    this.path = null;
    // FileHandle.close() waits for a write or read still in flight.
    await handle?.close();
    if (path) await unlink(path).catch(() => undefined);
  }

  private open(): FileHandle {
    if (this.closed || !this.handle) throw new Error('spill file is closed');
    return this.handle;
  }

  private async create(): Promise<FileHandle> {
    if (this.closed) throw new Error('spill file is closed');
    const path = join(this.dir, `shardwise-ids-${randomUUID()}.bin`);
    const handle = await open(path, 'wx+', 0o600);
    this.handle = handle;
    this.path = path;
    if (this.closed) {
      // dispose() ran while the file was being created.
      await this.close();
      throw new Error('spill file is closed');
    }
    try {
      await unlink(path);
      this.path = null;
    } catch {
      // Removed by close() instead.
    }
    return handle;
  }
}
