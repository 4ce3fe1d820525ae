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
