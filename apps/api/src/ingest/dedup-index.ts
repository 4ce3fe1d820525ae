import { randomBytes } from 'node:crypto';

/** Slots stay at most three quarters full (linear probing slows down past that). */
const MAX_LOAD = 0.75;
const FIRST_SLOTS_LOG2 = 10;
/** Per slot: the text's 96-bit digest as three 32-bit words, then the first item's index + 1 (0 = empty). */
const SLOT_WORDS = 4;

/**
 * The first item of a job that had each text, for dedup while the corpus streams in: a 96-bit digest of
 * every text (seeded hashes over its UTF-16 code units, one pass) in an open-addressing table of typed
 * arrays. 16 bytes a slot, at most `maxTexts / 0.75` slots rounded up to a power of two: 32 MiB for
 * the default 1,000,000 distinct texts, whatever the job's size. Once `maxTexts` distinct texts are held, new
 * ones are not remembered (their repeats are not found here) while repeats of those held still are.
 *
 * A false match needs two distinct texts with the same 96-bit digest: for a million distinct texts the odds
 * are about 6e-18 (n^2 / 2^97), and the seeds are random per job, so results are never taken from another
 * text in practice.
 */
export class DedupIndex {
  private slots: Int32Array;
  private mask: number;
  private size = 0;
  private readonly seeds: Int32Array;
  private readonly digest = new Int32Array(4);
  /** Texts that were new when the table was full: not remembered. */
  overflowed = 0;

  /** @param maxTexts distinct texts remembered at most (DEDUP_MAX_TEXTS), at least 1. */
  constructor(private readonly maxTexts: number) {
    if (!Number.isSafeInteger(maxTexts) || maxTexts < 1) throw new RangeError(`maxTexts must be an integer >= 1, got ${maxTexts}`);
    // Small bounds never need the first size: the table stops at the one that holds maxTexts.
    const log2 = Math.min(FIRST_SLOTS_LOG2, Math.ceil(Math.log2(maxTexts / MAX_LOAD)));
    this.slots = new Int32Array(SLOT_WORDS << log2);
    this.mask = (1 << log2) - 1;
    this.seeds = new Int32Array(randomBytes(16).buffer);
  }

  /** Distinct texts held. */
  get distinct(): number {
    return this.size;
  }

  /** Bytes of the table now. */
  get bytes(): number {
    return this.slots.byteLength;
  }

  /**
   * The index of the first item whose text is `text`, or -1 when none was seen (or remembered): then `index`
   * becomes that first item, if there is room. Indexes must be below 2^31 - 1.
   */
  firstOf(text: string, index: number): number {
    const d = this.digest;
    digestText(text, this.seeds, d);
    const d0 = d[0] as number;
    const d1 = d[1] as number;
    const d2 = d[2] as number;
    const d3 = d[3] as number;
    const slots = this.slots;
    let slot = d3 & this.mask;
    for (;;) {
      const at = slot * SLOT_WORDS;
      const stored = slots[at + 3] as number;
      if (stored === 0) break;
      if (slots[at] === d0 && slots[at + 1] === d1 && slots[at + 2] === d2) return stored - 1;
      slot = (slot + 1) & this.mask;
    }
    if (this.size >= this.maxTexts) {
      this.overflowed++;
      return -1;
    }
    if (this.size + 1 > (this.mask + 1) * MAX_LOAD) this.grow();
    return this.insert(d0, d1, d2, d3, index);
  }

  private insert(d0: number, d1: number, d2: number, d3: number, index: number): -1 {
    let slot = d3 & this.mask;
    while (this.slots[slot * SLOT_WORDS + 3] !== 0) slot = (slot + 1) & this.mask;
    const at = slot * SLOT_WORDS;
    this.slots[at] = d0;
    this.slots[at + 1] = d1;
    this.slots[at + 2] = d2;
    this.slots[at + 3] = index + 1;
    this.size++;
    return -1;
  }

  /** Doubles the table; home slots are recomputed from the stored digests. */
  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    this.mask = this.mask * 2 + 1;
    this.size = 0;
    for (let at = 0; at < old.length; at += SLOT_WORDS) {
      const stored = old[at + 3] as number;
      if (stored !== 0) this.insert(old[at] as number, old[at + 1] as number, old[at + 2] as number, homeOf(old, at), stored - 1);
    }
  }
}

/** The probe start of a stored slot after a resize, from its stored lanes (consistent with lookups: see digestText). */
function homeOf(slots: Int32Array, at: number): number {
  return mixHome(slots[at] as number, slots[at + 1] as number, slots[at + 2] as number);
}

function mixHome(d0: number, d1: number, d2: number): number {
  return fmix32(d0 ^ Math.imul(d1, 0x9e3779b1) ^ Math.imul(d2, 0x85ebca77));
}

/**
 * The 96-bit digest of the text's UTF-16 code units in one pass, out[0..2]: murmur3, FNV-1a, and a third lane
 * of two more mixes (different constructions, so a pair colliding in one is no help against the others), each
 * under its own seed and finished with murmur3's mixer. out[3] is the home slot, derived from out[0..2] so
 * that a resized table can recompute it.
 */
function digestText(text: string, seeds: Int32Array, out: Int32Array): void {
  let a = seeds[0] as number;
  let b = seeds[1] as number;
  let c = seeds[2] as number;
  let d = seeds[3] as number;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const unit = text.charCodeAt(i);
    let k = Math.imul(unit, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    a ^= k;
    a = (a << 13) | (a >>> 19);
    a = (Math.imul(a, 5) + 0xe6546b64) | 0;
    b = Math.imul(b ^ unit, 0x01000193);
    c ^= Math.imul(unit ^ 0x5bd1e995, 0x2c1b3c6d);
    c = (Math.imul((c << 17) | (c >>> 15), 5) + 0x561ccd1b) | 0;
    d = Math.imul(d ^ unit, 0x01000193) ^ (d >>> 7);
  }
  const d0 = fmix32(a ^ length);
  const d1 = fmix32(b ^ length);
  const d2 = fmix32((c ^ length) + Math.imul(d, 0x27d4eb2f));
  out[0] = d0;
  out[1] = d1;
  out[2] = d2;
  out[3] = mixHome(d0, d1, d2);
}

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
