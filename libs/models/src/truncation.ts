/**
 * Truncation that keeps a model's special tokens, done on ids after
 * tokenization. transformers.js's own `truncation: true` just cuts the id
 * array, dropping the closing [SEP] / </s>; Python's tokenizers truncate the
 * text part and then add the specials, which is what we reproduce here.
 */

/** How many special tokens the tokenizer puts before and after a single sequence. */
export interface SpecialTokenLayout {
  prefix: number;
  suffix: number;
}

/** Encodes one text; `special` toggles add_special_tokens. */
export type EncodeFn = (text: string, special: boolean) => readonly number[];

/**
 * Finds the layout by encoding a probe with and without special tokens and
 * locating the plain ids inside the decorated ones. Encoding '' alone gives
 * the total but not the split, e.g. [CLS][SEP] vs <s></s> are both 2.
 */
export function detectSpecialLayout(encode: EncodeFn): SpecialTokenLayout {
  const total = encode('', true).length;
  for (const probe of ['hello', 'a', 'x y z']) {
    const plain = encode(probe, false);
    const decorated = encode(probe, true);
    if (plain.length === 0 || decorated.length !== plain.length + total) continue;
    for (let start = 0; start + plain.length <= decorated.length; start++) {
      if (plain.every((id, i) => decorated[start + i] === id)) {
        return { prefix: start, suffix: decorated.length - start - plain.length };
      }
    }
  }
  // Tokenizers whose specials depend on content: treat them all as prefix, the safe side for truncation.
  return { prefix: total, suffix: 0 };
}

/**
 * Cuts `ids` (already carrying special tokens) to `maxTokens`, keeping the
 * first `maxTokens - suffix` ids (the prefix specials and the start of the
 * text) and the trailing `suffix` specials. Returns `ids` itself when it fits.
 */
export function truncateIds<T extends ArrayLike<number>>(ids: T, maxTokens: number, layout: SpecialTokenLayout): T | number[] {
  if (ids.length <= maxTokens) return ids;
  if (maxTokens < layout.prefix + layout.suffix) {
    throw new RangeError(`maxTokens ${maxTokens} leaves no room for ${layout.prefix + layout.suffix} special tokens`);
  }
  const head = maxTokens - layout.suffix;
  const out = new Array<number>(maxTokens);
  for (let i = 0; i < head; i++) out[i] = ids[i] as number;
  for (let i = 0; i < layout.suffix; i++) out[head + i] = ids[ids.length - layout.suffix + i] as number;
  return out;
}

/**
 * Where a pair tokenizer puts its special tokens and segment ids: `[pre] a [mid] b [post]`
 * (`[CLS] a [SEP] b [SEP]` for BERT, `<s> a </s></s> b </s>` for RoBERTa), the special ids
 * themselves and the token type of every position (BERT: 0 up to the first [SEP], 1 after).
 */
export interface PairTokenLayout {
  pre: readonly number[];
  mid: readonly number[];
  post: readonly number[];
  preTypes: readonly number[];
  aType: number;
  midTypes: readonly number[];
  bType: number;
  postTypes: readonly number[];
}

/** Encodes a pair with special tokens: ids and token types (all 0 when the tokenizer has none). */
export type EncodePairFn = (text: string, pair: string) => { ids: readonly number[]; types: readonly number[] };

/** Finds the pair layout by encoding a probe pair and locating each text's plain ids inside it. */
export function detectPairLayout(encode: EncodeFn, encodePair: EncodePairFn): PairTokenLayout {
  for (const [first, second] of [
    ['hello', 'world'],
    ['a', 'b'],
  ] as const) {
    const a = encode(first, false);
    const b = encode(second, false);
    const { ids, types } = encodePair(first, second);
    const aStart = indexOfRun(ids, a, 0);
    const bStart = aStart < 0 ? -1 : indexOfRun(ids, b, aStart + a.length);
    if (a.length === 0 || b.length === 0 || bStart < 0) continue;
    const aEnd = aStart + a.length;
    const bEnd = bStart + b.length;
    const uniform = (from: number, to: number) => types.slice(from, to).every((t) => t === types[from]);
    if (!uniform(aStart, aEnd) || !uniform(bStart, bEnd)) continue;
    return {
      pre: ids.slice(0, aStart),
      mid: ids.slice(aEnd, bStart),
      post: ids.slice(bEnd),
      preTypes: types.slice(0, aStart),
      aType: types[aStart] ?? 0,
      midTypes: types.slice(aEnd, bStart),
      bType: types[bStart] ?? 0,
      postTypes: types.slice(bEnd),
    };
  }
  throw new Error('cannot tell where this tokenizer puts its special tokens around a text pair');
}

function indexOfRun(haystack: readonly number[], needle: readonly number[], from: number): number {
  for (let start = from; start + needle.length <= haystack.length; start++) {
    if (needle.every((id, i) => haystack[start + i] === id)) return start;
  }
  return -1;
}

/** Special tokens a pair carries. */
export const pairSpecials = (layout: PairTokenLayout): number => layout.pre.length + layout.mid.length + layout.post.length;

/**
 * How many tokens of each text a pair keeps under the `longest_first` strategy of Hugging Face's
 * (Rust, "fast") tokenizers, which Python's `AutoTokenizer` uses: tokens come off the end of the
 * longer text until the pair fits `maxTokens` with its special tokens; when both are longer than
 * half the room, the shorter text keeps `floor(room / 2)` and the longer `ceil(room / 2)` (on equal
 * lengths the first text keeps the floor). transformers.js cuts the joined ids instead, which drops
 * the second text's closing special token.
 */
export function longestFirstLengths(aLength: number, bLength: number, maxTokens: number, specials: number): [number, number] {
  if (aLength + bLength + specials <= maxTokens) return [aLength, bLength];
  const room = maxTokens - specials;
  if (room < 0) throw new RangeError(`maxTokens ${maxTokens} leaves no room for the ${specials} special tokens of a pair`);
  const swap = aLength > bLength;
  let short = swap ? bLength : aLength;
  let long = swap ? aLength : bLength;
  long = short > room ? short : Math.max(short, room - short);
  if (short + long > room) {
    short = Math.floor(room / 2);
    long = short + (room % 2);
  }
  return swap ? [long, short] : [short, long];
}

/** A pair's ids and token types with its special tokens, each text cut to its kept length. */
export function assemblePair(a: ArrayLike<number>, aKeep: number, b: ArrayLike<number>, bKeep: number, layout: PairTokenLayout): { ids: number[]; types: number[] } {
  const ids: number[] = [...layout.pre];
  const types: number[] = [...layout.preTypes];
  for (let i = 0; i < aKeep; i++) ids.push(a[i] as number);
  for (let i = 0; i < aKeep; i++) types.push(layout.aType);
  ids.push(...layout.mid);
  types.push(...layout.midTypes);
  for (let i = 0; i < bKeep; i++) ids.push(b[i] as number);
  for (let i = 0; i < bKeep; i++) types.push(layout.bType);
  ids.push(...layout.post);
  types.push(...layout.postTypes);
  return { ids, types };
}
