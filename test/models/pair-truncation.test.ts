/**
 * Text pairs: Python's `longest_first` truncation (Hugging Face's Rust tokenizers, which
 * AutoTokenizer uses) against hand-computed lengths and an independent token-by-token version, and
 * our pair assembly against transformers.js's own pair encoding where nothing is cut.
 */
import { AutoTokenizer, env, type PreTrainedTokenizer } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { assemblePair, detectPairLayout, longestFirstLengths, pairSpecials } from '../../libs/models/src/truncation.js';
import { ensureTinyModels, FAMILIES, mixedPairs, modelId } from './fixtures.js';

/** Python's rule one token at a time: the longer text loses its last token; on a tie, the text that was shorter to begin with (the first when they were equal). */
function removeOneByOne(aLength: number, bLength: number, maxTokens: number, specials: number): [number, number] {
  let a = aLength;
  let b = bLength;
  const tieFromFirst = aLength <= bLength;
  while (a + b + specials > maxTokens) {
    if (a > b || (a === b && tieFromFirst)) a--;
    else b--;
  }
  return [a, b];
}

describe('longestFirstLengths', () => {
  it('keeps pairs that fit as they are', () => {
    expect(longestFirstLengths(10, 20, 33, 3)).toEqual([10, 20]);
    expect(longestFirstLengths(0, 0, 3, 3)).toEqual([0, 0]);
  });

  it('cuts only the longer text while the shorter fits in the rest (hand-computed)', () => {
    // 128 - 3 specials = 125 for the texts: the 3-token question stays whole, the document gets 122.
    expect(longestFirstLengths(3, 200, 128, 3)).toEqual([3, 122]);
    expect(longestFirstLengths(200, 3, 128, 3)).toEqual([122, 3]);
    // RoBERTa has 4 specials (<s> a </s></s> b </s>): 124 for the texts.
    expect(longestFirstLengths(60, 70, 128, 4)).toEqual([60, 64]);
  });

  it('halves the room when both texts are longer than half of it: the longer text gets the odd token', () => {
    expect(longestFirstLengths(100, 90, 128, 3)).toEqual([63, 62]);
    expect(longestFirstLengths(90, 100, 128, 3)).toEqual([62, 63]);
    // Equal lengths: the first text keeps floor(125 / 2), as the Rust tokenizers do.
    expect(longestFirstLengths(100, 100, 128, 3)).toEqual([62, 63]);
    expect(longestFirstLengths(100, 100, 127, 3)).toEqual([62, 62]);
    // A text longer than the whole room.
    expect(longestFirstLengths(500, 400, 10, 4)).toEqual([3, 3]);
  });

  it('agrees with removing one token at a time from the longer text', () => {
    for (let a = 0; a <= 40; a++) {
      for (let b = 0; b <= 40; b++) {
        for (const [max, specials] of [
          [16, 3],
          [17, 4],
          [33, 3],
        ] as const) {
          expect(longestFirstLengths(a, b, max, specials), `a=${a} b=${b} max=${max}`).toEqual(removeOneByOne(a, b, max, specials));
        }
      }
    }
  });

  it('refuses a limit smaller than the special tokens', () => {
    expect(() => longestFirstLengths(5, 5, 2, 3)).toThrow(/no room for the 3 special tokens/);
  });
});

describe.each(FAMILIES)('%s pair encoding', (family) => {
  let tokenizer: PreTrainedTokenizer;

  beforeAll(async () => {
    env.localModelPath = await ensureTinyModels();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    tokenizer = await AutoTokenizer.from_pretrained(modelId(family, 'sentiment'));
  }, 120_000);

  const layoutOf = () =>
    detectPairLayout(
      (text, special) => tokenizer.encode(text, { add_special_tokens: special }),
      (text, pair) => {
        const ids = tokenizer.encode(text, { text_pair: pair });
        const encoded = tokenizer(text, { text_pair: pair, return_token_type_ids: true }) as { token_type_ids?: { data: ArrayLike<bigint> } };
        return { ids, types: encoded.token_type_ids ? Array.from(encoded.token_type_ids.data, Number) : ids.map(() => 0) };
      },
    );

  it('finds the special tokens and segment ids around a pair', () => {
    const layout = layoutOf();
    const [cls, sep] = tokenizer.encode(''); // [CLS] [SEP] or <s> </s>
    if (family === 'roberta') {
      expect(layout).toMatchObject({ pre: [cls], mid: [sep, sep], post: [sep] });
      expect(pairSpecials(layout)).toBe(4);
    } else {
      expect(layout).toMatchObject({ pre: [cls], mid: [sep], post: [sep] });
      expect(pairSpecials(layout)).toBe(3);
    }
    // Segment 0 through the first separator, 1 after (only BERT graphs take token_type_ids).
    if (family !== 'roberta') {
      expect([layout.aType, layout.bType]).toEqual([0, 1]);
      expect(layout.postTypes).toEqual([1]);
    }
  });

  it('builds the same ids and token types as transformers.js for pairs that fit', () => {
    const layout = layoutOf();
    let compared = 0;
    for (const [text, pair] of mixedPairs(500)) {
      // transformers.js encodes an empty text_pair as no pair at all; Python's tokenizers (and we) keep the pair.
      if (pair === '') continue;
      const a = tokenizer.encode(text, { add_special_tokens: false });
      const b = tokenizer.encode(pair, { add_special_tokens: false });
      if (a.length + b.length + pairSpecials(layout) > 128) continue;
      const mine = assemblePair(a, a.length, b, b.length, layout);
      const theirs = tokenizer(text, { text_pair: pair, return_token_type_ids: true }) as { input_ids: { data: BigInt64Array }; token_type_ids?: { data: BigInt64Array } };
      expect(mine.ids).toEqual(Array.from(theirs.input_ids.data, Number));
      if (theirs.token_type_ids) expect(mine.types).toEqual(Array.from(theirs.token_type_ids.data, Number));
      compared++;
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('keeps an empty second text as a pair, as Python does', () => {
    const layout = layoutOf();
    const a = tokenizer.encode('question', { add_special_tokens: false });
    const { ids } = assemblePair(a, a.length, [], 0, layout);
    expect(ids).toEqual([...layout.pre, ...a, ...layout.mid, ...layout.post]);
  });

  it('keeps every special token when it cuts a pair, unlike transformers.js', () => {
    const layout = layoutOf();
    const long = Array.from({ length: 200 }, (_, i) => `word${i % 7}`).join(' ');
    const a = tokenizer.encode('a short question?', { add_special_tokens: false });
    const b = tokenizer.encode(long, { add_special_tokens: false });
    const [aKeep, bKeep] = longestFirstLengths(a.length, b.length, 128, pairSpecials(layout));
    const { ids } = assemblePair(a, aKeep, b, bKeep, layout);
    expect(ids.length).toBe(128);
    expect(aKeep).toBe(a.length);
    expect(ids.at(-1)).toBe(layout.post.at(-1));
    const theirs = tokenizer.encode('a short question?', { text_pair: long });
    expect(theirs.length).toBeGreaterThan(128);
  });
});
